"""One evented value: the single mechanism the session uses to tell views what changed.

A :class:`Property` holds a value and an :class:`~sfumato.document.events.Event` (the document's
callback list, so the session and the document speak the same way). Setting a different value
emits ``changed(new_value)``; setting the same one emits nothing. Values are compared with
``==`` after an identity check, so a value type whose equality is expensive (an image) should
compare by identity (``@dataclass(eq=False)``).

Widgets *bind* to a property: they connect to ``changed`` and read ``value``, and they set it
through :meth:`Property.set`; nobody reads another widget's fields. Properties are set and read
on the GUI thread only (as the document is): a worker hands its result to the GUI thread first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sfumato.document.events import Event

T = TypeVar("T")


class Property(Generic[T]):
    """A value that says when it changes.

    ``changed`` is emitted with the new value after it is stored, so a callback may read any
    other property of the session and see the state as it is now.
    """

    def __init__(self, value: T) -> None:
        self._value = value
        self.changed = Event()

    @property
    def value(self) -> T:
        """The current value."""
        return self._value

    def set(self, value: T) -> bool:
        """Store ``value``; emit ``changed`` and return ``True`` if it differs from the old one."""
        old = self._value
        if value is old or value == old:
            return False
        self._value = value
        self.changed.emit(value)
        return True

    def bind(self, callback: Callable[[T], Any]) -> None:
        """Call ``callback(value)`` now and on every change (how a view shows a property)."""
        self.changed.connect(callback)
        callback(self._value)

    def __repr__(self) -> str:
        return f"Property({self._value!r})"
