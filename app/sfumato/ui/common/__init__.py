"""Shared helpers of every ui subsystem: resources (icons, stylesheet), the notice presenters
(notices) and the questions that need a decision (questions),
and the model-window styles and views."""
