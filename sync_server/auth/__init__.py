"""Logins, device tokens and throttling."""
