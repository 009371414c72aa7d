"""The prompt syntax: weights, escapes, BREAK, <lora:…> tags, wildcards, and malformed input."""

from __future__ import annotations

import random

import pytest

from sfumato.generation import InvalidRequestError, LoraUse, Txt2ImgRequest
from sfumato.generation.prompt_syntax import (
    Fragment,
    JobPrompts,
    ignored_syntax_notice,
    parse_prompt,
    with_loras,
)


def fragments(text: str, seed: int = 0) -> list[list[tuple[str, float]]]:
    """``text``'s segments as (text, weight) pairs, weights rounded to 6 places."""
    resolved = parse_prompt(text).resolve(seed)
    return [[(f.text, round(f.weight, 6)) for f in segment] for segment in resolved.segments]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a castle", [("a castle", 1.0)]),
        ("a (castle:1.3) b", [("a ", 1.0), ("castle", 1.3), (" b", 1.0)]),
        ("(castle)", [("castle", 1.1)]),
        ("((castle))", [("castle", 1.21)]),
        ("[castle]", [("castle", round(1 / 1.1, 6))]),
        ("[[castle]]", [("castle", round(1 / 1.21, 6))]),
        ("((castle:1.3))", [("castle", 1.43)]),  # an explicit weight multiplies with the brackets
        ("(a [b] c:2)", [("a ", 2.0), ("b", round(2 / 1.1, 6)), (" c", 2.0)]),
        ("(castle: 0.5 )", [("castle", 0.5)]),
        ("(castle:.5)", [("castle", 0.5)]),
        ("(castle:0)", [("castle", 0.0)]),
        ("a (castle:1.0) b", [("a castle b", 1.0)]),  # equal weights are one fragment
        ("()", []),
    ],
)
def test_weights_as_a1111_reads_them(text: str, expected: list[tuple[str, float]]) -> None:
    assert fragments(text) == [expected]


def test_weight_one_is_exactly_the_plain_word() -> None:
    weighted, plain = parse_prompt("a (word:1.0), b"), parse_prompt("a word, b")
    assert weighted.resolve(0).segments == plain.resolve(0).segments
    assert parse_prompt("(word:1)").resolve(0).segments == ((Fragment("word", 1.0),),)


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        (r"\(castle\)", "(castle)"),
        (r"\[a\] \{b\} c\|d e\:f \<lora:x:1> g\\h", "[a] {b} c|d e:f <lora:x:1> g\\h"),
        (r"C:\path\to", "C:\\path\\to"),  # a backslash before another character stays
        ("trailing\\", "trailing\\"),
        ("a) b] c} d|e f:g", "a) b] c} d|e f:g"),  # closing nothing: literal, as in A1111
        ("a <3 b < c", "a <3 b < c"),
        ("{(a|b)}", "a|b"),  # inside brackets '|' is a character
    ],
)
def test_escapes_and_unmatched_closers_are_characters(text: str, literal: str) -> None:
    resolved = parse_prompt(text).resolve(0)
    assert "".join(f.text for f in resolved.segments[0]) == literal
    assert resolved.loras == ()


def test_escaped_brackets_inside_a_weight() -> None:
    assert fragments(r"(anime \(style\):1.2)") == [[("anime (style)", 1.2)]]


def test_break_starts_a_segment() -> None:
    assert fragments("a castle BREAK a moat") == [[("a castle ", 1.0)], [(" a moat", 1.0)]]
    assert fragments("(a BREAK b:1.2)") == [[("a ", 1.2)], [(" b", 1.2)]]
    assert parse_prompt("BREAK a BREAK BREAK b").resolve(0).breaks == 3
    # only the upper-case word on its own
    assert len(fragments("break BREAKS aBREAK Break")) == 1


