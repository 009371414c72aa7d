"""Prompts into embeddings on tiny models: weights, chunks past 77 tokens, BREAK, per-image
wildcards, SD3/FLUX notices, the recorded prompt reproducing the image, the CLI end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline

from sfumato.cli import main
from sfumato.generation import Txt2ImgRequest
from sfumato.generation.metadata import parse_parameters, read_parameters
from sfumato.generation.prompt_syntax import JobPrompts
from sfumato.inference import Architecture, Engine
from sfumato.inference.prompt_encoding import T5_MAX_TOKENS, prompt_arguments, prompt_notices

SD_FAMILIES = {"sd15": Architecture.SD1, "sd2": Architecture.SD2, "sdxl": Architecture.SDXL}
WORD = "abcde"
"""Five tokens for the tiny character-level CLIP tokenizer (a, b, c, d, e</w>)."""


@pytest.fixture(scope="module")
def pipes(tiny_models: dict[str, Path]) -> dict[str, Any]:
    """The tiny SD models as float32 pipelines on the CPU."""
    names = (*SD_FAMILIES, "sd3", "flux")
    return {name: DiffusionPipeline.from_pretrained(tiny_models[name]) for name in names}


def embed(pipes: dict[str, Any], name: str, prompt: str, negative: str = "", seeds: tuple[int, ...] = (1,),
          guidance: float = 7.0) -> dict[str, torch.Tensor]:
    job = JobPrompts.resolve(prompt, negative, seeds)
    return prompt_arguments(pipes[name], SD_FAMILIES.get(name, Architecture.SD3), job, guidance)


def reference(pipe: Any, name: str, prompt: str, negative: str | None) -> tuple[torch.Tensor, ...]:
    """What the pipeline's own ``encode_prompt`` makes (CFG on)."""
    if name == "sdxl":
        return tuple(pipe.encode_prompt(prompt, device="cpu", num_images_per_prompt=1,
                                        do_classifier_free_guidance=True, negative_prompt=negative))
    return tuple(pipe.encode_prompt(prompt, "cpu", 1, True, negative_prompt=negative))


@pytest.mark.parametrize("name", list(SD_FAMILIES))
@pytest.mark.parametrize("negative", ["a blurry mess", ""])
def test_a_plain_prompt_embeds_exactly_as_diffusers_does(
    pipes: dict[str, Any], name: str, negative: str
) -> None:
    ours = embed(pipes, name, "a castle on a hill", negative)
    keys = ["prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
            "negative_pooled_prompt_embeds"]  # the order encode_prompt returns them in
    expected = reference(pipes[name], name, "a castle on a hill", negative or None)
    assert sorted(ours) == sorted(keys[: len(expected)])
    for key, tensor in zip(keys, expected, strict=False):
        assert torch.equal(ours[key], tensor), key  # bit for bit: SDXL's empty negative is zeros too


@pytest.mark.parametrize("name", list(SD_FAMILIES))
def test_weights_change_the_embedding_and_weight_one_is_the_plain_word(
    pipes: dict[str, Any], name: str
) -> None:
    plain = embed(pipes, name, "a castle on a hill", "fog")
    one = embed(pipes, name, "a (castle:1.0) on a hill", "(fog:1.0)")
    heavy = embed(pipes, name, "a (castle:1.5) on a hill", "fog")
    for key in plain:
        assert torch.equal(one[key], plain[key]), key  # bit for bit, not within a tolerance
    assert not torch.equal(heavy["prompt_embeds"], plain["prompt_embeds"])
    assert torch.equal(heavy["negative_prompt_embeds"], plain["negative_prompt_embeds"])
    if name == "sdxl":  # the pooled embedding is the encoder's own, unweighted
        assert torch.equal(heavy["pooled_prompt_embeds"], plain["pooled_prompt_embeds"])
    # A1111's emphasis: the weight scales its tokens' rows, then the chunk is scaled back to its mean
    ratio = (heavy["prompt_embeds"] / plain["prompt_embeds"])[0].median(-1).values
    castle = slice(2, 8)  # after BOS and "a": c a s t l e
    assert torch.allclose(ratio[castle], 1.5 * ratio[0], rtol=1e-3)
    assert torch.allclose(ratio[8:], ratio[0].expand(77 - 8), rtol=1e-3)
    assert torch.isclose(heavy["prompt_embeds"].mean(), plain["prompt_embeds"].mean(), rtol=1e-4)


