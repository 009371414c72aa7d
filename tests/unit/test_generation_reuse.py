"""Reusing a picture's generation parameters: A1111's texts as people published them, Sfumato's own,
what is taken, what is ignored and why, which model and LoRAs are missing, and bad files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from sfumato.document.image_io import ImageLoadError
from sfumato.generation import Margins, Task, Txt2ImgRequest
from sfumato.generation.metadata import format_parameters, parse_parameters, save_png
from sfumato.generation.requests import LoraUse
from sfumato.generation.reuse import (
    NoParametersError,
    ReusedParameters,
    check_installed,
    read_reusable,
    reuse_parameters,
)

# A1111's own example, in the docstring of parse_generation_parameters
# (AUTOMATIC1111/stable-diffusion-webui, modules/infotext_utils.py at commit 036500223de0a3ca).
A1111_DOCSTRING = (
    "girl with an artist's beret, determined, blue eyes, desert scene, computer monitors, heavy makeup, "
    "by Alphonse Mucha and Charlie Bowater, ((eyeshadow)), (coquettish), detailed, intricate\n"
    "Negative prompt: ugly, fat, obese, chubby, (((deformed))), [blurry], bad anatomy, disfigured, "
    "poorly drawn face, mutation, mutated, (extra_limb), (ugly), (poorly drawn hands), messy drawing\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b"
)
# An img2img from A1111 (December 2022) quoted in vicerre/spaghetti-ice,
# posts/2023-q3/2023-09-01_meta-010_stable-diffusion.md at commit 2c3aed1e.
A1111_IMG2IMG = (
    "masterpiece,high quality,best quality,highest detail,4k,((male)),(((high cheekbones))),narrow,thin,"
    "long face,pointy,angular,messy hair,((brown hair)),white hair accent,tentatively curious,blue eye,"
    "skrunkly,turtleneck,thick winter coat,thick red scarf,hairtie\n"
    "Negative prompt: nsfw, lowres, (bad anatomy:1.21), bad hands, text, error, missing fingers, extra "
    "digit, fewer digits, cropped, worst quality, low quality, normal quality, jpeg artifacts, signature, "
    "watermark, username, blurry, artist name\n"
    "Steps: 50, Sampler: Euler a, CFG scale: 15, Seed: 1364821611, Size: 768x768, Model hash: 6569e224, "
    "Batch size: 6, Batch pos: 4, Denoising strength: 0.5, Mask blur: 4"
)
# A parameters line with A1111's variation seed, as the PromptGallery extension's README shows one
# (dr413677671/PromptGallery-stable-diffusion-webui, README.md at commit 017ce045).
A1111_VARIATION = (
    "Steps: 30, Sampler: Euler, CFG scale: 11.5, Seed: 1058629707, Size: 512x768, Variation seed: "
    "1692844643, Variation seed strength: 0.27, Seed resize from: 1088x512"
)
# A sampler Sfumato lacks, from AUTOMATIC1111/stable-diffusion-webui issue #1973 (October 2022).
A1111_LMS = "banana AND car\nSteps: 70, Sampler: LMS Karras, CFG scale: 7, Seed: 1745286955, Size: 576x320"


def test_a1111s_own_example() -> None:
    reused = reuse_parameters(A1111_DOCSTRING)
    assert reused.prompt.startswith("girl with an artist's beret") and reused.prompt.endswith("intricate")
    assert reused.negative_prompt.endswith("messy drawing")
    assert (reused.task, reused.seed, reused.steps, reused.guidance) == (Task.TXT2IMG, 965400086, 20, 7.0)
    assert (reused.scheduler, reused.size, reused.model_hash) == ("Euler a", (512, 512), "45dee52b")
    assert reused.model == "" and reused.loras == () and reused.ignored == () and reused.notes == ()


def test_a1111_img2img_keeps_its_strength_and_lists_what_sfumato_does_not_use() -> None:
    reused = reuse_parameters(A1111_IMG2IMG)
    assert reused.task is Task.IMG2IMG and reused.strength == 0.5
    assert (reused.seed, reused.steps, reused.guidance, reused.size) == (1364821611, 50, 15.0, (768, 768))
    assert reused.negative_prompt.startswith("nsfw, lowres, (bad anatomy:1.21)")
    assert reused.ignored == (("Batch size", "6"), ("Batch pos", "4"), ("Mask blur", "4"))


def test_a1111_variation_seed_is_taken_and_seed_resize_is_shown_as_ignored() -> None:
    reused = reuse_parameters(A1111_VARIATION)
    assert (reused.variation_seed, reused.variation_strength) == (1692844643, 0.27)
    assert (reused.seed, reused.scheduler, reused.size) == (1058629707, "Euler", (512, 768))
    assert reused.ignored == (("Seed resize from", "1088x512"),)


def test_a_sampler_sfumato_lacks_is_a_note_not_an_error() -> None:
    reused = reuse_parameters(A1111_LMS)
    assert reused.prompt == "banana AND car" and reused.scheduler is None
    assert reused.notes == ("Sfumato has no sampler 'LMS Karras'; the model's default is used.",)


@pytest.mark.parametrize(
    ("sampler", "expected"),
    [
        ("Sampler: DPM++ 2M, Schedule type: Karras", "DPM++ 2M Karras"),
        ("Sampler: Euler a, Schedule type: Automatic", "Euler a"),
        ("Sampler: DPM++ 2M Karras", "DPM++ 2M Karras"),
        ("Sampler: LCM, Schedule type: Automatic", "LCM"),
        ("Sampler: Euler, Schedule type: Exponential", None),
    ],
)
def test_a1111_19s_split_sampler_and_schedule_type_are_joined(sampler: str, expected: str | None) -> None:
    """A1111 1.9 split the scheduler out of the sampler name (oobabooga/textgen issue #5993; its
    ``Schedule type`` default is ``Automatic``, modules/infotext_utils.py)."""
    reused = reuse_parameters(f"a cat\nSteps: 20, {sampler}, CFG scale: 7, Seed: 1, Size: 512x512")
    assert reused.scheduler == expected
    assert bool(reused.notes) is (expected is None)


def test_a_hires_fix_txt2img_stays_txt2img() -> None:
    """A1111 writes ``Denoising strength`` for its hires-fix pass of a txt2img, beside ``Hires …``."""
    reused = reuse_parameters(
        "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Denoising strength: 0.7, "
        "Hires upscale: 2, Hires upscaler: Latent, Version: v1.10.1"
    )
    assert reused.task is Task.TXT2IMG and reused.strength is None
    assert reused.ignored == (
        ("Denoising strength", "0.7"), ("Hires upscale", "2"), ("Hires upscaler", "Latent"),
        ("Version", "v1.10.1"),
    )  # fmt: skip


def test_loras_come_from_the_prompts_tags() -> None:
    reused = reuse_parameters(
        '<lora:detail:0.6> a cat <lora:style>\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, '
        'Size: 512x512, Lora hashes: "detail: 0123abcd4567, style: 89abcdef0123"'
    )
    assert reused.loras == (LoraUse("detail", 0.6), LoraUse("style", 1.0))
    assert reused.prompt == "<lora:detail:0.6> a cat <lora:style>"  # the tags apply them when it runs


def test_a_prompt_sfumato_cannot_run_says_so_and_still_lists_the_loras() -> None:
    reused = reuse_parameters(
        'a [cat:dog:5]\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, '
        'Lora hashes: "detail: 0123abcd4567"'
    )
    assert reused.loras == (LoraUse("detail"),)
    assert len(reused.notes) == 1 and "prompt editing" in reused.notes[0]


def test_out_of_range_values_are_notes_and_shown_as_ignored() -> None:
    reused = reuse_parameters("p\nSteps: 5000, Sampler: Euler, CFG scale: many, Seed: 99999999999, Size: 4x4")
    assert (reused.steps, reused.guidance, reused.seed, reused.size) == (None, None, None, None)
    assert len(reused.notes) == 4
    assert "Steps '5000' is not usable (Sfumato takes a whole number from 1 to 1000)." in reused.notes
    assert {key for key, _ in reused.ignored} == {"Steps", "CFG scale", "Seed", "Size"}


def test_lines_after_the_parameters_line_are_kept_as_ignored() -> None:
    reused = reuse_parameters("a cat\nSteps: 20, Sampler: Euler, Seed: 1\n\nUsed embeddings: style [e687]")
    assert reused.prompt == "a cat" and reused.ignored == (("", "Used embeddings: style [e687]"),)


def test_sfumato_texts_give_back_every_field() -> None:
    request = Txt2ImgRequest(
        model="m", prompt="a castle, at dusk", negative_prompt="blurry", steps=28, guidance=5.5, seed=7,
        scheduler="DPM++ 2M Karras", width=512, height=768, variation_seed=41, variation_strength=0.2,
    )  # fmt: skip
    text = format_parameters(
        request, seed=7, scheduler="DPM++ 2M Karras", size=(512, 768), model_name="dreamy",
        model_hash="0a1b2c3d4e", lora="sd15-lcm-lora", variation_seed=41,
    )  # fmt: skip
    assert "Variation seed: 41, Variation seed strength: 0.2" in text
    assert parse_parameters(text).to_request(model="m") == request
    assert reuse_parameters(text) == ReusedParameters(
        prompt="a castle, at dusk", negative_prompt="blurry", task=Task.TXT2IMG, seed=7, steps=28,
        guidance=5.5, scheduler="DPM++ 2M Karras", size=(512, 768), model="dreamy", model_hash="0a1b2c3d4e",
        adapter="sd15-lcm-lora", variation_seed=41, variation_strength=0.2,
    )  # fmt: skip


def test_no_blend_writes_no_variation_seed() -> None:
    request = Txt2ImgRequest(model="m", prompt="p", variation_seed=41)
    text = format_parameters(request, seed=1, scheduler="Euler", size=(8, 8), model_name="m", model_hash="h")
    assert "Variation" not in text


def test_sfumato_outpaint_fields() -> None:
    reused = reuse_parameters(
        "p\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: h, Model: m, "
        'Denoising strength: 0.9, Task: outpaint, Mask padding: 40, Outpaint margins: "64,0,32,8"'
    )
    assert (reused.task, reused.strength, reused.padding, reused.margins) == (
        Task.OUTPAINT, 0.9, 40, Margins(64, 0, 32, 8),
    )  # fmt: skip


def test_variation_seeds_of_an_img2img_are_ignored_with_a_note() -> None:
    reused = reuse_parameters(
        "p\nSteps: 24, Sampler: Euler a, CFG scale: 10, Seed: 1, Size: 512x512, Variation seed: 2, "
        "Variation seed strength: 0.45, Denoising strength: 0.45"
    )
    assert reused.task is Task.IMG2IMG and reused.variation_seed is None and reused.variation_strength is None
    assert reused.notes == ("Variation seeds apply to txt2img only; this img2img ignores them.",)
    assert ("Variation seed", "2") in reused.ignored


def test_check_installed_finds_the_model_and_names_what_is_missing() -> None:
    reused = reuse_parameters(
        "<lora:detail:0.5> <lora:gone> a cat\n"
        "Steps: 20, Sampler: Euler, Seed: 1, Model hash: abc, Model: dreamy"
    )
    asked: list[tuple[str, str]] = []

    def find(name: str, model_hash: str) -> str | None:
        asked.append((name, model_hash))
        return "path:/models/dreamy" if model_hash == "abc" else None

    installed = check_installed(reused, find, lambda name: name == "detail")
    assert installed.model == "path:/models/dreamy" and asked == [("dreamy", "abc")]
    assert installed.missing_loras == ("gone",)
    assert installed.notes == ("The LoRA gone is not installed.",)
    nothing = check_installed(reused, lambda name, model_hash: None, lambda name: True)
    assert nothing.model is None and nothing.notes == ("The model dreamy (hash abc) is not installed.",)


def test_check_installed_asks_for_sfumatos_adapter_first() -> None:
    reused = reuse_parameters("p\nSteps: 4, Sampler: LCM, Seed: 1, Model: x, LoRA: sd15-lcm-lora")
    installed = check_installed(reused, lambda name, _hash: name if name == "sd15-lcm-lora" else None, bool)
    assert installed.model == "sd15-lcm-lora" and installed.notes == ()


def test_a_png_without_parameters_says_so(tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    with pytest.raises(NoParametersError, match=r"“plain\.png” has no generation parameters"):
        read_reusable(plain)


def test_a_png_with_parameters_is_read(tmp_path: Path) -> None:
    path = tmp_path / "a1111.png"
    save_png(path, np.zeros((8, 8, 3), np.uint8), A1111_DOCSTRING)
    assert read_reusable(path) == reuse_parameters(A1111_DOCSTRING)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_damaged_and_oversized_pngs_are_one_line_errors(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(ImageLoadError):
        read_reusable(damaged)
    # a header claiming 100000×100000 pixels with parameters before the (absent) pixel data
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_LMS)
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    huge = tmp_path / "huge.png"
    huge.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"tEXt", b"parameters\0" + A1111_LMS.encode())
        + _chunk(b"IEND", b"")
    )  # fmt: skip
    with pytest.raises(ImageLoadError, match="too large"):
        read_reusable(huge)
    with pytest.raises(ImageLoadError, match="does not exist"):
        read_reusable(tmp_path / "missing.png")
