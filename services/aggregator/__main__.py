"""Runs the aggregator: `python -m services.aggregator`."""

from services.aggregator.main import main

main()
