"""The layers panel: the stack with thumbnails, layer properties, stack buttons and mask tools."""
