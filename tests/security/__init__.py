"""Attacks on the real server (issue 8's "keep it fixed"): cross-team, cross-organisation,
admin reads, side channels, note text in logs and e-mails, inputs that must not give a 500.

One `relais serve` process for the whole package (tests/security/conftest.py), on two
seeded fictional organisations; docs/security.md lists what each module covers.
"""
