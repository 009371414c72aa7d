"""Resolved prompts into the arguments of a pipeline call: weighted embeddings of any length for
SD 1.x/2.x/SDXL, plain text for SD3 and FLUX.1, and the notices for what a model cannot use.

SD 1.x, 2.x and SDXL read their prompts through CLIP text encoders of 77 positions. This module
encodes them itself, as AUTOMATIC1111's web UI does (``modules/sd_hijack_clip.py``,
``modules/sd_emphasis.py``), rather than through compel: compel raises weights by scaling the
difference from the empty prompt's embedding and lowers them by blending with extra encodings
that leave the words out (``compel/embeddings_provider.py``), not what A1111-style prompts
were written for, and it would bring a second parser with a syntax of its own. Here:

- the prompt's tokens are cut into chunks of 75, a ``BREAK`` closes a chunk early; each chunk is
  ``[BOS] tokens [EOS] padding`` as the pipeline's own tokenizer call lays it out, encoded on
  its own, and the chunks are concatenated along the sequence axis;
- weights scale each token's embedding, then the chunk is scaled back to its mean before
  weighting (A1111's "Original" emphasis); a chunk whose weights are all 1 is left exactly as
  encoded, so an unweighted prompt of up to 75 tokens gives the embeddings diffusers makes;
- the prompts of a batch, and the negative prompts, are padded with empty chunks to the same
  length (A1111 pads with its ``empty_chunk``); each image has its own embeddings, so images
  whose wildcards chose differently run in one call;
- SDXL: both encoders' penultimate hidden states side by side (as diffusers' ``encode_prompt``
  takes them), the pooled embedding from the first chunk; an empty negative prompt is zeros
  where the model's ``force_zeros_for_empty_prompt`` says so, as in diffusers.

SD3 and FLUX.1 read the prompt's plain text: their CLIPs are cut at 77 tokens by the pipeline,
as always, and the T5 encoder reads the whole text (``prompt_3`` and ``prompt_2`` default to
``prompt``). SD3's T5 reads 256 tokens unless told more, FLUX.1's 512, and neither takes more
than 512 (diffusers' ``max_sequence_length``, https://github.com/huggingface/diffusers/pull/8506):
a prompt longer than the default is given the length it needs, and a notice says when even 512
cut it. Weights and ``BREAK``, which these models cannot use, are named in a notice too.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.loaders import TextualInversionLoaderMixin
from diffusers.utils.torch_utils import get_module_execution_device

from sfumato.generation.prompt_syntax import JobPrompts, ResolvedPrompt, ignored_syntax_notice, parse_prompt
from sfumato.inference.families import TRAITS, Architecture

T5_MAX_TOKENS = 512
"""The longest T5 sequence the SD3 and FLUX.1 pipelines accept (their ``check_inputs``)."""

_EMPTY = parse_prompt("").resolve(0)
"""The empty prompt: the negative prompt when none is given."""


@dataclass(frozen=True)
class _Chunk:
    """One text-encoder window: token ids with their specials and padding, one weight each."""

    ids: tuple[int, ...]
    weights: tuple[float, ...]


def prompt_arguments(
    pipe: Any, architecture: Architecture, job: JobPrompts, guidance: float
) -> dict[str, Any]:
    """The pipeline-call arguments that carry ``job``'s prompts, one entry per image.

    For SD 1.x/2.x/SDXL the embeddings (negative ones when ``guidance`` makes the pipeline use
    them); for SD3 and FLUX.1 the plain texts (and, for SD3, the T5 length they need).
    """
    if not _weighs(architecture):
        arguments: dict[str, Any] = {"prompt": [p.plain for p in job.prompts]}
        if job.negatives is not None:
            arguments["negative_prompt"] = [n.plain for n in job.negatives]
        length = _t5_length(pipe, architecture, job)
        if length is not None and length > _t5_default(pipe):
            arguments["max_sequence_length"] = min(length, T5_MAX_TOKENS)
        return arguments
    with torch.no_grad():
        return _embeddings(pipe, architecture is Architecture.SDXL, job, guidance > 1.0)


def prompt_notices(pipe: Any, architecture: Architecture, job: JobPrompts) -> list[str]:
    """What ``pipe``'s model ignores of ``job``'s prompts: weights and ``BREAK`` on SD3 and
    FLUX.1, and text past the longest T5 sequence."""
    if _weighs(architecture):
        return []
    label = TRAITS[architecture].label
    notices = []
    ignored = ignored_syntax_notice(label, job.prompts, job.negatives or ())
    if ignored is not None:
        notices.append(ignored)
    length = _t5_length(pipe, architecture, job)
    if length is not None and length > T5_MAX_TOKENS:
        notices.append(
            f"The prompt is {length} T5 tokens long; {label} reads the first {T5_MAX_TOKENS} and the rest "
            "was left out."
        )
    return notices


def _weighs(architecture: Architecture) -> bool:
    """Whether the architecture reads its prompts through CLIPs alone, which this module weights."""
    return not TRAITS[architecture].plain_text_prompts


def _t5_length(pipe: Any, architecture: Architecture, job: JobPrompts) -> int | None:
    """The T5 tokens of the longest prompt of ``job``, its end token included (``None``: the
    model runs without its T5)."""
    suffix = "_3" if architecture is Architecture.SD3 else "_2"
    tokenizer = getattr(pipe, "tokenizer" + suffix, None)
    if tokenizer is None or getattr(pipe, "text_encoder" + suffix, None) is None:
        return None
    texts = [p.plain for p in (*job.prompts, *(job.negatives or ()))]
    return max(len(ids) for ids in tokenizer(texts, verbose=False).input_ids)


def _t5_default(pipe: Any) -> int:
    """The T5 length the pipeline reads when not told otherwise."""
    return int(inspect.signature(pipe.__call__).parameters["max_sequence_length"].default)


def _embeddings(pipe: Any, xl: bool, job: JobPrompts, negative: bool) -> dict[str, Any]:
    encoders = [
        (tokenizer, encoder)
        for tokenizer, encoder in (
            (getattr(pipe, "tokenizer", None), getattr(pipe, "text_encoder", None)),
            (getattr(pipe, "tokenizer_2", None), getattr(pipe, "text_encoder_2", None)),
        )
        if tokenizer is not None and encoder is not None
    ]
    count = len(job.prompts)
    zeros = negative and job.negatives is None and xl and bool(pipe.config.force_zeros_for_empty_prompt)
    texts: list[ResolvedPrompt] = list(job.prompts)
    if negative and not zeros:
        texts += job.negatives if job.negatives is not None else [_EMPTY] * count
    chunked = [[_chunks(pipe, tokenizer, text) for text in texts] for tokenizer, _ in encoders]
    length = max(len(chunks) for per_text in chunked for chunks in per_text)
    hidden: list[torch.Tensor] = []
    pooled: torch.Tensor | None = None
    for (tokenizer, encoder), per_text in zip(encoders, chunked, strict=True):
        states, pooled_here = _encode(encoder, tokenizer, per_text, length, xl)
        hidden.append(states)
        if pooled is None:
            pooled = pooled_here
    device = pipe._execution_device
    embeds = torch.cat(hidden, dim=-1).to(dtype=encoders[-1][1].dtype, device=device)
    arguments: dict[str, Any] = {"prompt_embeds": embeds[:count]}
    if xl:
        assert pooled is not None  # SDXL's second encoder projects its pooled output
        pooled = pooled.to(dtype=encoders[-1][1].dtype, device=device)
        arguments["pooled_prompt_embeds"] = pooled[:count]
    if negative:
        arguments["negative_prompt_embeds"] = torch.zeros_like(embeds) if zeros else embeds[count:]
        if xl:
            assert pooled is not None
            arguments["negative_pooled_prompt_embeds"] = torch.zeros_like(pooled) if zeros else pooled[count:]
    return arguments


def _chunks(pipe: Any, tokenizer: Any, prompt: ResolvedPrompt) -> list[_Chunk]:
    """``prompt``'s tokens in 75-token windows, a ``BREAK`` closing one early (A1111's
    ``tokenize_line``: a window is closed when the next token does not fit, at a ``BREAK``, and at
    the end if it holds tokens or is the only one)."""
    capacity = tokenizer.model_max_length - 2
    chunks: list[_Chunk] = []
    ids: list[int] = []
    weights: list[float] = []

    def close() -> None:
        chunks.append(_window(tokenizer, ids, weights))
        ids.clear()
        weights.clear()

    embeddings = [t for t in tokenizer.added_tokens_encoder if t not in tokenizer.all_special_tokens]
    for index, segment in enumerate(prompt.segments):
        for fragment in segment:
            text = fragment.text
            if isinstance(pipe, TextualInversionLoaderMixin) and any(t in text for t in embeddings):
                text = pipe.maybe_convert_prompt(text, tokenizer)  # a multi-vector embedding's other tokens
            for token in tokenizer(text, add_special_tokens=False, truncation=False, verbose=False).input_ids:
                if len(ids) == capacity:
                    close()
                ids.append(token)
                weights.append(fragment.weight)
        if index < len(prompt.segments) - 1:
            close()
    if ids or not chunks:
        close()
    return chunks


def _window(tokenizer: Any, ids: Sequence[int], weights: Sequence[float]) -> _Chunk:
    """``[BOS] ids [EOS]`` padded to the tokenizer's length with its padding token, as the
    pipelines' ``tokenizer(..., padding="max_length")`` lays a prompt out."""
    pad = tokenizer.model_max_length - len(ids) - 2
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return _Chunk(
        (tokenizer.bos_token_id, *ids, tokenizer.eos_token_id, *[pad_id] * pad),
        (1.0, *weights, 1.0, *[1.0] * pad),
    )


