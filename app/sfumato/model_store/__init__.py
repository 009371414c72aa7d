"""The model store: catalog, hardware fit, verified resumable downloads, the cache, local imports.

No Qt and no torch at import time. The engine calls :func:`resolve_model` (and
:func:`lora_file`, :func:`installed_embeddings`, :func:`embedding_file` for LoRAs and embeddings);
the CLI and the model manager dialog use :class:`ModelManager`.
"""

from sfumato.model_store.adapters import AdapterFile, AdapterImport
from sfumato.model_store.cache import FileRecord, InstalledModel, SourceRecord
from sfumato.model_store.catalog import Catalog, CatalogModel, Family, PreviewDecoder, Variant, load_catalog
from sfumato.model_store.errors import (
    CatalogError,
    ChecksumMismatchError,
    DownloadCancelled,
    DownloadError,
    FamilyMismatchError,
    GatedModelError,
    HubAccessError,
    InvalidCheckpointError,
    ModelStoreError,
    NotInstalledError,
    PickleCheckpointError,
    UnknownFamilyError,
    UnknownModelError,
    UnsupportedModelError,
)
from sfumato.model_store.fit import MemoryEstimate, RunPlan, plan_model, plan_run, starter_set
from sfumato.model_store.hardware import GpuInfo, HardwareProfile, hardware_tier, probe_hardware
from sfumato.model_store.hardware import describe as describe_hardware
from sfumato.model_store.manager import (
    AdapterUse,
    ModelManager,
    VerifyResult,
    adapter_use,
    embedding_file,
    installed_embeddings,
    lora_file,
    preview_decoder_path,
    resolve_model,
)
from sfumato.model_store.progress import DownloadProgress, ProgressCallback
from sfumato.model_store.transfer import TransferSettings

__all__ = [
    "AdapterFile",
    "AdapterImport",
    "AdapterUse",
    "Catalog",
    "CatalogError",
    "CatalogModel",
    "ChecksumMismatchError",
    "DownloadCancelled",
    "DownloadError",
    "DownloadProgress",
    "Family",
    "FamilyMismatchError",
    "FileRecord",
    "GatedModelError",
    "GpuInfo",
    "HardwareProfile",
    "HubAccessError",
    "InstalledModel",
    "InvalidCheckpointError",
    "MemoryEstimate",
    "ModelManager",
    "ModelStoreError",
    "NotInstalledError",
    "PickleCheckpointError",
    "PreviewDecoder",
    "ProgressCallback",
    "RunPlan",
    "SourceRecord",
    "TransferSettings",
    "UnknownFamilyError",
    "UnknownModelError",
    "UnsupportedModelError",
    "Variant",
    "VerifyResult",
    "adapter_use",
    "describe_hardware",
    "embedding_file",
    "hardware_tier",
    "installed_embeddings",
    "load_catalog",
    "lora_file",
    "plan_model",
    "plan_run",
    "preview_decoder_path",
    "probe_hardware",
    "resolve_model",
    "starter_set",
]
