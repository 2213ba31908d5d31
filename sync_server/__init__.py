"""Relais sync server: API, access policy, sync, routing and escalation, admin CLI."""

__version__ = "0.1.0"
