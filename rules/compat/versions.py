"""The PEFT release that introduced each adapter_config.json field, init method and peft_type.

From research/peft.md sections 3 and 4 (config dataclasses diffed at every release tag). Defaults are what PEFT
0.21.2 writes for an unused field; a field set to its default asks nothing of the loader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hublint.rules.numbers import parse_int
from hublint.rules.peft.config import peft_type

Version = tuple[int, int, int]

FIRST_RELEASE: Version = (0, 1, 0)  # fields this old ask nothing of any PEFT a user could install
# PR #2038: from 0.14.0 unknown config keys are dropped with a warning; older releases raise TypeError.
FORWARD_COMPATIBLE: Version = (0, 14, 0)
# PEFT 0.1-0.2 LoraConfig keys, removed in 0.3.0: 0.3.0-0.13.x reject them as unknown keys, 0.14+ drops them.
LEGACY_KEYS = frozenset({"enable_lora", "merge_weights"})
LEGACY_REMOVED: Version = (0, 3, 0)


@dataclass(frozen=True)
class Field:
    since: Version
    default: Any = None


# PeftConfig fields shared by every peft_type.
BASE_FIELDS: Mapping[str, Field] = {
    "peft_type": Field(FIRST_RELEASE),
    "task_type": Field(FIRST_RELEASE),
    "base_model_name_or_path": Field(FIRST_RELEASE),
    "inference_mode": Field(FIRST_RELEASE, False),
    "revision": Field((0, 4, 0)),
    "auto_mapping": Field((0, 4, 0)),
    "peft_version": Field((0, 18, 0)),  # records the writer; asks nothing of the loader (see KEY_ONLY)
}
KEY_ONLY = frozenset({"peft_version"})

# LoraConfig.
LORA_FIELDS: Mapping[str, Field] = {
    "r": Field(FIRST_RELEASE, 8),
    "lora_alpha": Field(FIRST_RELEASE, 8),
    "lora_dropout": Field(FIRST_RELEASE, 0.0),
    "bias": Field(FIRST_RELEASE, "none"),
    "fan_in_fan_out": Field(FIRST_RELEASE, False),
    "target_modules": Field(FIRST_RELEASE),
    "modules_to_save": Field(FIRST_RELEASE),
    "init_lora_weights": Field((0, 3, 0), True),
    "layers_to_transform": Field((0, 4, 0)),
    "layers_pattern": Field((0, 4, 0)),
    "rank_pattern": Field((0, 6, 0), {}),
    "alpha_pattern": Field((0, 6, 0), {}),
    "megatron_config": Field((0, 7, 0)),
    "megatron_core": Field((0, 7, 0), "megatron.core"),
    "loftq_config": Field((0, 7, 0), {}),
    "use_rslora": Field((0, 8, 0), False),
    "use_dora": Field((0, 9, 0), False),
    "layer_replication": Field((0, 10, 0)),
    "runtime_config": Field((0, 12, 0)),
    "eva_config": Field((0, 14, 0)),
    "exclude_modules": Field((0, 14, 0)),
    "lora_bias": Field((0, 14, 0), False),
    "corda_config": Field((0, 15, 0)),
    "trainable_token_indices": Field((0, 15, 0)),
    "use_qalora": Field((0, 16, 0), False),
    "qalora_group_size": Field((0, 16, 0), 16),
    "target_parameters": Field((0, 17, 0)),
    "alora_invocation_tokens": Field((0, 18, 0)),
    "arrow_config": Field((0, 18, 0)),
    "ensure_weight_tying": Field((0, 18, 0), False),
    "lora_ga_config": Field((0, 19, 0)),
    "use_bdlora": Field((0, 19, 0)),
    "velora_config": Field((0, 20, 0)),
    "monteclora_config": Field((0, 20, 0)),
    "kasa_config": Field((0, 21, 0)),
}
# Only LoRA's fields are tabled; for other types only the shared fields and the type itself are judged.
FIELDS_BY_TYPE: Mapping[str, Mapping[str, Field]] = {"LORA": LORA_FIELDS}

# init_lora_weights strings, matched by prefix ("pissa_niter_16" is PiSSA).
INIT_SINCE: tuple[tuple[str, Version], ...] = (
    ("gaussian", (0, 7, 0)),
    ("loftq", (0, 7, 0)),
    ("pissa", (0, 11, 0)),
    ("olora", (0, 12, 0)),
    ("eva", (0, 14, 0)),
    ("corda", (0, 15, 0)),
    ("orthogonal", (0, 16, 0)),
    ("lora_ga", (0, 19, 0)),
    ("mica", (0, 20, 0)),
)
# "all-linear" as target_modules arrived with use_rslora.
ALL_LINEAR_SINCE: Version = (0, 8, 0)

PEFT_TYPE_SINCE: Mapping[str, Version] = {
    **dict.fromkeys(("LORA", "PROMPT_TUNING", "P_TUNING", "PREFIX_TUNING"), FIRST_RELEASE),
    **dict.fromkeys(("ADALORA", "ADAPTION_PROMPT"), (0, 3, 0)),
    "IA3": (0, 4, 0),
    **dict.fromkeys(("LOHA", "LOKR", "MULTITASK_PROMPT_TUNING"), (0, 6, 0)),
    "OFT": (0, 7, 0),
    "POLY": (0, 8, 0),
    **dict.fromkeys(("BOFT", "LN_TUNING", "VERA"), (0, 11, 0)),
    **dict.fromkeys(("FOURIERFT", "HRA", "XLORA"), (0, 12, 0)),
    "VBLORA": (0, 13, 0),
    **dict.fromkeys(("BONE", "CPT"), (0, 14, 0)),
    "TRAINABLE_TOKENS": (0, 15, 0),
    **dict.fromkeys(("C3A", "RANDLORA"), (0, 16, 0)),
    **dict.fromkeys(("MISS", "SHIRA"), (0, 17, 0)),
    **dict.fromkeys(("DELORA", "OSF", "ROAD", "WAVEFT"), (0, 18, 0)),
    **dict.fromkeys(("ADAMSS", "CARTRIDGE", "GRALORA", "LILY", "PEANUT", "PSOFT", "PVERA", "TINYLORA"), (0, 19, 0)),
    **dict.fromkeys(("BEFT", "DEFT", "FROD", "GLORA", "HIRA", "UNILORA"), (0, 20, 0)),
    **dict.fromkeys(("SUPERTUNING", "SHADOW"), (0, 21, 0)),
}


@dataclass(frozen=True)
class Requirement:
    version: Version
    reason: str  # e.g. "trainable_token_indices is set"
    kind: str = "field"  # field | keys | peft_type | init | target: decides how an older PEFT fails


def parse_version(text: object) -> Version | None:
    """'0.21.2', '0.20.1.dev0@abc123' -> (0, 21, 2) / (0, 20, 1); None if it is no version."""
    match = re.match(r"([0-9]+)\.([0-9]+)(?:\.([0-9]+))?", text) if isinstance(text, str) else None
    if match is None:
        return None
    major, minor, patch = (parse_int(part) for part in match.groups("0"))
    if major is None or minor is None or patch is None:
        return None  # more digits than any version has
    return major, minor, patch


def format_version(version: Version) -> str:
    return ".".join(map(str, version))


def requirements(config: Mapping[str, Any]) -> list[Requirement]:
    """What each notable part of the config asks of the loading PEFT, newest first."""
    kind = peft_type(config) or ""
    fields = {**BASE_FIELDS, **FIELDS_BY_TYPE.get(kind, {})}
    found = [
        Requirement(field.since, f"{name} is set")
        for name, field in fields.items()
        if name not in KEY_ONLY and name in config and _is_set(config[name], field.default)
    ]
    if kind in PEFT_TYPE_SINCE:
        found.append(Requirement(PEFT_TYPE_SINCE[kind], f"peft_type {kind}", "peft_type"))
    init = config.get("init_lora_weights")
    since = next((v for prefix, v in INIT_SINCE if isinstance(init, str) and init.lower().startswith(prefix)), None)
    if since:
        found.append(Requirement(since, f"init_lora_weights={init!r}", "init"))
    if config.get("target_modules") == "all-linear":
        found.append(Requirement(ALL_LINEAR_SINCE, "target_modules='all-linear'", "target"))
    key_floor = _strict_loader_floor(config, fields)
    if key_floor:
        found.append(key_floor)
    return sorted((r for r in found if r.version > FIRST_RELEASE), key=lambda r: r.version, reverse=True)


def _is_set(value: Any, default: Any) -> bool:
    return value != default and value not in (None, False, {}, [])


def _strict_loader_floor(config: Mapping[str, Any], fields: Mapping[str, Field]) -> Requirement | None:
    """PEFT < 0.14 raises TypeError on any key it doesn't know, whatever its value. PEFT writes every field,
    so an adapter from a newer PEFT carries such keys even when it uses none of them."""
    tabled = (peft_type(config) or "") in FIELDS_BY_TYPE
    since = {
        key: FORWARD_COMPATIBLE if key not in fields else fields[key].since
        for key in config
        # Other types' own fields are not tabled; legacy keys have their own verdict (`legacy_support`).
        if key not in LEGACY_KEYS and (key in fields or tabled)
    }
    floor = min(max(since.values(), default=FIRST_RELEASE), FORWARD_COMPATIBLE)
    if floor <= FIRST_RELEASE:
        return None
    newer = sorted(key for key, version in since.items() if version >= floor)
    return Requirement(floor, f"keys unknown to PEFT < {format_version(floor)}: {', '.join(newer[:4])}", "keys")


@dataclass(frozen=True)
class LegacySupport:
    """Which PEFT releases load a config that carries PEFT 0.1-0.2 keys (research/peft.md section 3)."""

    keys: tuple[str, ...]
    loads_before: Version | None  # releases older than this load it (None: none does, newer keys are set too)
    loads_from: Version | None  # releases from this on load it (None: none does)

    @property
    def specifiers(self) -> list[str]:
        """pip requirement specifiers of the releases that load it, e.g. ["peft<0.3.0", "peft>=0.14.0"]."""
        ranges = [f"peft<{format_version(self.loads_before)}"] if self.loads_before else []
        return ranges + ([f"peft>={format_version(self.loads_from)}"] if self.loads_from else [])


def legacy_support(config: Mapping[str, Any]) -> LegacySupport | None:
    """None when the config has no legacy key. `enable_lora` with a True entry means PEFT 0.1-0.2 saved a fused
    layer as `lora.MergedLinear` (lora_A `[r * k, in]`, lora_B a Conv1d `[out / n * k, r, 1]`): PEFT >= 0.14 drops
    the key and then cannot fit those tensors into its Linear layers, so only the old releases load it."""
    keys = tuple(sorted(LEGACY_KEYS & set(config)))
    if not keys:
        return None
    newer = [field.since for key, field in LORA_FIELDS.items() if key in config and field.since >= LEGACY_REMOVED]
    merged = isinstance(config.get("enable_lora"), list) and any(config["enable_lora"])
    return LegacySupport(
        keys,
        loads_before=None if newer else LEGACY_REMOVED,
        loads_from=None if merged else FORWARD_COMPATIBLE,
    )
