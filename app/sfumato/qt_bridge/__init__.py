"""qt_bridge package."""
