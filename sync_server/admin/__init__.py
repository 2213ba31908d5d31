"""Administration from the app: accounts, devices, the roster, for an organisation's admins."""
