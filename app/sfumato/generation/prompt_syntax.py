r"""The one prompt syntax: weights, wildcards, ``BREAK`` and ``<lora:…>`` tags, for every model.

=======================  ===================================================================
``(castle:1.3)``         weight 1.3 (0 to 10)
``(castle)``             weight × 1.1; nesting multiplies: ``((castle))`` is 1.21
``[castle]``             weight ÷ 1.1
``\(`` ``\)`` ``\[`` …   the character itself; also ``\] \{ \} \| \: \< \\``
``<lora:name:0.8>``      apply the LoRA ``name`` at 0.8 (1 when left out); taken out of the text
``{red|green|blue}``     one option per image, chosen by the image's seed; options may nest
``BREAK``                (upper case, a word of its own) start a new 75-token chunk
=======================  ===================================================================

Weights and ``BREAK`` follow AUTOMATIC1111's web UI (``modules/prompt_parser.py``,
``parse_prompt_attention``; ``modules/sd_hijack_clip.py`` for chunks): an explicit weight
multiplies with the brackets around it (``((castle:1.3))`` is 1.43), and adjacent text of equal
weight is one fragment, so ``(castle:1.0)`` is exactly ``castle``. Embedding names are words like
any other (they can be weighted); the text encoder's tokenizer knows the ones that are loaded.

Lenient where A1111 is and it is harmless: a ``)``, ``]`` or ``}`` that closes nothing and a
``|`` outside braces are literal characters, as is a backslash before any other character.
Refused with the column and a one-line :class:`~sfumato.generation.requests.InvalidRequestError`:
an unclosed ``(``, ``[`` or ``{``; a ``:`` in ``( )`` not followed by a weight and ``)``
(``(a:x)``; write ``\:`` for a colon); weights outside 0–10, also when brackets multiply them
there; an empty ``{}``; an unclosed ``<lora:`` tag, ``<lora:name:te:unet>`` (A1111's separate
text-encoder and UNet weights: one weight here), other ``<kind:…>`` tags (hypernetworks,
LyCORIS); A1111's prompt editing ``[a:b:step]`` and alternation ``[a|b]``, which Sfumato does not
run; a ``<lora:…>`` tag inside a wildcard (every image of a batch runs with the same LoRAs).

Wildcards are chosen left to right with :class:`random.Random` seeded with the image's seed,
drawing with ``random()``, whose sequence Python keeps the same across versions for a given
seed (https://docs.python.org/3/library/random.html, "Notes on Reproducibility"): a seed
reproduces the prompt. :attr:`ResolvedPrompt.text` is the prompt as written with each wildcard
replaced by its choice, so it parses back to the same fragments and LoRAs with any seed.

numpy and stdlib only: the encoders that turn fragments into embeddings live in
:mod:`sfumato.inference.prompt_encoding`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from sfumato.generation.requests import InvalidRequestError, LoraUse

ROUND_BRACKET = 1.1
"""What ``( )`` multiplies the weight by (A1111's ``round_bracket_multiplier``)."""
SQUARE_BRACKET = 1 / 1.1
"""What ``[ ]`` multiplies the weight by."""
MAX_WEIGHT = 10.0
"""The largest weight a word may end up with, brackets included."""
MAX_NESTING = 32
"""How deep brackets and wildcards may nest."""

SYNTAX_HINT = (
    "(word:1.3) weight · (word) ×1.1 · [word] ÷1.1 · \\( \\) literal · <lora:name:0.8> · "
    "{red|blue} one per image, by seed · BREAK new chunk"
)
"""One line that sums the syntax up, for a hint next to a prompt field."""

_ESCAPABLE = frozenset("()[]{}|:<>\\")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_WEIGHT = re.compile(rf"\s*({_NUMBER})\s*\)")
_LORA_WEIGHT = re.compile(rf"\s*({_NUMBER})\s*")
_TAG = re.compile(r"<([A-Za-z_]\w*):")
_BREAK = re.compile(r"\bBREAK\b")
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")


@dataclass(frozen=True)
class Fragment:
    """A run of prompt text with one weight (escapes resolved, syntax removed)."""

    text: str
    weight: float


@dataclass(frozen=True)
class ResolvedPrompt:
    """A prompt with its wildcards chosen for one image: what the text encoders get."""

    text: str
    """The prompt as written, each wildcard replaced by its choice (tags, weights, escapes and
    ``BREAK`` kept): what the image's metadata records; it parses back to this same prompt."""
    segments: tuple[tuple[Fragment, ...], ...]
    """The fragments between ``BREAK``s, in order (one segment when there is none; a segment
    may be empty, as between two ``BREAK``s)."""
    loras: tuple[LoraUse, ...]
    """The ``<lora:…>`` tags, in the order written."""
    weighted: tuple[str, ...]
    """The outermost bracketed parts whose words carry a weight other than 1, as written
    (``(castle:1.3)``, ``[fog]``): what a model that cannot weight words ignores."""

    @property
    def breaks(self) -> int:
        """How many ``BREAK``s the prompt has."""
        return len(self.segments) - 1

    @property
    def plain(self) -> str:
        """The words without any syntax, for encoders that read plain text (T5): ``BREAK`` is a
        space and runs of white space are one space."""
        return " ".join(" ".join("".join(f.text for f in segment) for segment in self.segments).split())


@dataclass(frozen=True)
class _Text:
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class _Break:
    start: int
    end: int


@dataclass(frozen=True)
class _Lora:
    use: LoraUse
    start: int
    end: int


@dataclass(frozen=True)
class _Group:
    children: tuple[_Node, ...]
    multiplier: float
    start: int
    body_start: int
    body_end: int
    end: int


@dataclass(frozen=True)
class _Wildcard:
    options: tuple[tuple[_Node, ...], ...]
    start: int
    end: int


_Node = _Text | _Break | _Lora | _Group | _Wildcard


@dataclass(frozen=True)
class ParsedPrompt:
    """A prompt checked and parsed: :meth:`resolve` chooses its wildcards for one image."""

    source: str
    _nodes: tuple[_Node, ...]

    def resolve(self, seed: int) -> ResolvedPrompt:
        """The prompt for the image with ``seed``: each wildcard replaced by the option a
        :class:`random.Random` seeded with ``seed`` draws, left to right."""
        walk = _Walk(self.source, random.Random(seed))
        walk.nodes(self._nodes, 1.0, outermost=True)
        segments = tuple(_merged(segment) for segment in walk.segments)
        weighted = tuple(dict.fromkeys(walk.weighted))
        return ResolvedPrompt("".join(walk.text), segments, tuple(walk.loras), weighted)


def parse_prompt(text: str, what: str = "Prompt", allow_loras: bool = True) -> ParsedPrompt:
    """Parse ``text`` in the prompt syntax (see the module's docs).

    Raises :class:`~sfumato.generation.requests.InvalidRequestError` for malformed input, with
    ``what`` ("Prompt", "Negative prompt"), the column (and line, for several) and what to write;
    without ``allow_loras``, for a ``<lora:…>`` tag too.
    """
    parser = _Parser(text, what, allow_loras)
    nodes = parser.sequence("", 0)
    _check_weights(nodes, 1.0, parser)
    return ParsedPrompt(text, tuple(nodes))


def parse_prompts(prompt: str, negative_prompt: str) -> tuple[ParsedPrompt, ParsedPrompt]:
    """A request's prompt and negative prompt parsed; the negative prompt takes no ``<lora:…>`` tags."""
    return parse_prompt(prompt), parse_prompt(negative_prompt, "Negative prompt", allow_loras=False)


@dataclass(frozen=True)
class JobPrompts:
    """The prompts of one job's images, each resolved with its image's seed."""

    prompts: tuple[ResolvedPrompt, ...]
    negatives: tuple[ResolvedPrompt, ...] | None
    """``None`` when the job has no negative prompt."""

    @classmethod
    def resolve(cls, prompt: str, negative_prompt: str, seeds: Sequence[int]) -> JobPrompts:
        """``prompt`` and ``negative_prompt`` (each drawing its wildcards from the seed on its own)
        for the images with ``seeds``."""
        parsed, negative = parse_prompts(prompt, negative_prompt)
        negatives = tuple(negative.resolve(seed) for seed in seeds) if negative_prompt else None
        return cls(tuple(parsed.resolve(seed) for seed in seeds), negatives)

    @property
    def loras(self) -> tuple[LoraUse, ...]:
        """The prompt's ``<lora:…>`` tags: the same for every image (tags cannot sit in wildcards)."""
        return self.prompts[0].loras if self.prompts else ()

    @property
    def written(self) -> tuple[tuple[str, str], ...]:
        """Each image's prompt and negative prompt with its wildcards chosen, as its metadata
        records them (:attr:`ResolvedPrompt.text`)."""
        if self.negatives is None:
            return tuple((p.text, "") for p in self.prompts)
        return tuple((p.text, n.text) for p, n in zip(self.prompts, self.negatives, strict=True))


def with_loras(prompt: str, loras: Sequence[LoraUse]) -> str:
    """``prompt`` with a ``<lora:name:weight>`` tag for each of ``loras`` in front, so that the
    text alone says which LoRAs ran, in the order they were applied."""
    tags = [f"<lora:{use.name}:{_number(use.weight)}>" for use in loras]
    return " ".join([*tags, prompt] if prompt else tags)


def ignored_syntax_notice(
    label: str, prompts: Sequence[ResolvedPrompt], negatives: Sequence[ResolvedPrompt] = ()
) -> str | None:
    """For a model (``label``, e.g. "FLUX.1") whose text encoders read plain text: the notice that
    names the weights and ``BREAK`` its prompts carry, which it ignores (``None``: nothing is).

    ``prompts`` and ``negatives`` are the resolved prompts of a job's images.
    """
    parts: list[str] = []
    for kind, resolved in (("", prompts), ("negative prompt: ", negatives)):
        pieces = list(dict.fromkeys(piece for r in resolved for piece in r.weighted))
        if any(r.breaks for r in resolved):
            pieces.append("BREAK")
        if pieces:
            parts.append(kind + ", ".join(pieces))
    if not parts:
        return None
    return f"Weights ignored by {label}, which reads the prompt as plain text: {'; '.join(parts)}."


def _number(value: float) -> str:
    """``value`` as the shortest text that reads back as the same float (``1``, ``0.8``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _where(text: str, index: int) -> str:
    """"column N" (1-based), or "line L, column N" in a prompt of several lines."""
    line = text.count("\n", 0, index)
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line + 1}, column {column}" if "\n" in text else f"column {column}"


class _Parser:
    """Recursive descent over the characters of one prompt."""

    def __init__(self, text: str, what: str, allow_loras: bool) -> None:
        self.text = text
        self.what = what
        self.allow_loras = allow_loras
        self.pos = 0
        self.in_wildcard = 0

    def fail(self, index: int, message: str) -> NoReturn:
        raise InvalidRequestError(f"{self.what}, {_where(self.text, index)}: {message}")

    def sequence(self, closers: str, depth: int) -> list[_Node]:
        """Nodes up to the first of ``closers`` at this level (not consumed) or the end."""
        text = self.text
        nodes: list[_Node] = []
        chars: list[str] = []
        starts: list[int] = []

        def flush() -> None:
            if chars:
                nodes.extend(_text_nodes("".join(chars), starts, self.pos))
                chars.clear()
                starts.clear()

        while self.pos < len(text):
            char = text[self.pos]
            if char in closers:
                break
            if char == "\\":
                starts.append(self.pos)
                following = text[self.pos + 1 : self.pos + 2]
                if following and following in _ESCAPABLE:
                    chars.append(following)
                    self.pos += 2
                else:
                    chars.append(char)
                    self.pos += 1
                continue
            tag = _TAG.match(text, self.pos) if char == "<" else None
            if char in "([{" or tag is not None:
                flush()
                if depth >= MAX_NESTING:
                    self.fail(self.pos, f"brackets nest deeper than {MAX_NESTING} levels.")
                if tag is not None:
                    nodes.append(self.tag(tag))
                elif char == "{":
                    nodes.append(self.wildcard(depth + 1))
                else:
                    nodes.append(self.group(char, depth + 1))
                continue
            starts.append(self.pos)
            chars.append(char)
            self.pos += 1
        flush()
        return nodes

    def group(self, opening: str, depth: int) -> _Group:
        start = self.pos
        self.pos += 1
        closing = ")" if opening == "(" else "]"
        children = self.sequence(closing + ":" if opening == "(" else "]:|", depth)
        body_end = self.pos
        if self.pos >= len(self.text):
            self.fail(start, f"'{opening}' is never closed: add '{closing}', or write \\{opening} for the "
                             "character itself.")
        char = self.text[self.pos]
        multiplier = ROUND_BRACKET if opening == "(" else SQUARE_BRACKET
        if char == ":" and opening == "(":
            weight = _WEIGHT.match(self.text, self.pos + 1)
            if weight is None:
                self.fail(self.pos, "after ':' come a weight and ')', as in (castle:1.3); write \\: for a "
                                    "colon.")
            multiplier = float(weight.group(1))
            if not 0.0 <= multiplier <= MAX_WEIGHT:
                self.fail(weight.start(1), f"weights go from 0 to {MAX_WEIGHT:g} (got {weight.group(1)}).")
            self.pos = weight.end()
        elif char in ":|":
            self.fail(self.pos, f"'{char}' in [ ] is A1111's prompt editing or alternation, which Sfumato "
                                "does not run: use {a|b} for a choice per image, (word:0.5) for a lower "
                                f"weight, or \\{char} for the character.")
        else:
            self.pos += 1
        return _Group(tuple(children), multiplier, start, start + 1, body_end, self.pos)

    def wildcard(self, depth: int) -> _Wildcard:
        start = self.pos
        self.pos += 1
        options: list[tuple[_Node, ...]] = []
        self.in_wildcard += 1
        while True:
            options.append(tuple(self.sequence("|}", depth)))
            if self.pos >= len(self.text):
                self.fail(start, "'{' is never closed: add '}', or write \\{ for the character itself.")
            char = self.text[self.pos]
            self.pos += 1
            if char == "}":
                break
        self.in_wildcard -= 1
        if not any(options):
            self.fail(start, "the wildcard has nothing to choose from: give options, as in {red|blue}.")
        return _Wildcard(tuple(options), start, self.pos)

    def tag(self, match: re.Match[str]) -> _Lora:
        start = self.pos
        kind = match.group(1)
        end = self.text.find(">", match.end())
        line_end = self.text.find("\n", match.end())
        if end < 0 or 0 <= line_end < end:  # a tag stays on its line
            self.fail(start, f"the <{kind}: tag is never closed: add '>', or write \\< for the character "
                             "itself.")
        if kind.lower() != "lora":
            self.fail(start, f"Sfumato reads no <{kind}:…> tags; LoRAs are written <lora:name:weight>.")
        if not self.allow_loras:
            self.fail(start, "<lora:…> tags go in the prompt.")
        if self.in_wildcard:
            self.fail(start, "a <lora:…> tag cannot be a wildcard's option: every image of a batch runs "
                             "with the same LoRAs.")
        body = self.text[match.end() : end]
        drive = 2 if _DRIVE.match(body) else 0  # a Windows path: <lora:C:\loras\x.safetensors:0.8>
        parts = body[drive:].split(":")
        parts[0] = body[:drive] + parts[0]
        if len(parts) > 2:
            self.fail(start, "<lora:name:te:unet> (separate text-encoder and UNet weights) is not "
                             "supported: give one weight, as in <lora:name:0.8>.")
        weight = 1.0
        if len(parts) == 2:
            number = _LORA_WEIGHT.fullmatch(parts[1])
            if number is None:
                self.fail(match.end() + len(parts[0]) + 1, "the LoRA weight must be a number, as in "
                                                           "<lora:name:0.8>.")
            weight = float(number.group(1))
        try:
            use = LoraUse(parts[0].strip(), weight)
        except InvalidRequestError as exc:
            self.fail(start, str(exc))
        self.pos = end + 1
        return _Lora(use, start, self.pos)


def _text_nodes(value: str, starts: list[int], end: int) -> list[_Node]:
    """Literal text (``starts``: where each of its characters begins in the source; ``end``:
    where it ends) as text nodes, with each ``BREAK`` a node of its own."""
    nodes: list[_Node] = []

    def source(index: int) -> int:
        return starts[index] if index < len(starts) else end

    at = 0
    for match in _BREAK.finditer(value):
        if match.start() > at:
            nodes.append(_Text(value[at : match.start()], source(at), source(match.start())))
        nodes.append(_Break(source(match.start()), source(match.end())))
        at = match.end()
    if at < len(value):
        nodes.append(_Text(value[at:], source(at), end))
    return nodes


def _check_weights(nodes: Sequence[_Node], weight: float, parser: _Parser) -> None:
    """Refuse a bracket that brings a weight above :data:`MAX_WEIGHT` (whatever the seed)."""
    for node in nodes:
        if isinstance(node, _Group):
            inner = weight * node.multiplier
            if inner > MAX_WEIGHT:
                parser.fail(node.start, f"with the brackets around it this weight comes to {inner:.4g}; "
                                        f"the most is {MAX_WEIGHT:g}.")
            _check_weights(node.children, inner, parser)
        elif isinstance(node, _Wildcard):
            for option in node.options:
                _check_weights(option, weight, parser)


class _Walk:
    """Resolving the parsed nodes for one seed: fragments, tags and the resolved text."""

    def __init__(self, source: str, rng: random.Random) -> None:
        self.source = source
        self.rng = rng
        self.text: list[str] = []
        self.segments: list[list[Fragment]] = [[]]
        self.loras: list[LoraUse] = []
        self.weighted: list[str] = []

    def nodes(self, nodes: Sequence[_Node], weight: float, outermost: bool) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.segments[-1].append(Fragment(node.value, weight))
                self.text.append(self.source[node.start : node.end])
            elif isinstance(node, _Break):
                self.segments.append([])
                self.text.append(self.source[node.start : node.end])
            elif isinstance(node, _Lora):
                self.loras.append(node.use)
                self.text.append(self.source[node.start : node.end])
            elif isinstance(node, _Group):
                first_text, first_fragment = len(self.text), self._fragment_count()
                self.text.append(self.source[node.start : node.body_start])
                self.nodes(node.children, weight * node.multiplier, outermost=False)
                self.text.append(self.source[node.body_end : node.end])
                if outermost and self._weighs(first_fragment):
                    self.weighted.append("".join(self.text[first_text:]))
            else:
                option = node.options[int(self.rng.random() * len(node.options))]
                self.nodes(option, weight, outermost)

    def _fragment_count(self) -> tuple[int, int]:
        return len(self.segments) - 1, len(self.segments[-1])

    def _weighs(self, since: tuple[int, int]) -> bool:
        """Whether a fragment added since ``since`` has a weight other than 1."""
        segment, index = since
        added = self.segments[segment][index:] + [f for s in self.segments[segment + 1 :] for f in s]
        return any(f.weight != 1.0 and f.text.strip() for f in added)


def _merged(fragments: list[Fragment]) -> tuple[Fragment, ...]:
    """Adjacent fragments of equal weight as one (as A1111 merges them), empty ones left out."""
    merged: list[Fragment] = []
    for fragment in fragments:
        if not fragment.text:
            continue
        if merged and merged[-1].weight == fragment.weight:
            merged[-1] = Fragment(merged[-1].text + fragment.text, fragment.weight)
        else:
            merged.append(fragment)
    return tuple(merged)
