"""Which adapter_config.json values PEFT cannot use at all: valid JSON of the wrong type.

PEFT builds its config dataclass from the JSON without checking types, then fails while injecting the adapter
(peft 0.21.2, a real `PeftModel.from_pretrained` on each value): `r: "eight"` and `r: 8.0` raise TypeError,
`target_modules: 5` "'int' object is not iterable", `rank_pattern: null` "'NoneType' object has no attribute
'keys'", `modules_to_save: "lm_head"` a KeyError, `task_type: []` "Invalid task type". Values PEFT tolerates
(a dict as target_modules or modules_to_save, a string as use_dora) are not reported.

Rules read the config through their own `isinstance` checks, so a wrong type never raises in a rule; this module
says which fields are wrong, so HL305 can tell the owner before their users hit the traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

LORA, ADALORA = "LORA", "ADALORA"  # AdaLoraConfig extends LoraConfig, except that its rank_pattern holds masks
TRAINABLE_TOKENS = "TRAINABLE_TOKENS"


def peft_type(config: Mapping[str, Any]) -> str | None:
    """The config's `peft_type` exactly as written; None when absent, empty or not text.

    Not normalised: PEFT looks it up case-sensitively (peft 0.21.2 raises `KeyError: 'lora'`), so "lora" is not
    LORA; HL605 reports it, and the rules that judge LoRA skip it."""
    value = config.get("peft_type")
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class FieldProblem:
    key: str
    value: Any
    expected: str  # "a positive integer", ...

    def describe(self, limit: int = 60) -> str:
        shown = repr(self.value)
        shown = shown if len(shown) <= limit else shown[: limit - 1] + "…"
        return f"{self.key} is {shown} ({self.expected} expected)"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_int(v) for v in value)


def _str_keys(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)


# key -> (accepts the value when the key is present, what was expected). None is accepted only where PEFT does.
_ANY_PEFT: dict[str, tuple[Callable[[Any], bool], str]] = {
    "peft_type": (lambda v: isinstance(v, str), 'a string such as "LORA"'),
    "task_type": (lambda v: v is None or isinstance(v, str), 'a string such as "CAUSAL_LM", or null'),
    "target_modules": (
        lambda v: v is None or isinstance(v, str) or _str_list(v) or _str_keys(v),
        "a list of module names, a regex string, or null",
    ),
    "modules_to_save": (lambda v: v is None or _str_list(v) or _str_keys(v), "a list of module names, or null"),
}
_LORA: dict[str, tuple[Callable[[Any], bool], str]] = {
    "r": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "lora_alpha": (_is_number, "a number"),
    "lora_dropout": (_is_number, "a number"),
    "bias": (lambda v: isinstance(v, str), '"none", "all" or "lora_only"'),
    "init_lora_weights": (lambda v: isinstance(v, (bool, str)), "true, false or an initialisation method's name"),
    "rank_pattern": (
        lambda v: isinstance(v, Mapping) and all(_is_int(r) and r > 0 for r in v.values()),
        "an object of module patterns to positive integers",
    ),
    "alpha_pattern": (
        lambda v: isinstance(v, Mapping) and all(_is_number(a) for a in v.values()),
        "an object of module patterns to numbers",
    ),
    "layers_to_transform": (
        lambda v: v is None or _is_int(v) or _int_list(v),
        "a layer index, a list of them, or null",
    ),
    "trainable_token_indices": (
        lambda v: v is None or _int_list(v) or (_str_keys(v) and all(_int_list(i) for i in v.values())),
        "a list of token ids, an object of module names to lists of token ids, or null",
    ),
}


def field_problems(config: Mapping[str, Any]) -> list[FieldProblem]:
    """The present fields whose value PEFT cannot use, in the order of the checks above."""
    checks = dict(_ANY_PEFT)
    kind = peft_type(config)
    if kind in (LORA, ADALORA):
        checks.update(_LORA)
    if kind == ADALORA:
        del checks["rank_pattern"]  # null, or "<module>.lora_E" -> the boolean mask of the ranks kept
    return [
        FieldProblem(key, config[key], expected)
        for key, (accepts, expected) in checks.items()
        if key in config and not accepts(config[key])
    ]
