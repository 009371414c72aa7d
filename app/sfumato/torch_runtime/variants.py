"""The torch builds Sfumato can install, one :class:`TorchBuild` each (named by its variant key:
``cpu``, ``cu128`` …), and the torch version pinned.

Where the facts come from (this machine cannot reach download.pytorch.org, so none of them was
re-checked here; re-check them for each torch release):

- Index URLs follow PyTorch's scheme ``https://download.pytorch.org/whl/<key>`` (``cpu``,
  ``cuXYZ``, ``rocmX.Y``), as printed by the install selector on pytorch.org.
- Compute-capability ranges: the torch 2.7–2.9 release notes — cu126 wheels keep sm_50–sm_90,
  cu128 wheels target sm_75–sm_120 (Maxwell, Pascal and Volta were dropped there), cu130 wheels
  target sm_75–sm_120 (CUDA 13 itself no longer compiles for sm_50–sm_72).
- Driver floors: NVIDIA's CUDA compatibility guide — with minor-version compatibility a CUDA 12.x
  build runs on any driver of the 12 line (R525 and newer, reported as CUDA 12.0), a 13.x build on
  any driver of the 13 line (R580, CUDA 13.0).
- ROCm: PyTorch publishes ROCm wheels for Linux x86_64 only; ``rocm6.4`` is the index of the
  torch 2.9 install matrix, later ones are not known here.
- macOS: the default PyPI wheel includes MPS on Apple silicon. PyTorch stopped publishing Intel-mac
  wheels after torch 2.2, so the Intel-mac choice will likely find no wheel.

None of this is trusted blindly: the installer tries a choice's candidates in order and skips a
variant whose index has no ``torch==TORCH_VERSION`` wheel for this interpreter, and after
installing, :func:`sfumato.torch_runtime.check_runtime` reads ``torch.cuda.get_arch_list()`` from
the installed build and warns when the GPU's ``sm_XY`` is not covered.
"""

from __future__ import annotations

from dataclasses import dataclass

from sfumato.torch_runtime.errors import UnknownVariantError

TORCH_VERSION = "2.13.0"
"""The torch release Sfumato is tested with; every install and every pip advice pins it."""

PYPI_SIMPLE = "https://pypi.org/simple"
PYTORCH_INDEX = "https://download.pytorch.org/whl"

Version = tuple[int, int]


@dataclass(frozen=True)
class TorchBuild:
    """One torch build flavour and the index that serves it.

    ``key`` is its variant key (``cu128``: also the local label of its wheels' versions, and
    what ``sfumato runtime install --variant`` takes). ``label`` is what a person reads
    (``CUDA 12.8``). ``backend`` is ``cpu``, ``cuda``, ``rocm`` or ``mps``. CUDA builds name the
    oldest driver CUDA version they run on and the compute-capability range their kernels are
    built for. ``systems`` / ``machines`` limit where the build is offered (empty: anywhere).
    """

    key: str
    label: str
    backend: str
    index_url: str
    min_driver_cuda: Version | None = None
    compute_capability: tuple[Version, Version] | None = None
    systems: tuple[str, ...] = ()
    machines: tuple[str, ...] = ()

    def runs_on(self, system: str, machine: str) -> bool:
        """Whether wheels of this variant exist for this operating system and CPU (as far as known)."""
        return (not self.systems or system in self.systems) and (
            not self.machines or machine.lower() in self.machines
        )

    def holds(self, capability: Version) -> bool:
        """Whether a GPU of this compute capability is within the variant's build range."""
        if self.compute_capability is None:
            return False
        low, high = self.compute_capability
        return low <= capability <= high


DRIVER_BRANCH: dict[Version, str] = {(12, 0): "R525", (13, 0): "R580"}
"""The first NVIDIA driver branch of each CUDA major line (NVIDIA's CUDA toolkit release notes)."""

_X86 = ("x86_64", "amd64")

_CUDA_SYSTEMS = ("Linux", "Windows")

VARIANTS: tuple[TorchBuild, ...] = (
    TorchBuild(
        "cu130", "CUDA 13.0", "cuda", f"{PYTORCH_INDEX}/cu130", (13, 0), ((7, 5), (12, 0)), _CUDA_SYSTEMS
    ),
    TorchBuild(
        "cu128", "CUDA 12.8", "cuda", f"{PYTORCH_INDEX}/cu128", (12, 0), ((7, 5), (12, 0)), _CUDA_SYSTEMS
    ),
    TorchBuild(
        "cu126", "CUDA 12.6", "cuda", f"{PYTORCH_INDEX}/cu126", (12, 0), ((5, 0), (9, 0)), _CUDA_SYSTEMS
    ),
    TorchBuild("rocm6.4", "ROCm 6.4", "rocm", f"{PYTORCH_INDEX}/rocm6.4", systems=("Linux",), machines=_X86),
    TorchBuild("cpu", "CPU", "cpu", f"{PYTORCH_INDEX}/cpu", systems=("Linux", "Windows")),
    TorchBuild("mps", "Apple GPU (MPS)", "mps", PYPI_SIMPLE, systems=("Darwin",), machines=("arm64",)),
    TorchBuild("macos-cpu", "CPU", "cpu", PYPI_SIMPLE, systems=("Darwin",), machines=_X86),
)
"""Every variant; CUDA ones newest first (the order :func:`choose_variant` prefers)."""


def variant(key: str) -> TorchBuild:
    """The variant called ``key``; :class:`UnknownVariantError` names the known keys."""
    for candidate in VARIANTS:
        if candidate.key == key:
            return candidate
    raise UnknownVariantError(
        f"Unknown runtime variant {key!r}; known: {', '.join(v.key for v in VARIANTS)}."
    )


def variant_for_local_label(local: str | None, system: str, machine: str) -> TorchBuild | None:
    """The variant a torch version's local label names (``2.13.0+cu128`` → cu128), if any.

    A wheel without a label comes from PyPI: on a Mac that is the ``mps``/``macos-cpu`` variant.
    """
    if local:
        return next((v for v in VARIANTS if v.key == local), None)
    return next((v for v in VARIANTS if v.index_url == PYPI_SIMPLE and v.runs_on(system, machine)), None)
