"""Plain helpers for ``sfumato.spec``: which files ship, stripping torch, version metadata.

Kept out of the spec (which only PyInstaller can run) so that tests can check them quickly.
Nothing here imports PyInstaller.
"""

from __future__ import annotations

import filecmp
import os
import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath

ROOT = Path(__file__).resolve().parents[1]

TORCH_PACKAGES = ("torch", "torchgen", "functorch")
"""Top-level packages of the torch wheel. The bundle ships without them: the app installs the torch
wheel for the user's GPU into its runtime folder (``sfumato.torch_runtime``) and imports it from there."""

GPU_LIBRARIES = re.compile(
    r"^(libcudart|libcuda|libcublas(Lt)?|libcudnn\w*|libnvrtc\w*|libnvJitLink|libnvidia-ml|libcufft|libcurand"
    r"|libcusparse\w*|libcusolver\w*|libnccl|libamdhip64|libhiprtc|librocm\w*|libMIOpen|cudart64_\w*"
    r"|nvcuda|nvml)([.-].*)?$",
    re.IGNORECASE,
)
"""GPU runtime libraries that an import reaches through ctypes (transformers looks for ``libcudart.so``):
they must come from the torch runtime or the driver, never from the build machine."""

_TORCH_DIST_INFO = re.compile(r"^(torch|torchgen|functorch)-[^/\\]*\.(dist|egg)-info$", re.IGNORECASE)

SHIPPED_DIRS = {
    # source folder (relative to the repository) → files left out (glob patterns on the relative path)
    "resources": ("screenshots/*", "*.py"),
    "models": ("*.py", "**/__pycache__/*"),
}
"""What ``app_root()`` finds at the bundle root: the icons and style sheet, the model catalog and the
per-family config folders (the screenshots are for the README only)."""

METADATA_PACKAGES = (
    # read their own version with importlib.metadata (or are checked by transformers/diffusers)
    "diffusers", "transformers", "huggingface_hub", "tokenizers", "safetensors", "accelerate", "peft",
    # torch's own requirements: the runtime installer checks they are present before it installs a torch
    # wheel without its dependencies (they stay in the bundle even though torch does not)
    "filelock", "typing-extensions", "setuptools", "sympy", "networkx", "jinja2", "fsspec",
    # the runtime installer itself
    "installer", "packaging",
    # diffusers checks these at import (the spec adds whatever its pkgs_to_check_at_runtime names)
    "requests", "numpy", "regex", "tqdm", "pyyaml",
)

EXCLUDED_MODULES = (
    # test and development tools that an import in some optional path could drag in
    "pytest", "_pytest", "pytestqt", "pytest_benchmark", "importlinter", "grimp", "ruff",
    "PyInstaller", "_pyinstaller_hooks_contrib", "pyinstaller_hooks_contrib",
    "tkinter", "_tkinter", "matplotlib", "IPython", "jupyter", "notebook",
    # never used by the app; pulled in by optional branches of diffusers/transformers
    "torchvision", "torchaudio", "tensorflow", "jax", "flax", "onnxruntime", "cv2",
    # the optional OpenVINO CPU backend (180 MB installed) stays out of the bundle: packaging/README.md
    "openvino", "openvino_telemetry",
)


def project_version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """``[project] version`` from pyproject.toml."""
    with pyproject.open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def data_files(root: Path = ROOT) -> list[tuple[str, str]]:
    """``(source file, destination folder)`` pairs for PyInstaller's ``datas``, one per shipped file."""
    pairs = []
    for folder, skip in SHIPPED_DIRS.items():
        base = root / folder
        if not base.is_dir():
            raise FileNotFoundError(f"{base} is missing: the bundle cannot ship it")
        for path in sorted(base.rglob("*")):
            if not path.is_file():
                continue
            relative = path.relative_to(base)
            if "__pycache__" in relative.parts or any(PurePath(relative).match(p) for p in skip):
                continue
            pairs.append((str(path), str(PurePath(folder, *relative.parts[:-1]))))
    return pairs


def _parts(name: str) -> list[str]:
    return [p for p in re.split(r"[/\\]", name) if p]


def _in_torch_package(path: str) -> bool:
    """Whether a file path lies inside an installed torch/torchgen/functorch package or its metadata."""
    parts = _parts(os.path.normpath(path)) if path else []
    for i, part in enumerate(parts[:-1]):
        if part in ("site-packages", "dist-packages") and i + 1 < len(parts):
            following = parts[i + 1]
            return following in TORCH_PACKAGES or bool(_TORCH_DIST_INFO.match(following))
    return False


