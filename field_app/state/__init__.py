"""Per-session state of the field app: the signed-in session, device settings and read models.

Nothing here is global: each Flet session (browser tab, window, phone) builds its own.
"""
