"""Minimal-diff metadata edits (bot/fixes.py): only the fixed key changes, formatting survives."""

from __future__ import annotations

import difflib
import json

import pytest
import yaml

from hublint.fixes import (
    BaseCandidate,
    EditError,
    add_card_section,
    base_candidates,
    set_card_base,
    set_config_base,
    verified_base,
)

PEFT_CONFIG = """{
  "alpha_pattern": {},
  "base_model_name_or_path": "/root/.cache/huggingface/hub/models--meta-llama--Llama-2-7b-hf/snapshots/abc",
  "bias": "none",
  "lora_alpha": 16,
  "r": 8,
  "target_modules": [
    "q_proj",
    "v_proj"
  ],
  "task_type": "CAUSAL_LM"
}"""


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_config_edit_changes_one_line_and_keeps_key_order() -> None:
    edited = set_config_base(PEFT_CONFIG, "meta-llama/Llama-2-7b-hf")
    assert changed_lines(PEFT_CONFIG, edited) == [
        '-  "base_model_name_or_path": "/root/.cache/huggingface/hub/models--meta-llama--Llama-2-7b-hf/snapshots/abc",',
        '+  "base_model_name_or_path": "meta-llama/Llama-2-7b-hf",',
    ]
    assert list(json.loads(edited)) == list(json.loads(PEFT_CONFIG))


def test_config_edit_ignores_the_key_nested_elsewhere_and_a_null_value() -> None:
    text = '{"extra": {"base_model_name_or_path": "keep"},\n\t"base_model_name_or_path": null, "r": 4}'
    edited = set_config_base(text, "org/base")
    assert json.loads(edited) == {
        "extra": {"base_model_name_or_path": "keep"},
        "base_model_name_or_path": "org/base",
        "r": 4,
    }
    assert edited == text.replace("null", '"org/base"')


def test_config_without_the_key_gets_it_first_with_the_files_indentation() -> None:
    text = '{\n    "r": 8,\n    "peft_type": "LORA"\n}\n'
    edited = set_config_base(text, "org/base")
    assert edited == '{\n    "base_model_name_or_path": "org/base",\n    "r": 8,\n    "peft_type": "LORA"\n}\n'


def test_unparsable_config_is_an_edit_error() -> None:
    with pytest.raises(EditError):
        set_config_base("{not json", "org/base")


CARD = """---
# trained on my laptop
library_name: peft
base_model: /home/me/models/Llama-2-7b-hf
tags:
- 'lora'   # quoted on purpose
---

# My adapter
base_model: this line is prose, not metadata
"""


def test_card_edit_replaces_only_the_front_matter_value() -> None:
    edited = set_card_base(CARD, "meta-llama/Llama-2-7b-hf")
    assert changed_lines(CARD, edited) == [
        "-base_model: /home/me/models/Llama-2-7b-hf",
        "+base_model: meta-llama/Llama-2-7b-hf",
    ]


def test_card_edit_replaces_a_block_list_and_adds_a_missing_key() -> None:
    listed = "---\nbase_model:\n- /tmp/x\n- other/y\nlicense: mit\n---\ntext\n"
    assert set_card_base(listed, "org/base") == "---\nbase_model: org/base\nlicense: mit\n---\ntext\n"
    missing = "---\nlicense: mit\n---\ntext\n"
    assert set_card_base(missing, "org/base") == "---\nlicense: mit\nbase_model: org/base\n---\ntext\n"
    assert set_card_base("# Title\n", "org/base") == "---\nbase_model: org/base\n---\n\n# Title\n"
    assert yaml.safe_load(set_card_base(None, "org/base").split("---")[1]) == {"base_model": "org/base"}


def test_card_section_is_appended_once() -> None:
    once = add_card_section("# A\n", "How to load", "```python\nx = 1\n```")
    twice = add_card_section(once, "How to load", "```python\nx = 2\n```")
    assert twice.count("## How to load") == 1 and "x = 2" in twice and twice.startswith("# A\n")


@pytest.mark.parametrize(
    ("value", "card", "expected"),
    [
        ("/root/.cache/huggingface/hub/models--org--base/snapshots/" + "a" * 40, None, ["org/base"]),
        ("/data/ckpt/meta-llama/Llama-2-7b-hf", None, ["meta-llama/Llama-2-7b-hf"]),
        ("/data/ckpt/meta-llama/Llama-2-7b-hf/", {"base_model": "other/x"}, ["meta-llama/Llama-2-7b-hf", "other/x"]),
        (None, {"base_model": ["org/base"]}, ["org/base"]),
        ("./output", None, []),
        ("org/config-base", {"base_model": "org/card-base"}, ["org/config-base", "org/card-base"]),
    ],
)
def test_base_candidates(value: object, card: dict | None, expected: list[str]) -> None:
    assert [c.model_id for c in base_candidates(value, card)] == expected


def test_only_one_fitting_candidate_is_verified() -> None:
    a, b = BaseCandidate("org/a", "x"), BaseCandidate("org/b", "y")
    assert verified_base([a, b], lambda i: i == "org/b")[0] == b
    assert verified_base([a, b], lambda i: True)[0] is None  # ambiguous
    assert verified_base([a], lambda i: False)[0] is None
    assert verified_base([], lambda i: True)[0] is None


@pytest.mark.parametrize("front", ["a: [" * 5000, "d: 2024-02-30", "n: 1" + "0" * 5000 + "\n- x", "- a\n- b"])
def test_a_card_yaml_cannot_edit_is_an_edit_error_never_a_crash(front: str) -> None:
    with pytest.raises(EditError):
        set_card_base(f"---\n{front}\n---\n", "org/base")
