"""E-mail notifications and daily digests (never with note text)."""
