"""The painting session, without Qt: the state the window's parts share and the rules around it.

``canvas_session`` holds the state (document, tool and brush, outpaint frame, overlay, pending
results, busy and generating flags, what Generate would do) as evented properties
(``properties``), and the notices its parts post (``notices``: severity, message, details,
source; errors become notices there); ``enablement`` says which actions apply to it; ``autosave`` keeps its
document's autosave current. The rest are the Qt-free rules the widgets use: which task the
canvas asks for and what it captures (``generation_source``), requests and results
(``jobs``), tools (``tools``), zoom and pan (``viewport``), pictures arriving
(``image_import``), and what the model picker and the model windows show (``model_choices``,
``model_state``). ``sfumato.ui`` binds widgets to it; nothing here imports Qt.
"""
