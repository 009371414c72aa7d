"""The prompt in a PNG's ``parameters``: resolved wildcards and every LoRA's tag, round-tripping."""

from __future__ import annotations

from sfumato.generation import LoraUse, Txt2ImgRequest
from sfumato.generation.metadata import format_parameters, parse_parameters
from sfumato.generation.prompt_syntax import JobPrompts, ResolvedPrompt, parse_prompt


def _text(request: Txt2ImgRequest, seed: int, prompt: str | None = None, negative: str | None = None) -> str:
    return format_parameters(request, seed=seed, scheduler="Euler a", size=(512, 512), model_name="m",
                             model_hash="0123abcd89", prompt=prompt, negative_prompt=negative)


def _words(resolved: ResolvedPrompt) -> list[list[tuple[str, float]]]:
    """The fragments as the tokenizers read them: runs of white space are one space."""
    return [[(" ".join(f.text.split()), f.weight) for f in segment] for segment in resolved.segments]


def test_parameters_record_the_resolved_prompt_with_every_lora() -> None:
    request = Txt2ImgRequest(
        model="m",
        prompt="a {red|green} (fox:1.2) <lora:ink:0.5>\nBREAK \\{snow\\}",
        negative_prompt="[{blur|haze}]",
        seed=11,
        loras=(LoraUse("grain", 0.7), LoraUse("/loras/film.safetensors", 1.0)),
    )
    [(prompt, negative)] = JobPrompts.resolve(request.prompt, request.negative_prompt, (11,)).written
    text = _text(request, 11, prompt, negative)
    parsed = parse_parameters(text)
    assert parsed.prompt == "<lora:grain:0.7> <lora:/loras/film.safetensors:1> " + prompt
    assert parsed.negative_prompt == negative and "{" not in negative
    again = parsed.to_request(model="m")
    assert isinstance(again, Txt2ImgRequest) and again.loras == ()
    # the text alone applies the same LoRAs in the same order, and reads as the image's prompt
    resolved, original = parse_prompt(again.prompt).resolve(0), parse_prompt(request.prompt).resolve(11)
    assert resolved.loras == (*request.loras, LoraUse("ink", 0.5))
    assert _words(resolved) == _words(original) and resolved.plain == original.plain
    # and writing it again gives the same text: pasting it back reproduces the image
    assert _text(again, 11) == text


def test_without_resolved_prompts_the_request_s_are_written() -> None:
    request = Txt2ImgRequest(model="m", prompt="a (fox:1.2)", negative_prompt="blur")
    assert parse_parameters(_text(request, 1)).prompt == "a (fox:1.2)"
    assert parse_parameters(_text(request, 1)).negative_prompt == "blur"