def test_lora_tags_become_lora_uses_and_leave_the_text() -> None:
    resolved = parse_prompt("<lora:film grain:0.8> a castle <lora:detail> (x <LORA:y:-0.5>:1.2)").resolve(0)
    assert resolved.loras == (LoraUse("film grain", 0.8), LoraUse("detail", 1.0), LoraUse("y", -0.5))
    assert resolved.plain == "a castle x"
    assert "<lora:" not in "".join(f.text for f in resolved.segments[0])
    # a Windows path keeps its drive letter
    windows = parse_prompt(r"<lora:C:\loras\ink.safetensors:0.5> <lora:D:/x.safetensors>").resolve(0)
    assert windows.loras == (LoraUse(r"C:\loras\ink.safetensors", 0.5), LoraUse("D:/x.safetensors", 1.0))


def test_wildcards_follow_the_seed() -> None:
    parsed = parse_prompt("a {red|green|blue} {castle|{tower|keep}}")
    # pinned: these are what images made with these seeds recorded; a change breaks reproduction
    assert [parsed.resolve(seed).text for seed in range(6)] == [
        "a blue tower", "a red keep", "a blue tower", "a red tower", "a red castle", "a green keep",
    ]
    assert parsed.resolve(7) == parsed.resolve(7)
    colours = {parsed.resolve(seed).plain.split()[1] for seed in range(40)}
    assert colours == {"red", "green", "blue"}


def test_wildcard_options_may_be_empty_and_carry_syntax() -> None:
    parsed = parse_prompt("castle{|, (fog:1.4)}")
    texts = {parsed.resolve(seed).text for seed in range(30)}
    assert texts == {"castle", "castle, (fog:1.4)"}
    foggy = next(parsed.resolve(s) for s in range(30) if "fog" in parsed.resolve(s).text)
    assert foggy.segments == ((Fragment("castle, ", 1.0), Fragment("fog", 1.4)),)
    assert foggy.weighted == ("(fog:1.4)",)


def test_resolved_text_parses_back_to_the_same_prompt() -> None:
    parsed = parse_prompt(r"<lora:ink:0.7> ({a|b} \{lit\}:1.2) [{c|d BREAK e}] \(x\)")
    for seed in range(12):
        resolved = parsed.resolve(seed)
        again = parse_prompt(resolved.text)
        for other in (0, 99):
            assert again.resolve(other) == resolved


def test_job_prompts_resolve_each_image_with_its_seed() -> None:
    seeds, prompt = (3, 4, 5, 6), "a {cat|dog|fox|owl}"
    job = JobPrompts.resolve(prompt, "{blur|noise}", seeds)
    assert [p.text for p in job.prompts] == [parse_prompt(prompt).resolve(s).text for s in seeds]
    assert job.negatives is not None and len(job.negatives) == 4
    assert job.written == tuple((p.text, n.text) for p, n in zip(job.prompts, job.negatives, strict=True))
    plain = JobPrompts.resolve("a <lora:ink:0.5> cat", "", (1, 2))
    assert plain.negatives is None and plain.written == (("a <lora:ink:0.5> cat", ""),) * 2
    assert plain.loras == (LoraUse("ink", 0.5),)


def test_with_loras_writes_tags_that_parse_back() -> None:
    uses = (LoraUse("ink", 0.7), LoraUse("/loras/grain.safetensors", 1.0), LoraUse("x", 1 / 3))
    text = with_loras("a castle <lora:detail:0.5>", uses)
    assert text.startswith("<lora:ink:0.7> <lora:/loras/grain.safetensors:1> <lora:x:0.3333333333333333> ")
    assert parse_prompt(text).resolve(0).loras == (*uses, LoraUse("detail", 0.5))
    assert with_loras("", uses[:1]) == "<lora:ink:0.7>" and with_loras("p", ()) == "p"


