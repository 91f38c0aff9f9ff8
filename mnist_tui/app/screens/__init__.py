"""Screens: one per module; each owns its handlers."""
