"""``sfumato generate``: one generation from the command line, with the GUI's engine and requests.

No ``--image``: txt2img. ``--image``: img2img. ``--image --mask``: inpaint. ``--image --outpaint``:
outpaint. ``--image --variations N`` (or ``--vary subtle|strong``): N variations written to
OUT-1.png … OUT-N.png. ``--params-from FILE.png`` takes the prompt, negative prompt, seed, steps,
CFG, sampler, size, model and variation seed from a PNG's generation parameters (Sfumato's or
A1111's); options given explicitly win. Progress goes to stderr; bad input exits 2 with one
``error: …`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sfumato.cpu_backend import CPU_BACKENDS
from sfumato.document.image_io import ImageLoadError, load_image, load_mask
from sfumato.errors import UserFacingError
from sfumato.generation import (
    STRONG_VARIATION,
    SUBTLE_VARIATION,
    GenerationRequest,
    Img2ImgRequest,
    InpaintRequest,
    LoraUse,
    Margins,
    OutpaintRequest,
    Txt2ImgRequest,
    VariationsRequest,
)
from sfumato.generation.metadata import save_png
from sfumato.generation.reuse import ReusedParameters, check_installed, read_reusable
from sfumato.generation.schedulers import scheduler_for_class
from sfumato.paths import is_frozen

if TYPE_CHECKING:
    from sfumato.inference.engine_protocol import EngineProtocol
    from sfumato.model_store.catalog import Defaults

log = logging.getLogger(__name__)


DEFAULT_STEPS = 20
DEFAULT_CFG = 7.0
"""Steps and guidance for a model the catalog does not describe (a folder or a file)."""

VARY = {"subtle": SUBTLE_VARIATION, "strong": STRONG_VARIATION}
"""``--vary``'s choices and the strengths they run variations at (Fooocus's two buttons)."""
DEFAULT_VARIATIONS = 4
"""How many variations ``--vary`` makes without ``--variations``."""


class UsageError(UserFacingError):
    """Options that do not fit together, or a file that is not what it should be."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``generate`` and its options."""
    parser = subparsers.add_parser(
        "generate",
        help="generate images headlessly",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--model",
        help="a catalog id (sd15, sdxl-base@fp16), an installed model's key or org/name, "
        "a diffusers folder or a .safetensors file (default: the --params-from PNG's, if installed)",
    )
    parser.add_argument("--prompt", help="required unless --params-from gives one")
    parser.add_argument("--negative", help="negative prompt")
    parser.add_argument(
        "--params-from",
        type=Path,
        metavar="FILE.png",
        help="take every setting this PNG's generation parameters give (Sfumato's or A1111's); "
        "options given here win",
    )
    parser.add_argument("--image", type=Path, help="source image (img2img, inpaint, outpaint, variations)")
    parser.add_argument("--mask", type=Path, help="mask image, white = repaint (inpaint)")
    parser.add_argument(
        "--strength", type=float, help="how far from the source to go, 0–1 (default depends on the task)"
    )
    parser.add_argument("--outpaint", metavar="L,T,R,B", help="pixels to add left,top,right,bottom")
    parser.add_argument("--variations", type=int, metavar="N", help="write N variations of --image")
    parser.add_argument(
        "--vary",
        choices=tuple(VARY),
        help=f"variations of --image at strength {SUBTLE_VARIATION:g} (subtle) or {STRONG_VARIATION:g} "
        f"(strong), as Fooocus's Vary buttons (--variations N of them, default {DEFAULT_VARIATIONS})",
    )
    parser.add_argument(
        "--steps", type=int, help=f"default: the catalog model's, else {DEFAULT_STEPS}"
    )
    parser.add_argument(
        "--cfg", type=float, help=f"guidance scale (default: the catalog model's, else {DEFAULT_CFG})"
    )
    parser.add_argument("--seed", type=int, help="-1 (the default) picks a random seed")
    parser.add_argument(
        "--variation-seed",
        type=int,
        help="txt2img: blend each image's noise towards this seed's (-1, the default, picks one)",
    )
    parser.add_argument(
        "--variation-strength",
        type=float,
        help="txt2img: how far to blend, 0–1 (A1111's variation strength; 0, the default, is off)",
    )
    parser.add_argument(
        "--scheduler", help="e.g. 'Euler a', 'DPM++ 2M Karras' (default: the catalog model's)"
    )
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument(
        "--float32",
        action="store_true",
        help="compute in float32 throughout (slower; by default a CPU with bfloat16 uses it)",
    )
    parser.add_argument(
        "--cpu-backend",
        choices=CPU_BACKENDS,
        help="what computes the UNet on the CPU: auto (OpenVINO when installed and measured faster "
        "for the model here), torch, or openvino ('.[openvino]'); default: the cpu_backend setting "
        "(auto)",
    )
    parser.add_argument(
        "--fast-decode",
        action="store_true",
        help="decode the final image with the model's tiny decoder (TAESD; `sfumato models download "
        "taesd`) instead of its VAE: much faster on a CPU, a little softer",
    )
    parser.add_argument(
        "--no-match-colours",
        dest="match_colours",
        action="store_const",
        const=False,
        help="with --mask or --outpaint: paste the region back without matching its colours to the "
        "picture around it (by default they are matched, so no seam shows)",
    )
    parser.add_argument(
        "--lora",
        action="append",
        metavar="NAME[:WEIGHT]",
        help="apply a LoRA: an installed one's name or a .safetensors file, at WEIGHT (default 1); "
        "repeatable, and added to the prompt's <lora:name:weight> tags",
    )
    parser.add_argument(
        "--embedding",
        action="append",
        metavar="PATH",
        help="a textual-inversion embedding (.safetensors) to use besides the installed ones: its "
        "file name, as a word of the prompt or negative prompt, triggers it; repeatable",
    )
    parser.add_argument("--batch", type=int, metavar="N", help="make N images (OUT-1.png … OUT-N.png)")
    parser.add_argument("--out", type=Path, required=True, help="output PNG")
    parser.set_defaults(run=run)


