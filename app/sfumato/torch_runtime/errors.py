"""Typed errors of the torch runtime installer; each message says what to do next."""

from __future__ import annotations

from sfumato.errors import UserFacingError


class TorchRuntimeError(UserFacingError):
    """Base class of every runtime failure a user can act on."""


class UnknownVariantError(TorchRuntimeError):
    """A variant key that is not in the table of :mod:`sfumato.torch_runtime.variants`."""


class WheelError(TorchRuntimeError):
    """A wheel file cannot be used here: not a wheel, built for another platform, or damaged."""


class DependencyError(TorchRuntimeError):
    """A requirement of the wheels is neither among them nor part of the app."""


class RuntimeCheckError(TorchRuntimeError):
    """The child process that imports torch crashed, timed out or printed no result."""


class PackageIndexError(TorchRuntimeError):
    """A package index could not be read, or has no usable wheel."""


class NotEnoughSpaceError(TorchRuntimeError):
    """The disk holding the downloads or the runtime has too little free space."""
