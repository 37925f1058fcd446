"""HL601's version table and option checking; its verdicts are in tests/rules/cases/HL601.yml."""

from __future__ import annotations

import pytest

from hublint.rules.compat.hl601_requires_newer_peft import RequiresNewerPeft
from hublint.rules.compat.versions import parse_version, requirements
from tests.builders import lora_config


def test_min_version_is_validated():
    with pytest.raises(ValueError, match="min_version"):
        RequiresNewerPeft({"min_version": "latest"})


def test_version_table_helpers():
    assert parse_version("0.20.1.dev0@abc123") == (0, 20, 1)
    assert parse_version("0.14") == (0, 14, 0)
    assert parse_version(None) is None
    found = requirements(lora_config(use_dora=True, target_modules="all-linear", init_lora_weights="olora"))
    assert [(r.version, r.kind) for r in found] == [
        ((0, 12, 0), "init"),
        ((0, 9, 0), "field"),  # use_dora
        ((0, 9, 0), "keys"),  # PEFT < 0.14 rejects the key use_dora even when it is false
        ((0, 8, 0), "target"),  # target_modules="all-linear"
        ((0, 3, 0), "field"),  # init_lora_weights other than True
    ]
