"""Headless sub-commands of ``sfumato``."""
