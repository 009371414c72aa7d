"""Models: the model manager dialog, the first-run wizard, and the services they share."""
