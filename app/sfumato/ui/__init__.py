"""The window: widgets grouped by subsystem, bound to the Qt-free session (see docs/ARCHITECTURE.md).

``app`` starts the application, ``main_window`` is the composition root that builds the parts
and wires them together, ``actions`` is the table of menu actions and when each applies. The
subsystems (``canvas``, ``layers``, ``generate``, ``models``, ``backend``, ``files``) do not
import each other: they share ``sfumato.session`` and the helpers in ``common``.
"""
