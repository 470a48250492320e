"""Runs the validator: `python -m services.validator`."""

from services.validator.main import main

main()
