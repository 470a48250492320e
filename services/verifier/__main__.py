"""Runs the verifier: `python -m services.verifier`."""

from services.verifier.main import main

main()
