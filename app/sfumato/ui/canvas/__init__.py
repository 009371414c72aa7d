"""The canvas: the view that shows the document and turns input into edits, its gestures, the
display cache, the selection outline, the outpaint frame, the toolbox and the brush options."""