def is_torch_entry(entry: tuple) -> bool:
    """Whether a PyInstaller TOC entry ``(name, source, typecode)`` belongs to torch (or the GPU stack).

    Modules are named with dots (``torch.nn``), files with their destination path
    (``torch/lib/libc10.so``); links at the top level are caught through their target.
    Packages that merely mention torch (``sfumato.torch_runtime``, ``safetensors.torch``,
    ``transformers.pytorch_utils``) are not torch.
    """
    name, source, typecode = entry[0], entry[1], entry[2]
    if typecode in ("BINARY", "EXTENSION", "SYMLINK") and name and GPU_LIBRARIES.match(_parts(name)[-1]):
        return True
    if typecode in ("PYMODULE", "PYSOURCE") and "/" not in name and "\\" not in name:
        if name.split(".")[0] in TORCH_PACKAGES:
            return True
    else:
        parts = _parts(name)
        if parts and (parts[0] in TORCH_PACKAGES or _TORCH_DIST_INFO.match(parts[0])):
            return True
        if typecode == "SYMLINK" and source:
            target = _parts(os.path.normpath(source))
            if target and (target[0] in TORCH_PACKAGES or _TORCH_DIST_INFO.match(target[0])):
                return True
    return _in_torch_package(source or "")


def strip_torch(toc: Iterable[tuple]) -> tuple[list[tuple], list[tuple]]:
    """``(kept, removed)``: ``toc`` without torch's modules, libraries, data and metadata."""
    kept, removed = [], []
    for entry in toc:
        (removed if is_torch_entry(entry) else kept).append(entry)
    return kept, removed


def torch_leftovers(*tocs: Iterable[tuple]) -> Iterator[tuple]:
    """Entries of ``tocs`` that still belong to torch (the spec asserts there are none)."""
    for toc in tocs:
        for entry in toc:
            if is_torch_entry(entry):
                yield entry


def link_identical(main: Path, other: Path) -> bool:
    """Make ``other`` a hard link to ``main`` if the two files have the same bytes; say whether it did."""
    if not (main.is_file() and other.is_file()) or main.stat().st_size != other.stat().st_size:
        return False
    if os.path.samefile(main, other):
        return True
    if not filecmp.cmp(main, other, shallow=False):
        return False
    other.unlink()
    os.link(main, other)
    return True


def windows_version_info(version: str, description: str, exe_name: str) -> str:
    """The text of a PyInstaller version-info file (``EXE(version=...)``) for a Windows executable."""
    numbers = [int(n) for n in re.findall(r"\d+", version)[:4]]
    numbers += [0] * (4 - len(numbers))
    quad = tuple(numbers)
    strings = {
        "CompanyName": "Sfumato",
        "FileDescription": description,
        "FileVersion": version,
        "InternalName": exe_name,
        "LegalCopyright": "Apache-2.0",
        "OriginalFilename": f"{exe_name}.exe",
        "ProductName": "Sfumato",
        "ProductVersion": version,
    }
    string_structs = ",\n            ".join(f"StringStruct({k!r}, {v!r})" for k, v in strings.items())
    return f"""# UTF-8
VSVersionInfo(
  ffi=FixedFileInfo(filevers={quad}, prodvers={quad}, mask=0x3f, flags=0x0, OS=0x40004,
                    fileType=0x1, subtype=0x0, date=(0, 0)),
  kids=[
    StringFileInfo([
      StringTable('040904B0', [
            {string_structs}
      ])
    ]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""


def info_plist(version: str) -> dict:
    """Extra Info.plist keys of Sfumato.app (PyInstaller fills in name, executable, icon, id)."""
    return {
        "CFBundleName": "Sfumato",
        "CFBundleDisplayName": "Sfumato",
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        "CFBundlePackageType": "APPL",
        "LSApplicationCategoryType": "public.app-category.graphics-design",
        "LSMinimumSystemVersion": "12.0",
        "NSHighResolutionCapable": True,
        "NSRequiresAquaSystemAppearance": False,
        "NSHumanReadableCopyright": "Apache-2.0",
        "CFBundleDocumentTypes": [
            {
                "CFBundleTypeName": "OpenRaster Image",
                "CFBundleTypeRole": "Editor",
                "LSHandlerRank": "Owner",
                "CFBundleTypeExtensions": ["ora"],
                "CFBundleTypeMIMETypes": ["image/openraster"],
                "CFBundleTypeIconFile": "sfumato.icns",
                "LSItemContentTypes": ["org.openraster.ora"],
            },
            {
                "CFBundleTypeName": "Image",
                "CFBundleTypeRole": "Viewer",
                "LSHandlerRank": "Alternate",
                "LSItemContentTypes": ["public.png", "public.jpeg", "org.webmproject.webp", "public.tiff",
                                       "com.microsoft.bmp"],
            },
        ],
        "UTImportedTypeDeclarations": [
            {
                # OpenRaster has no system UTI: declare it (imported, so that an app that exports it wins)
                "UTTypeIdentifier": "org.openraster.ora",
                "UTTypeDescription": "OpenRaster Image",
                "UTTypeConformsTo": ["public.data", "public.image", "public.zip-archive"],
                "UTTypeTagSpecification": {
                    "public.filename-extension": ["ora"],
                    "public.mime-type": ["image/openraster"],
                },
            },
        ],
    }
