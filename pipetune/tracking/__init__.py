"""Tracking: what is recorded about trials and how it is exported."""
