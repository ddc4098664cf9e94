"""The asyncio shell around the engine: inbox, HTTP API, MQTT, SMTP, signals.

`core.RouterCore` is the single writer every edge submits events to;
`daemon.run` starts everything in one task group.
"""