@pytest.mark.parametrize("name", list(SD_FAMILIES))
def test_long_prompts_and_break_add_chunks(pipes: dict[str, Any], name: str) -> None:
    first = " ".join([WORD] * 15)  # 75 tokens: one full chunk
    long = embed(pipes, name, first + " and more", "short")
    short = embed(pipes, name, first, "short")
    assert long["prompt_embeds"].shape[1] == 2 * 77 and short["prompt_embeds"].shape[1] == 77
    # the negative prompt is padded to the prompt's length
    assert long["negative_prompt_embeds"].shape == long["prompt_embeds"].shape
    # the first chunk is what the pipeline's own truncation to 77 tokens gives
    assert torch.equal(long["prompt_embeds"][:, :77], short["prompt_embeds"])
    truncated = reference(pipes[name], name, first + " and more", "short")[0]
    assert torch.equal(long["prompt_embeds"][:, :77], truncated)
    broken = embed(pipes, name, "a castle BREAK a moat", "")
    assert broken["prompt_embeds"].shape[1] == 2 * 77
    joined = embed(pipes, name, "a castle a moat")["prompt_embeds"]
    assert not torch.equal(broken["prompt_embeds"][:, :77], joined)


def test_textual_inversion_tokens_are_words_that_take_weights(tiny_models: dict[str, Path]) -> None:
    pipe = DiffusionPipeline.from_pretrained(tiny_models["sd15"])
    torch.manual_seed(0)
    pipe.load_textual_inversion({"inkstyle": torch.randn(2, 32)}, token="inkstyle")  # two vectors
    def encoded(prompt: str) -> dict[str, torch.Tensor]:
        return prompt_arguments(pipe, Architecture.SD1, JobPrompts.resolve(prompt, "", (1,)), 1.0)

    plain = encoded("a inkstyle cat")
    assert torch.equal(plain["prompt_embeds"], pipe.encode_prompt("a inkstyle cat", "cpu", 1, False)[0])
    weighted = encoded("a (inkstyle:1.4) cat")
    changed = (weighted["prompt_embeds"] != plain["prompt_embeds"]).any(-1)[0].nonzero().flatten().tolist()
    assert changed[:2] == [2, 3]  # both vectors of the embedding carry the weight


def test_each_image_of_a_batch_gets_its_own_prompt(pipes: dict[str, Any]) -> None:
    seeds = tuple(range(8))
    job = JobPrompts.resolve("a {fox|BREAK owl}", "", seeds)
    assert len({p.text for p in job.prompts}) == 2
    arguments = prompt_arguments(pipes["sdxl"], Architecture.SDXL, job, 7.0)
    assert arguments["prompt_embeds"].shape[:2] == (8, 2 * 77)  # the one-chunk prompts padded
    assert arguments["pooled_prompt_embeds"].shape[0] == 8
    fox, owl = (next(i for i, p in enumerate(job.prompts) if word in p.text) for word in ("fox", "owl"))
    assert not torch.equal(arguments["prompt_embeds"][fox], arguments["prompt_embeds"][owl])


def test_plain_text_models_get_plain_text_and_a_notice(pipes: dict[str, Any]) -> None:
    job = JobPrompts.resolve("a (castle:1.3) BREAK [fog] \\(sic\\)", "(blur)", (1,))
    sd3 = prompt_arguments(pipes["sd3"], Architecture.SD3, job, 7.0)
    assert sd3 == {"prompt": ["a castle fog (sic)"], "negative_prompt": ["blur"]}
    notices = prompt_notices(pipes["flux"], Architecture.FLUX, job)
    assert notices == [
        "Weights ignored by FLUX.1, which reads the prompt as plain text: (castle:1.3), [fog], BREAK; "
        "negative prompt: (blur)."
    ]
    assert prompt_notices(pipes["sdxl"], Architecture.SDXL, job) == []


def test_sd3_gives_a_long_prompt_the_t5_length_it_needs(pipes: dict[str, Any]) -> None:
    pipe = pipes["sd3"]
    long = JobPrompts.resolve("castle " * 50, "", (1,))  # the tiny T5 reads a piece per character
    length = len(pipe.tokenizer_3(long.prompts[0].plain).input_ids)
    assert 256 < length < T5_MAX_TOKENS
    assert prompt_arguments(pipe, Architecture.SD3, long, 7.0)["max_sequence_length"] == length
    assert prompt_notices(pipe, Architecture.SD3, long) == []
    longer = JobPrompts.resolve("castle " * 90, "", (1,))
    assert prompt_arguments(pipe, Architecture.SD3, longer, 7.0)["max_sequence_length"] == T5_MAX_TOKENS
    [notice] = prompt_notices(pipe, Architecture.SD3, longer)
    assert notice.startswith("The prompt is ") and "reads the first 512" in notice


