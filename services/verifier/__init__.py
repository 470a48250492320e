"""The verifier: checks on the sites themselves that reports are published where declared."""
