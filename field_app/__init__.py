"""Relais field app: the phone side, with its local store (`store`) and sync client (`sync`).

Imports only the stdlib, httpx, pydantic and shared_models, so that it runs on a phone.
"""
