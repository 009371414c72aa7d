"""A single original-layout .safetensors file loads offline with a config folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sfumato.generation import Txt2ImgRequest
from sfumato.inference import Engine, Family, ModelError, profile_for
from sfumato.inference.model_files import detect_model


def test_single_file_is_detected_with_its_config(tiny_single_file: Path) -> None:
    info = detect_model(tiny_single_file)
    assert (info.family, info.single_file, info.inpaint_only) == (Family.SD1, True, False)
    assert info.config_dir == tiny_single_file.with_name("tiny-sd15.config")


def test_single_file_gives_the_same_pixels_as_the_folder(
    tiny_models: dict[str, Path], tiny_single_file: Path
) -> None:
    engine = Engine(profile_for("cpu"))
    common = {"prompt": "a cat", "steps": 2, "seed": 5, "width": 64, "height": 64}
    from_file = engine.run(Txt2ImgRequest(model=str(tiny_single_file), **common))
    from_folder = engine.run(Txt2ImgRequest(model=str(tiny_models["sd15"]), **common))
    assert np.array_equal(from_file.images[0].pixels, from_folder.images[0].pixels)
    assert "Model: tiny-sd15," in from_file.images[0].parameters


def test_single_file_without_any_config_says_what_it_needs(tmp_path: Path) -> None:
    """FLUX.1 has no config shipped with the store: a lone file is refused before loading."""
    alone = tmp_path / "alone.safetensors"
    shapes = {"img_in.weight": (8, 64), "double_blocks.0.img_attn.qkv.weight": (4,)}
    save_file({key: np.zeros(shape, np.float16) for key, shape in shapes.items()}, str(alone))
    with pytest.raises(ModelError, match=r"needs its configuration.*alone\.config"):
        Engine(profile_for("cpu")).load(str(alone))