def test_notice_names_what_plain_text_models_ignore() -> None:
    prompts = [parse_prompt("a (castle:1.3) [fog] (moat:1.0) BREAK sky").resolve(0)]
    negatives = [parse_prompt("(blurry)").resolve(0)]
    assert ignored_syntax_notice("FLUX.1", prompts, negatives) == (
        "Weights ignored by FLUX.1, which reads the prompt as plain text: (castle:1.3), [fog], BREAK; "
        "negative prompt: (blurry)."
    )
    assert ignored_syntax_notice("FLUX.1", [parse_prompt("a castle (moat:1.0)").resolve(0)]) is None


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("a (castle", 3, "'(' is never closed"),
        ("a [castle", 3, "'[' is never closed"),
        ("((a)", 1, "'(' is never closed"),
        ("(a:x)", 3, "after ':' come a weight"),
        ("(a:1.2", 3, "after ':' come a weight"),
        ("(a:1.2 b)", 3, "after ':' come a weight"),
        ("(a:12)", 4, "weights go from 0 to 10"),
        ("(a:-1)", 4, "weights go from 0 to 10"),
        ("((((a:9))))", 4, "comes to 11.98"),
        ("a {}", 3, "nothing to choose from"),
        ("{|}", 1, "nothing to choose from"),
        ("{red|blue", 1, "'{' is never closed"),
        ("a <lora:ink", 3, "never closed"),
        ("a <lora:ink:0.5", 3, "never closed"),
        ("<lora::0.5>", 1, "needs a name"),
        ("<lora:ink:lots>", 11, "must be a number"),
        ("<lora:ink:20>", 1, "LoRA weight must be"),
        ("<lora:ink:0.5:1>", 1, "te:unet"),
        ("<hypernet:ink:1>", 1, "no <hypernet:…> tags"),
        ("{<lora:ink>|b}", 2, "cannot be a wildcard's option"),
        ("[cat:dog:10]", 5, "prompt editing"),
        ("[cat|dog]", 5, "alternation"),
        ("(" * 40 + "a" + ")" * 40, 33, "nest deeper"),
    ],
)
def test_malformed_input_names_the_column(text: str, column: int, says: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_prompt(text)
    message = str(caught.value)
    assert message.startswith(f"Prompt, column {column}: ") and says in message
    assert "\n" not in message


def test_errors_in_long_prompts_give_line_and_column() -> None:
    with pytest.raises(InvalidRequestError, match=r"^Negative prompt, line 2, column 4: '\(' is never"):
        parse_prompt("fine\nbad(", "Negative prompt")
    with pytest.raises(InvalidRequestError, match=r"^Prompt, line 1, column 3: the <lora: tag is never"):
        parse_prompt("a <lora:ink\n> b")  # a tag stays on its line


def test_requests_refuse_malformed_prompts_and_lora_tags_in_the_negative() -> None:
    with pytest.raises(InvalidRequestError, match=r"^Prompt, column 8: '\(' is never closed"):
        Txt2ImgRequest(model="m", prompt="castle (fog")
    with pytest.raises(InvalidRequestError, match=r"^Negative prompt, column 1: <lora:…> tags go in"):
        Txt2ImgRequest(model="m", prompt="castle", negative_prompt="<lora:ink:1> blur")
    Txt2ImgRequest(model="m", prompt="a (castle:1.2) {red|blue} <lora:ink:0.5>", negative_prompt="[blur]")


def test_random_garbage_parses_or_says_why() -> None:
    """Any text either parses (and its resolved text parses back to the same) or raises an
    InvalidRequestError with a one-line message naming the column: never another exception."""
    rng = random.Random(1234)
    pieces = [*"()[]{}|:<>\\ ab,.-0123456789\n", "BREAK", "<lora:", "lora", ":1.2)", "1e5", "é"]
    parsed_count = 0
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 30)))
        try:
            parsed = parse_prompt(text)
        except InvalidRequestError as exc:
            message = str(exc)
            assert message.startswith("Prompt, ") and "column" in message and "\n" not in message, text
            continue
        parsed_count += 1
        seed = rng.randrange(2**32)
        resolved = parsed.resolve(seed)
        assert parse_prompt(resolved.text).resolve(0) == resolved, text
    assert parsed_count > 300  # the corpus exercises both sides
