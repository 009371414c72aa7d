"""The colour match hides a model's colour drift at the seam (figures: tests/benchmarks/bench_seam.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from seam_scene import delta_e76, gradient, inpaint, seam_delta_e, soft_disc, srgb_to_lab

from sfumato.generation import Margins, OutpaintRequest
from sfumato.inference.planning import plan_request


def test_lab_conversion_matches_published_values() -> None:
    lab = srgb_to_lab(np.array([[255, 0, 0], [255, 255, 255], [0, 0, 0]], np.uint8))
    assert np.allclose(lab[0], (53.24, 80.09, 67.20), atol=0.01)  # sRGB red, D65
    assert np.allclose(lab[1], (100, 0, 0), atol=0.01) and np.allclose(lab[2], 0, atol=0.01)
    assert delta_e76(np.array([255, 0, 0], np.uint8), np.array([255, 0, 0], np.uint8)) == 0


def test_colour_match_lowers_the_delta_e_across_the_mask_border() -> None:
    assert seam_delta_e(match_colours=True) < seam_delta_e(match_colours=False)


def test_the_seam_scene_keeps_the_unmasked_gradient() -> None:
    out, region = inpaint(match_colours=True)
    keep = soft_disc() == 0
    assert np.array_equal(out[keep], gradient()[keep])
    assert region.frame == region.box


def test_the_request_option_reaches_the_paste() -> None:
    """Outpaint with a "model" that returns black: drift of −90 on the kept original."""
    source = np.full((64, 64, 3), 90, np.uint8)
    request = OutpaintRequest(model="m", prompt="p", source=source, margins=Margins(0, 0, 32, 0))
    assert request.match_colours  # on unless asked otherwise
    for match, new_area in ((True, 90), (False, 0)):
        plan = plan_request(replace(request, match_colours=match), 64, 8, inpaint_only=False)
        black = np.zeros((plan.size[1], plan.size[0], 3), np.uint8)
        full = plan.finish(black, 1, "text").full()
        assert np.array_equal(full[:, :64], source)
        assert (full[:, 80:] == new_area).all()
