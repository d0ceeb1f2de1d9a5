"""Notifications of opened alerts (e-mail)."""