def parse_lora(spec: str) -> LoraUse:
    """``--lora``'s ``NAME[:WEIGHT]``: the weight is what follows the last colon when it is a
    number, so ``C:\\loras\\ink.safetensors`` and ``my:lora`` are names, ``ink:0.8`` is ink at 0.8."""
    name, colon, weight = spec.rpartition(":")
    try:
        if colon and name:
            return LoraUse(name, float(weight))
        return LoraUse(spec)
    except ValueError:
        return LoraUse(spec)  # what follows the colon is part of the name (a drive, a path)


def _read(path: Path, option: str, loader: Callable[[Path], np.ndarray]) -> np.ndarray:
    """``loader(path)`` (the window's image reader, with its size limits), or a usage error."""
    if not path.is_file():
        raise UsageError(f"{option} {path} is not a file." if path.exists() else
                         f"{option} {path} does not exist.")
    try:
        with _native_messages_logged(f"{option} {path}"):
            return loader(path)
    except ImageLoadError as exc:
        raise UsageError(f"{option}: {exc}", exc.details) from exc


@contextlib.contextmanager
def _native_messages_logged(what: str) -> Iterator[None]:
    """Send what C libraries print on stderr meanwhile (libtiff on a damaged TIFF) to the log,
    so a refused file still gives exactly one ``error:`` line."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", "replace").strip()
            if text:
                log.info("while reading %s: %s", what, text)


def _parse_margins(text: str) -> Margins:
    parts = text.split(",")
    try:
        values = [int(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise UsageError(f"--outpaint wants four whole numbers L,T,R,B (got {text!r}).")
    return Margins(*values)


def catalog_defaults(model: str) -> Defaults | None:
    """The catalog's generation defaults when ``model`` names a catalog entry (``id`` or
    ``id@variant``), so that ``--model sdxl-turbo`` samples as its card says; else ``None``."""
    from sfumato.model_store import UnknownModelError, load_catalog

    try:
        return load_catalog().get(model.split("@", 1)[0]).defaults
    except UnknownModelError:
        return None


def take_parameters(args: argparse.Namespace, reused: ReusedParameters) -> list[str]:
    """Fill the options not given explicitly from a PNG's parameters (``--params-from``), and
    return the notes to print: what was not taken and why, which model or LoRAs are missing."""
    notes = list(reused.notes)
    txt2img = args.image is None
    taken: dict[str, object] = {
        "prompt": reused.prompt,
        "negative": reused.negative_prompt,
        "seed": reused.seed,
        "steps": reused.steps,
        "cfg": reused.guidance,
        "scheduler": reused.scheduler,
        "width": reused.size[0] if reused.size else None,
        "height": reused.size[1] if reused.size else None,
        "variation_seed": reused.variation_seed if txt2img else None,
        "variation_strength": reused.variation_strength if txt2img else None,
        "strength": reused.strength if not txt2img and args.vary is None else None,
        "match_colours": (None if reused.match_colours or (args.mask is None and args.outpaint is None)
                          else False),
    }
    if args.width is not None or args.height is not None:  # a size is given whole, or not at all
        taken["width"] = taken["height"] = None
    for option, value in taken.items():
        if getattr(args, option) is None and value is not None:
            setattr(args, option, value)
    from sfumato.inference.model_files import installed_model

    installed = check_installed(reused, installed_model, _lora_installed)
    notes.extend(installed.notes)
    if args.model is None:
        if installed.model is None:
            named = f" ({reused.adapter or reused.model})" if reused.adapter or reused.model else ""
            raise UsageError(
                f"--params-from {args.params_from.name}: its model{named} is not installed; give --model."
            )
        args.model = installed.model
    elif installed.model is None and (reused.model or reused.adapter):
        notes.append(f"Generating with --model {args.model} instead.")
    if reused.ignored:
        listed = ", ".join(f"{key}: {value}" if key else value for key, value in reused.ignored)
        notes.append(f"Not used from {args.params_from.name}: {listed}.")
    return notes


def _lora_installed(name: str) -> bool:
    """Whether a LoRA a PNG's prompt names is here: a ``.safetensors`` file, or an installed
    catalog adapter."""
    if Path(name).expanduser().is_file():
        return True
    from sfumato.model_store import ModelStoreError, adapter_use

    try:
        return adapter_use(name) is not None
    except ModelStoreError:
        return False


def _read_parameters(path: Path) -> ReusedParameters:
    """``--params-from``'s parameters, or a usage error (missing, damaged, too large, none)."""
    try:
        return read_reusable(path)
    except ImageLoadError as exc:
        raise UsageError(f"--params-from: {exc}", exc.details) from exc


