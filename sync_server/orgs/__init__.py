"""Organisations, staff users, teams and workers; provisioning and roster import."""
