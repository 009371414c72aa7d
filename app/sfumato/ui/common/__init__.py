"""Shared helpers of every ui subsystem: resources (icons, stylesheet), the error dialog,
background tasks for file work, and the model-window styles and views."""
