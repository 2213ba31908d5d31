"""Notes, follow-ups and heads-ups."""
