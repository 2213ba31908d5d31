"""Reusable widgets: layout frame, badges, avatar, sync badge, choice chips, note cards.

They take words already translated; none reads the store or the network.
"""
