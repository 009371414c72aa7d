"""Typed errors of the model store; each one's message says what to do next."""

from __future__ import annotations

from sfumato.errors import UserFacingError


class ModelStoreError(UserFacingError):
    """Base class of every model-store failure a user can act on."""


class CatalogError(ModelStoreError):
    """The catalog in ``models/`` is malformed; the message names the bad entry and field."""


class UnknownModelError(ModelStoreError):
    """A reference is neither a catalog id, a hub repo id, nor an existing path."""


class NotInstalledError(ModelStoreError):
    """The model is known but not (completely) in the cache."""


class HubAccessError(ModelStoreError):
    """The hub refused or failed a request (missing repo, revision or file, server error)."""


class GatedModelError(HubAccessError):
    """The repo is gated: the user must accept its licence and provide a token."""


class DownloadError(ModelStoreError):
    """A transfer failed (connection dropped, timed out, truncated); staged bytes are kept."""


class DownloadCancelled(DownloadError):
    """The user cancelled; staged bytes are kept so the next attempt resumes."""


class ChecksumMismatchError(DownloadError):
    """The bytes received do not match the expected hash; they were discarded."""


class PickleCheckpointError(ModelStoreError):
    """A pickle-based checkpoint was refused (it could run code when loaded)."""


class UnknownFamilyError(ModelStoreError):
    """A local checkpoint's tensors match none of the known model families."""


class UnsupportedModelError(UnknownFamilyError):
    """A recognised model that Sfumato does not run (the SDXL refiner, FLUX.1 Kontext …); the
    message names it and what to use instead."""


class FamilyMismatchError(ModelStoreError):
    """A LoRA or an embedding made for another model family than the one it would apply to; the
    message names both."""


class InvalidCheckpointError(ModelStoreError):
    """A local file or folder is not a readable model."""
