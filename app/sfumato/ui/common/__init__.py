"""Shared helpers of every ui subsystem: resources (icons, stylesheet), the notice presenters
(notices) and the questions that need a decision (questions),
background tasks for file work, and the model-window styles and views."""