def build_request(args: argparse.Namespace) -> GenerationRequest:
    """The request the options describe; steps, CFG and scheduler not given come from the
    catalog entry ``--model`` names, if it names one."""
    if args.model is None:
        raise UsageError("--model is required (or --params-from a PNG whose model is installed).")
    if args.prompt is None:
        raise UsageError("--prompt is required (or --params-from a PNG with one).")
    defaults = catalog_defaults(args.model)
    scheduler = args.scheduler or ""
    if not scheduler and defaults is not None:
        scheduler = scheduler_for_class(defaults.scheduler) or ""
    common = {
        "model": args.model,
        "prompt": args.prompt,
        "negative_prompt": args.negative or "",
        "steps": args.steps if args.steps is not None else defaults.steps if defaults else DEFAULT_STEPS,
        "guidance": args.cfg if args.cfg is not None else defaults.cfg if defaults else DEFAULT_CFG,
        "seed": args.seed if args.seed is not None else -1,
        "scheduler": scheduler,
        "width": args.width or 0,
        "height": args.height or 0,
        "fast_decode": args.fast_decode,
        "loras": tuple(parse_lora(spec) for spec in args.lora or ()),
        "embeddings": tuple(args.embedding or ()),
        "batch_size": args.batch if args.batch is not None else 1,
    }
    if args.batch is not None and (args.variations is not None or args.vary is not None):
        raise UsageError("--batch is for single images; --variations N makes N variations.")
    if args.image is None:
        for option in ("mask", "outpaint", "variations", "vary", "strength"):
            if getattr(args, option) is not None:
                raise UsageError(f"--{option} needs --image.")
        if args.match_colours is not None:
            raise UsageError("--no-match-colours is for --mask or --outpaint (with --image).")
        return Txt2ImgRequest(
            **common,
            variation_seed=args.variation_seed if args.variation_seed is not None else -1,
            variation_strength=args.variation_strength if args.variation_strength is not None else 0.0,
        )
    for option in ("variation_seed", "variation_strength"):
        if getattr(args, option) is not None:
            raise UsageError(f"--{option.replace('_', '-')} is for txt2img (without --image).")
    varies = args.variations is not None or args.vary is not None
    chosen = [opt for opt in ("mask", "outpaint") if getattr(args, opt) is not None] + ["variations"] * varies
    if len(chosen) > 1:
        raise UsageError(f"Choose one of --{' / --'.join(chosen)}.")
    if args.vary is not None and args.strength is not None:
        raise UsageError("Give --vary or --strength, not both.")
    if args.match_colours is not None and args.mask is None and args.outpaint is None:
        raise UsageError("--no-match-colours is for --mask or --outpaint.")
    source = np.ascontiguousarray(_read(args.image, "--image", load_image)[..., :3])
    colours = {} if args.match_colours is None else {"match_colours": args.match_colours}
    strength = {} if args.strength is None else {"strength": args.strength}
    if args.vary is not None:
        strength = {"strength": VARY[args.vary]}
    if args.mask is not None:
        mask = _read(args.mask, "--mask", load_mask)
        return InpaintRequest(**common, source=source, mask=mask, **strength, **colours)
    if args.outpaint is not None:
        return OutpaintRequest(**common, source=source, margins=_parse_margins(args.outpaint), **strength,
                               **colours)
    if varies:
        count = args.variations if args.variations is not None else DEFAULT_VARIATIONS
        return VariationsRequest(**common, source=source, count=count, **strength)
    return Img2ImgRequest(**common, source=source, **strength)


