"""Widgets: one per module; each renders what it is handed."""