def _encode(
    encoder: Any, tokenizer: Any, per_text: list[list[_Chunk]], length: int, xl: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Each text's chunks (padded with empty ones to ``length``) through ``encoder``:
    ``(texts, length × 77, width)`` embeddings, weighted, and the pooled output of each text's
    first chunk where the encoder has one (``None`` otherwise).

    Every distinct window is encoded once and on its own: a batch of one, as a job of one image
    with that prompt encodes it, so an image from a batch is reproduced alone bit for bit (a
    matrix product's last bits can depend on how many rows it multiplies).
    """
    empty = _window(tokenizer, (), ())
    padded = [chunks + [empty] * (length - len(chunks)) for chunks in per_text]
    device = get_module_execution_device(encoder)
    encoded: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor | None]] = {}
    for chunk in (chunk for chunks in padded for chunk in chunks):
        if chunk.ids in encoded:
            continue
        ids = torch.tensor([chunk.ids], dtype=torch.long, device=device)
        mask = None
        if getattr(encoder.config, "use_attention_mask", False):
            mask = torch.tensor([_attention_mask(chunk.ids, tokenizer)], device=device)
        output = encoder(ids, attention_mask=mask, output_hidden_states=xl)
        # SDXL conditions on the penultimate layer; SD 1.x/2.x on the last, after its final norm
        states = output.hidden_states[-2] if xl else output[0]
        encoded[chunk.ids] = (states[0], output[0][0] if output[0].ndim == 2 else None)
    embeds = torch.stack([
        torch.cat([_weighted(encoded[chunk.ids][0], chunk.weights) for chunk in chunks]) for chunks in padded
    ])
    pooled = [encoded[chunks[0].ids][1] for chunks in padded]
    first = torch.stack([p for p in pooled if p is not None]) if pooled[0] is not None else None
    return embeds, first


def _attention_mask(ids: tuple[int, ...], tokenizer: Any) -> list[int]:
    """1 up to and including the first end-of-text token, 0 for the padding after it."""
    end = ids.index(tokenizer.eos_token_id, 1) + 1
    return [1] * end + [0] * (len(ids) - end)


def _weighted(states: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """One chunk's ``(77, width)`` embeddings with each token's scaled by its weight, then the
    whole scaled back to the mean it had (A1111's "Original" emphasis); unchanged when every
    weight is 1."""
    if all(weight == 1.0 for weight in weights):
        return states
    z = states.float()
    mean = z.mean()
    z = z * torch.tensor(weights, dtype=z.dtype, device=z.device).unsqueeze(-1)
    scaled = z.mean()
    if scaled != 0:
        z = z * (mean / scaled)
    return z.to(states.dtype)

