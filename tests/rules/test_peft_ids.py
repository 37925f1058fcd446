"""One Hub-id check for the rules (HL402) and the CLI (targets, mirrors): huggingface_hub's own limits."""

from __future__ import annotations

import pytest

from hublint.rules.peft.ids import is_hub_id, is_owned_hub_id


@pytest.mark.parametrize(
    "value", ["gpt2", "meta-llama/Llama-2-7b-hf", "a/" + "b" * 96, "Foo-BAR_foo.bar123", "_x/y_", "Qwen/Qwen2.5-0.5B"]
)
def test_ids_the_hub_accepts(value: str) -> None:
    assert is_hub_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a/" + "b" * 97,  # each part is at most 96 characters
        "datasets/foo/bar",
        ".repo",
        "repo-",
        "foo--bar",
        "foo..bar",
        "foo.git",
        "café/x",  # ASCII only
        "owner/name\n",
        "/abs/path",
    ],
)
def test_ids_the_hub_refuses(value: str) -> None:
    assert not is_hub_id(value)


def test_a_target_needs_an_owner() -> None:
    assert is_owned_hub_id("owner/name") and not is_owned_hub_id("gpt2")
