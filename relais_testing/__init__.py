"""Builders and server helpers shared by `tests/` and `benchmarks/` (fictional data only)."""
