"""The `nianbao` command and its helpers.

Client, launcher, local nats-server, dead letters, subscribe, rebuild, deploy configuration.
"""