def require_torch() -> None:
    """Import torch, or say in one line how to install it (the packaged app ships without it)."""
    command = "sfumato-cli" if is_frozen() else "sfumato"
    try:
        import torch  # noqa: F401
    except (ImportError, OSError) as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == "torch":
            how = "." if is_frozen() else " (and set SFUMATO_USE_RUNTIME=1), or pip install torch."
            raise UsageError(f"PyTorch is not installed, so Sfumato cannot generate: run `{command} "
                             f"runtime install` to install the build for this computer{how}",
                             details=str(exc)) from exc
        # a broken install: a missing DLL or dependency, a build for another architecture
        raise UsageError(f"PyTorch is installed but cannot be loaded ({exc}); reinstall it with "
                         f"`{command} runtime install`.", details=str(exc)) from exc


def cpu_backend(option: str | None) -> str:
    """``--cpu-backend`` when given, else the user's ``cpu_backend`` setting."""
    if option is not None:
        return option
    from sfumato.settings import load_settings

    return load_settings().cpu_backend


def output_paths(out: Path, count: int, numbered: bool) -> list[Path]:
    """``OUT.png`` for one image; ``OUT-1.png`` … for variations or several images."""
    if count == 1 and not numbered:
        return [out]
    return [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, count + 1)]


def run(args: argparse.Namespace) -> int:
    """Generate, write the PNG(s) with their parameters, and print their paths."""
    if args.out.suffix.lower() != ".png":
        raise UsageError(f"--out must name a .png file (got {args.out}).")
    if not args.out.parent.is_dir():
        raise UsageError(f"The folder for --out ({args.out.parent}) does not exist.")
    notes = take_parameters(args, _read_parameters(args.params_from)) if args.params_from else []
    request = build_request(args)
    require_torch()
    for note in notes:
        print(f"note: {note}", file=sys.stderr)

    from sfumato.inference import Engine, StepProgress
    from sfumato.inference.device import cpu_threads

    def progress(update: StepProgress) -> None:
        print(f"step {update.step}/{update.total}", file=sys.stderr, flush=True)

    def stage(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    engine: EngineProtocol = Engine(
        threads=cpu_threads(), force_float32=args.float32, cpu_backend=cpu_backend(args.cpu_backend)
    )
    model = engine.load(args.model, on_stage=stage)
    assert model is not None  # only a cancel event stops a load, and this one has none
    precision = engine.run_plan.precision if engine.run_plan is not None else ""
    print(
        f"loaded {model.name} ({model.traits.label}) on {engine.profile.name}, {precision}",
        file=sys.stderr,
        flush=True,
    )
    result = engine.run(request, on_step=progress)
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    paths = output_paths(args.out, len(result.images), isinstance(request, VariationsRequest))
    blends = result.variation_seeds or (None,) * len(result.images)
    for path, image, variation_seed in zip(paths, result.images, blends, strict=True):
        save_png(path, image.full(), image.parameters)
        blended = f", variation seed {variation_seed}" if variation_seed is not None else ""
        print(f"seed {image.seed}{blended}: {path}", file=sys.stderr)
        print(path)
    return 0

