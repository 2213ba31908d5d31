"""Deliveries, deadlines, escalation and alert grouping."""
