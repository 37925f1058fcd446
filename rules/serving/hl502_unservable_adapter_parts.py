"""HL502: parts of the adapter that inference servers refuse, silently drop, or scale differently from PEFT."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.config import LORA
from hublint.rules.peft.keys import AdapterKey, adapter_keys, trainable_token_indices, vocab_tensors
from hublint.rules.peft.methods import METHODS
from hublint.rules.peft.tasks import is_head_module, task_type
from hublint.rules.serving.servers import (
    EFFECTS,
    PART_LABELS,
    SERVERS,
    SGLANG_TARGET_STRINGS,
    VLLM_FULL_MODULES,
    VLLM_INIT_METHODS,
)
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot

_EFFECT_ORDER = ("refuses", "ignores", "mis-scales")


class UnservableAdapterParts(Rule):
    code = "HL502"
    name = "unservable-adapter-parts"
    category = Category.SERVING
    severity = Severity.WARNING
    # The base's vocabulary and the tokenizer, when available, reveal added tokens; the rest needs neither.
    needs = frozenset({Need.CONFIG, Need.WEIGHTS, Need.TOKENIZER})
    peft_types = frozenset(METHODS)  # every method PEFT knows; an unknown peft_type is HL605's
    reads_tensors = False  # the config's parts are judged without them

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        method = METHODS[snapshot.config["peft_type"]]  # skip_reason() leaves known methods only
        # Servers load LoRA adapters only: any other method is refused whole, whatever its parts.
        parts = _adapter_parts(snapshot) if method.peft_type == LORA else {"method": f"{method.display_name} adapters"}
        effects = [
            {"server": e.server.name, "version": e.server.version, "effect": e.effect, "what": what, "note": e.note}
            for part, what in parts.items()
            for e in EFFECTS[part]
        ]
        if not effects:
            return
        yield self.finding(
            f"Inference servers refuse or silently change parts of this adapter. {_summary(parts)}.",
            file=ADAPTER_CONFIG,
            details={"effects": effects},
            fix=Fix(
                "Serve a merged model instead (PeftModel.merge_and_unload() then save_pretrained), or retrain as"
                " plain LoRA without the listed parts to serve it as an adapter."
            ),
        )


def _adapter_parts(snapshot: RepoSnapshot) -> dict[str, str]:
    """The parts of the adapter some server mishandles: part (a key of EFFECTS) -> what, for people."""
    config = snapshot.config
    detected = {
        "dora": _dora(snapshot),
        "modules_to_save": _full_modules(snapshot),
        "bias": _bias(snapshot),
        "added_tokens": _added_rows(snapshot),
        "trainable_tokens": _trainable_tokens(snapshot),
        "added_tokens_file": _added_tokens_file(snapshot),
        "rslora": "rsLoRA scaling (use_rslora)" if config.get("use_rslora") else None,
        "rank_pattern": _pattern(config, "rank_pattern", "per-module ranks"),
        "alpha_pattern": _pattern(config, "alpha_pattern", "per-module alphas"),
        "base_rewriting_init": _init(config.get("init_lora_weights")),
        "regex_target_modules": _regex_targets(config.get("target_modules")),
    }
    return {part: what for part, what in detected.items() if what}


def _dora(snapshot: RepoSnapshot) -> str | None:
    magnitudes = any(key.kind == "magnitude" for _, _, key in adapter_keys(snapshot))
    return "DoRA (use_dora)" if snapshot.config.get("use_dora") or magnitudes else None


def _full_modules(snapshot: RepoSnapshot) -> str | None:
    configured = snapshot.config.get("modules_to_save")
    task = task_type(snapshot.config)
    names = {str(m) for m in configured if not is_head_module(task, str(m))} if isinstance(configured, list) else set()
    # A `.base_layer.weight` is the frozen copy of a LoRA-targeted (resized) embedding: that is "added_tokens".
    names |= {
        key.leaf
        for _, _, key in adapter_keys(snapshot)
        if key.kind == "full" and ".base_layer." not in key.name and not _in_task_head(snapshot, key)
    }
    names -= VLLM_FULL_MODULES
    return f"full weights of {', '.join(sorted(names))} (modules_to_save, saved embeddings)" if names else None


def _bias(snapshot: RepoSnapshot) -> str | None:
    config = snapshot.config
    saved = sum(
        1
        for _, _, key in adapter_keys(snapshot)
        if key.kind in ("bias", "lora_bias") and not _in_task_head(snapshot, key)
    )
    if config.get("bias") not in (None, "none"):
        return f"bias terms (bias={config['bias']!r})"
    if config.get("lora_bias"):
        return "bias terms (lora_bias)"
    return f"bias terms ({saved} saved bias tensors)" if saved else None


def _in_task_head(snapshot: RepoSnapshot, key: AdapterKey) -> bool:
    """The classification/QA head PEFT saves for SEQ_CLS, TOKEN_CLS and QUESTION_ANS adapters (with its own bias,
    and RoBERTa's `classifier.dense`): the task model's output layer, which servers running that task load."""
    return is_head_module(task_type(snapshot.config), key.module)


def _added_rows(snapshot: RepoSnapshot) -> str | None:
    added = [rows for v in vocab_tensors(snapshot) if (rows := v.added_rows(snapshot.base)) and rows > 0]
    return f"{max(added):,} embedding rows beyond the base vocabulary (added tokens)" if added else None


def _trainable_tokens(snapshot: RepoSnapshot) -> str | None:
    deltas = any(key.kind == "token_delta" for _, _, key in adapter_keys(snapshot))
    configured = bool(trainable_token_indices(snapshot.config))
    return "trainable token deltas (trainable_token_indices)" if deltas or configured else None


def _added_tokens_file(snapshot: RepoSnapshot) -> str | None:
    """SGLang refuses an adapter whose added_tokens.json has ids at or above the base vocabulary."""
    tokenizer, base = snapshot.tokenizer, snapshot.base
    if tokenizer is None or "added_tokens.json" not in tokenizer.files or base is None or not base.vocab_size:
        return None
    beyond = [i for i in tokenizer.added_tokens if i >= base.vocab_size]
    return f"{len(beyond)} tokens in added_tokens.json beyond the base vocabulary" if beyond else None


def _pattern(config: Mapping[str, Any], field: str, what: str) -> str | None:
    value = config.get(field)
    return f"{what} ({field})" if isinstance(value, Mapping) and value else None


def _init(value: object) -> str | None:
    """String inits other than vLLM's allowed ones: PiSSA, OLoRA, CorDA, LoftQ rewrite the base weights on load."""
    if isinstance(value, str) and value.lower() not in VLLM_INIT_METHODS:
        return f"init_lora_weights={value!r}"
    return None


def _regex_targets(value: object) -> str | None:
    return f"regex target_modules {value!r}" if isinstance(value, str) and value not in SGLANG_TARGET_STRINGS else None


def _summary(parts: Mapping[str, str]) -> str:
    """'vLLM 0.33.0, llama.cpp ...: refuses DoRA; SGLang 0.5.23: refuses DoRA and mis-scales rsLoRA'."""
    servers_by_clause: dict[str, list[str]] = {}
    for server in SERVERS:
        by_effect: dict[str, list[str]] = {}
        for part in parts:
            for effect in EFFECTS[part]:
                if effect.server == server:
                    by_effect.setdefault(effect.effect, []).append(PART_LABELS[part])
        clause = " and ".join(f"{e} {', '.join(by_effect[e])}" for e in _EFFECT_ORDER if e in by_effect)
        if clause:
            servers_by_clause.setdefault(clause, []).append(str(server))
    return "; ".join(f"{', '.join(servers)}: {clause}" for clause, servers in servers_by_clause.items())
