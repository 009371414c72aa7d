"""The Generate panel's live prompt check, without Qt: what a job would fail with, what the model
ignores, which of the prompt's LoRAs are not installed."""

from __future__ import annotations

from sfumato.session.prompt_check import PromptCheck, check_prompts, traits_for


def test_a_malformed_prompt_gives_the_one_line_error_a_job_would_fail_with() -> None:
    check = check_prompts("a {red|blue", "", 1, "sd15")
    assert check.error is not None and check.error.startswith("Prompt, column 3") and check.notices == ()
    negative = check_prompts("a castle", "(blurry:20)", 1, "sd15")
    assert negative.error is not None and negative.error.startswith("Negative prompt")


def test_weights_and_break_are_named_for_plain_text_models_only() -> None:
    prompt = "a (castle:1.3) BREAK a sky"
    assert check_prompts(prompt, "", 1, "sdxl") == PromptCheck()
    (notice,) = check_prompts(prompt, "[fog]", 1, "sd35-medium").notices
    assert notice == ("Weights ignored by Stable Diffusion 3, which reads the prompt as plain text: "
                      "(castle:1.3), BREAK; negative prompt: [fog].")
    assert check_prompts(prompt, "", 1, None) == PromptCheck()  # a model of no known family


def test_lora_tags_are_checked_only_once_the_installed_loras_are_known() -> None:
    prompt = "<lora:ink:0.5> <lora:gone:1> <lora:also-gone> a castle"
    assert check_prompts(prompt, "", 1, "sd15") == PromptCheck()
    (notice,) = check_prompts(prompt, "", 1, "sd15", has_lora=lambda name: name == "ink").notices
    assert notice.startswith("The prompt's LoRAs gone, also-gone are not installed")


def test_traits_follow_the_catalog_family() -> None:
    flux = traits_for("flux-schnell")
    assert flux is not None and flux.plain_text_prompts and flux.label == "FLUX.1"
    assert traits_for("cascade") is None
