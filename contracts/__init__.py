"""Public message contracts: envelope, topics, commands, events and results.

Upstream teams import this package (or read the generated JSON Schema and
AsyncAPI files beside it) to talk to the platform.
"""
