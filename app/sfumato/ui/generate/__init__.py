"""Generate: the prompt panel, the controller from the panel and the canvas to a job and back,
the progress and job list, and the results strip."""