def _run(engine: Engine, model: Path, prompt: str, seed: int, batch: int = 1, **extra: Any) -> Any:
    request = Txt2ImgRequest(model=str(model), prompt=prompt, steps=2, seed=seed, width=64, height=64,
                             batch_size=batch, **extra)
    return engine.run(request)


@pytest.mark.parametrize("name", ["sd15", "sdxl"])
def test_the_engine_runs_weights_long_prompts_and_per_image_wildcards(
    engine: Engine, tiny_models: dict[str, Path], name: str
) -> None:
    model = tiny_models[name]
    first = " ".join([WORD] * 15)
    short = _run(engine, model, first, 5).images[0].pixels
    long = _run(engine, model, first + " and a moat", 5).images[0].pixels
    assert not np.array_equal(long, short)  # the words past 77 tokens count
    heavy = _run(engine, model, f"({first}:1.5)", 5).images[0].pixels
    assert not np.array_equal(heavy, short)
    batch = _run(engine, model, "a {fox|owl|cat|elk} in snow", 20, batch=4, negative_prompt="{blur|noise}")
    prompts = [parse_parameters(image.parameters).prompt for image in batch.images]
    assert len(set(prompts)) > 1 and all("{" not in p for p in prompts)
    again = _run(engine, model, "a {fox|owl|cat|elk} in snow", 20, batch=4, negative_prompt="{blur|noise}")
    for one, other in zip(batch.images, again.images, strict=True):
        assert one.parameters == other.parameters and np.array_equal(one.pixels, other.pixels)


def test_a_recorded_prompt_reproduces_the_image(engine: Engine, tiny_models: dict[str, Path]) -> None:
    """The parameters record the resolved prompt: a run from them makes what the prompt with
    wildcards makes with that image's seed, bit for bit, and records the same text."""
    model = tiny_models["sd15"]
    prompt, negative = "a {red|green|blue} (fox:1.2) BREAK snow", "[{blur|haze}]"
    result = _run(engine, model, prompt, 40, batch=3, negative_prompt=negative)
    for image in result.images:
        request = parse_parameters(image.parameters).to_request(model=str(model))
        assert "{" not in request.prompt and "{" not in request.negative_prompt
        [again] = engine.run(request).images
        [alone] = _run(engine, model, prompt, image.seed, negative_prompt=negative).images
        assert np.array_equal(again.pixels, alone.pixels)
        assert again.parameters == alone.parameters == image.parameters


@pytest.mark.parametrize("name", ["sd3", "flux"])
def test_plain_text_models_say_which_weights_they_ignore(
    engine: Engine, tiny_models: dict[str, Path], name: str
) -> None:
    weighted = _run(engine, tiny_models[name], "a (castle:1.3) on a hill", 2)
    label = "Stable Diffusion 3" if name == "sd3" else "FLUX.1"
    notice = f"Weights ignored by {label}, which reads the prompt as plain text: (castle:1.3)."
    assert notice in weighted.notices
    plain = _run(engine, tiny_models[name], "a castle on a hill", 2)
    assert not any("Weights ignored" in notice for notice in plain.notices)
    assert np.array_equal(weighted.images[0].pixels, plain.images[0].pixels)  # the same text reached T5


def test_cli_takes_the_prompt_syntax(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"
    argv = ["generate", "--model", str(tiny_models["sd15"]), "--steps", "2", "--seed", "9", "--width", "64",
            "--height", "64", "--out", str(out)]  # fmt: skip
    assert main([*argv, "--prompt", "a {fox|owl} (in snow:1.3) BREAK night", "--negative", "[blur]"]) == 0
    parsed = parse_parameters(read_parameters(out) or "")
    assert parsed.prompt in ("a fox (in snow:1.3) BREAK night", "a owl (in snow:1.3) BREAK night")
    assert parsed.negative_prompt == "[blur]"
    capsys.readouterr()
    assert main([*argv, "--prompt", "a (fox"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: Prompt, column 3: '(' is never closed: add ')', or write \\( for the character "
                   "itself.\n")
