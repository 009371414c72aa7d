"""The inpaint/outpaint colour match as a user switches it: ``sfumato generate
--no-match-colours``, the ``Colour match: off`` parameters key, and reading it back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfumato.cli import build_parser
from sfumato.commands.generate import build_request, take_parameters
from sfumato.generation.metadata import format_parameters, parse_parameters
from sfumato.generation.requests import InpaintRequest, Margins, OutpaintRequest, Txt2ImgRequest
from sfumato.generation.reuse import reuse_parameters


def _images(tmp_path: Path) -> tuple[Path, Path]:
    source, mask = tmp_path / "source.png", tmp_path / "mask.png"
    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(source)
    white = np.zeros((48, 64), np.uint8)
    white[10:30, 20:40] = 255
    Image.fromarray(white).save(mask)
    return source, mask


def _request(*argv: str) -> object:
    return build_request(build_parser().parse_args(["generate", "--model", "m", "--prompt", "p",
                                                    "--out", "o.png", *argv]))


def test_no_match_colours_reaches_inpaint_and_outpaint_requests(tmp_path: Path) -> None:
    source, mask = _images(tmp_path)
    on = _request("--image", str(source), "--mask", str(mask))
    off = _request("--image", str(source), "--mask", str(mask), "--no-match-colours")
    assert isinstance(on, InpaintRequest) and on.match_colours
    assert isinstance(off, InpaintRequest) and not off.match_colours
    grown = _request("--image", str(source), "--outpaint", "0,0,32,0", "--no-match-colours")
    assert isinstance(grown, OutpaintRequest) and not grown.match_colours


def test_no_match_colours_without_a_region_is_a_usage_error(tmp_path: Path) -> None:
    source, _mask = _images(tmp_path)
    from sfumato.errors import UserFacingError

    for argv in (["--no-match-colours"], ["--image", str(source), "--no-match-colours"]):
        with pytest.raises(UserFacingError, match="--no-match-colours is for --mask or --outpaint"):
            _request(*argv)


def _parameters(match_colours: bool) -> str:
    request = InpaintRequest(model="m", prompt="a boat", source=np.zeros((8, 8, 3), np.uint8),
                             mask=np.full((8, 8), 255, np.uint8), match_colours=match_colours)
    return format_parameters(request, seed=3, scheduler="Euler", size=(512, 512), model_name="m",
                             model_hash="0123abcd89")


def test_colour_match_off_is_written_read_back_and_reused() -> None:
    assert "Colour match" not in _parameters(True)  # the default is not written
    text = _parameters(False)
    assert "Colour match: off" in text
    parsed = parse_parameters(text)
    request = parsed.to_request(source=np.zeros((8, 8, 3), np.uint8), mask=np.full((8, 8), 255, np.uint8))
    assert isinstance(request, InpaintRequest) and not request.match_colours
    reused = reuse_parameters(text)
    assert not reused.match_colours and ("Colour match", "off") not in reused.ignored
    assert reuse_parameters(_parameters(True)).match_colours


def test_an_outpaint_without_colour_match_reads_back() -> None:
    request = OutpaintRequest(model="m", prompt="", source=np.zeros((8, 8, 3), np.uint8),
                              margins=Margins(0, 0, 8, 0), match_colours=False)
    text = format_parameters(request, seed=1, scheduler="Euler", size=(64, 64), model_name="m",
                             model_hash="")
    back = parse_parameters(text).to_request(source=np.zeros((8, 8, 3), np.uint8))
    assert isinstance(back, OutpaintRequest) and not back.match_colours
    txt2img = format_parameters(Txt2ImgRequest(model="m", prompt="x"), seed=1, scheduler="Euler",
                                size=(64, 64), model_name="m", model_hash="")
    assert "Colour match" not in txt2img


def test_an_odd_colour_match_value_is_a_note_and_shown_as_ignored() -> None:
    text = _parameters(False).replace("Colour match: off", "Colour match: maybe")
    reused = reuse_parameters(text)
    assert reused.match_colours
    assert ("Colour match", "maybe") in reused.ignored
    assert any("Colour match is 'maybe', not on or off" in note for note in reused.notes)


def test_params_from_an_inpaint_without_colour_match_keeps_it_off(tmp_path: Path) -> None:
    source, mask = _images(tmp_path)
    args = build_parser().parse_args(["generate", "--model", "m", "--out", "o.png", "--image", str(source),
                                      "--mask", str(mask)])
    take_parameters(args, reuse_parameters(_parameters(False)))
    request = build_request(args)
    assert isinstance(request, InpaintRequest) and not request.match_colours
