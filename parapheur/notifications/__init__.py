"""Notifications: mail templates, each user's preferences, quiet hours, digests."""
