"""Sfumato: a layered painting canvas with Stable Diffusion in the same process."""

__version__ = "0.1.0"
