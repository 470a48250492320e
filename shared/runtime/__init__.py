"""What every service needs to run.

JetStream plumbing, database, settings, health and metrics, registry files, the AsyncAPI document.
"""
