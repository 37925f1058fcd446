"""Fixture builders, one home for tests and benchmarks: RepoSnapshots for pure rule tests (small, explicit, close
to what PEFT really writes) and a synthetic crawl store for the report (`fill_store`)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from hublint import store as tables
from hublint.emulator.samples import llama_tensors
from hublint.rules.snapshot import (
    BaseModelFacts,
    RepoFile,
    RepoSnapshot,
    TensorHeader,
    TokenizerFacts,
    WeightsFile,
)

LLAMA_7B = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32}
PREFIX = "base_model.model."


def llama_shapes(
    vocab: int = 32000, hidden: int = 4096, intermediate: int = 11008, layers: int = 32, tied: bool = False
) -> dict[str, tuple[int, ...]]:
    """Tensor shapes of a Llama checkpoint (the base model's safetensors headers); a tied one stores no lm_head."""
    tensors = llama_tensors(vocab=vocab, hidden=hidden, intermediate=intermediate, layers=layers, dtype="BF16")
    shapes = {name: tuple(shape) for name, (_, shape) in tensors.items()}
    if tied:
        del shapes["lm_head.weight"]
    return shapes


def base_facts(
    model_id: str = "meta-llama/Llama-2-7b-hf",
    vocab: int = 32000,
    hidden: int = 4096,
    intermediate: int = 11008,
    layers: int = 32,
    tied: bool = False,
    status: str = "ok",
    added_tokens: Mapping[int, str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> BaseModelFacts:
    if status != "ok":
        return BaseModelFacts(model_id=model_id, status=status, message=f"base {status}")
    shapes = llama_shapes(vocab, hidden, intermediate, layers, tied)
    return BaseModelFacts(
        model_id=model_id,
        revision="0" * 40,
        config=dict(
            config
            or {
                "model_type": "llama",
                "vocab_size": vocab,
                "hidden_size": hidden,
                "intermediate_size": intermediate,
                "num_hidden_layers": layers,
                "tie_word_embeddings": tied,
            }
        ),
        shapes=shapes,
        parameter_count=sum(math.prod(s) for s in shapes.values()),
        tokenizer_added_tokens=dict(added_tokens if added_tokens is not None else {0: "<unk>", 1: "<s>", 2: "</s>"}),
    )


def lora_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": "meta-llama/Llama-2-7b-hf",
        "r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
        "bias": "none",
        "target_modules": ["q_proj", "v_proj"],
        "modules_to_save": None,
        "use_rslora": False,
        "use_dora": False,
        "rank_pattern": {},
        "alpha_pattern": {},
        "init_lora_weights": True,
        "inference_mode": True,
        "revision": None,
    }
    config.update(overrides)
    return config


def lora_tensors(
    r: int = 8,
    modules: Iterable[str] = ("q_proj", "v_proj"),
    layers: int = 32,
    hidden: int = 4096,
    intermediate: int = 11008,
) -> dict[str, tuple[int, ...]]:
    """Saved LoRA tensors for Llama modules, named as PEFT saves them."""
    dims = {
        "q_proj": (hidden, hidden),
        "k_proj": (hidden, hidden),
        "v_proj": (hidden, hidden),
        "o_proj": (hidden, hidden),
        "gate_proj": (hidden, intermediate),
        "up_proj": (hidden, intermediate),
        "down_proj": (intermediate, hidden),
    }
    tensors: dict[str, tuple[int, ...]] = {}
    for i in range(layers):
        for module in modules:
            family = "mlp" if module in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            in_features, out_features = dims[module]
            path = f"{PREFIX}model.layers.{i}.{family}.{module}"
            tensors[f"{path}.lora_A.weight"] = (r, in_features)
            tensors[f"{path}.lora_B.weight"] = (out_features, r)
    return tensors


def weights_file(
    tensors: Mapping[str, tuple[int, ...]],
    path: str = "adapter_model.safetensors",
    dtype: str = "BF16",
    size: int | None = None,
) -> WeightsFile:
    """A well-formed header: offsets contiguous in order; size = header + data unless given."""
    headers: dict[str, TensorHeader] = {}
    offset = 0
    width = {"F32": 4, "BF16": 2, "F16": 2}.get(dtype, 2)
    for name, shape in tensors.items():
        end = offset + math.prod(shape) * width
        headers[name] = TensorHeader(name, dtype, tuple(shape), (offset, end))
        offset = end
    header_length = 64 + 128 * len(headers)
    return WeightsFile(
        path=path,
        size=size if size is not None else 8 + header_length + offset,
        header_length=header_length,
        tensors=headers,
        metadata={"format": "pt"},
    )


def tokenizer(
    added: Mapping[int, str] | None = None,
    files: tuple[str, ...] = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
    model_vocab_size: int | None = None,
    same_as_base: bool = False,
) -> TokenizerFacts:
    return TokenizerFacts(
        files=files,
        added_tokens=dict(added or {}),
        model_vocab_size=model_vocab_size,
        same_as_base=same_as_base,
    )


def added_tokens(start: int, count: int, specials: bool = True) -> dict[int, str]:
    tokens = {0: "<unk>", 1: "<s>", 2: "</s>"} if specials else {}
    tokens.update({start + i: f"<|new_{i}|>" for i in range(count)})
    return tokens


def snapshot(
    config: Mapping[str, Any] | None = None,
    tensors: Mapping[str, tuple[int, ...]] | None = None,
    *,
    weights: Iterable[WeightsFile] | None = None,
    base: BaseModelFacts | None = None,
    tok: TokenizerFacts | None = None,
    card: Mapping[str, Any] | None = None,
    files: Iterable[str] | None = None,
    target: str = "someone/adapter",
    source: str = "hub",
    config_error: str | None = None,
) -> RepoSnapshot:
    """A snapshot with sensible defaults: a Llama-2-7B base, a clean r=8 LoRA on q/v, no tokenizer."""
    config = lora_config() if config is None and config_error is None else config
    if weights is None:
        weights = [weights_file(tensors if tensors is not None else lora_tensors())]
    weights = tuple(weights)
    tok = tok if tok is not None else tokenizer(files=())
    names = set(files) if files is not None else {"adapter_config.json", "README.md", *(w.path for w in weights)}
    if files is None:
        names |= set(tok.files)
    return RepoSnapshot(
        target=target,
        source=source,
        revision="1" * 40 if source == "hub" else None,
        files={n: RepoFile(n, next((w.size for w in weights if w.path == n), 100)) for n in sorted(names)},
        adapter_config=config,
        adapter_config_error=config_error,
        weights=weights,
        tokenizer=tok,
        card=card if card is not None else {"base_model": "meta-llama/Llama-2-7b-hf", "library_name": "peft"},
        base=base if base is not None else base_facts(),
    )


SEED_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


def seed_adapter(r: int = 1024, rows: int = 33004) -> RepoSnapshot:
    """The seed: LoRA at rank r on q, k, v, o of Llama-2-7B, plus embed_tokens and lm_head resized to `rows`."""
    tensors = {
        **lora_tensors(r=r, modules=SEED_MODULES),
        f"{PREFIX}model.embed_tokens.weight": (rows, 4096),
        f"{PREFIX}lm_head.weight": (rows, 4096),
    }
    config = lora_config(r=r, target_modules=list(SEED_MODULES), modules_to_save=["lm_head", "embed_tokens"])
    return snapshot(config, tensors, tok=tokenizer(added_tokens(32000, rows - 32000)))


def lint(snap: RepoSnapshot, *codes: str, options: Mapping[str, Mapping[str, Any]] | None = None) -> list[Any]:
    """The findings of the selected rules, run as `hublint check` runs them (rules that can't judge are skipped)."""
    from hublint.lint import LintConfig, run_rules, selected_rules

    config = LintConfig(select=frozenset(codes), options=options or {})
    return run_rules(snap, selected_rules(config), config).findings


# --- snapshots from data: what tests/rules/cases/HLxxx.yml describe ---------------------------------------------

# Bases a case can name by `preset` instead of spelling their headers out.
BASE_PRESETS: dict[str, BaseModelFacts] = {
    # GPT-2 as its Hub checkpoint stores it: no `transformer.` prefix, Conv1D weights as (in, out).
    "gpt2": BaseModelFacts(
        model_id="openai-community/gpt2",
        config={"model_type": "gpt2", "vocab_size": 1000, "n_embd": 64},
        shapes={"wte.weight": (1000, 64), "h.0.attn.c_attn.weight": (64, 192), "h.0.attn.c_attn.bias": (192,)},
        parameter_count=1000 * 64 + 64 * 192 + 192,
    ),
}


def snapshot_from_spec(spec: Mapping[str, Any]) -> RepoSnapshot:
    """A snapshot from a case file's plain data; every key is optional and defaults to `snapshot()`'s.

    seed: {r, rows}          start from the seed adapter (`seed_adapter`) instead of the clean r=8 LoRA
    config: {...}            merged over the LoRA config (`lora_config`); `config_exact` replaces it whole,
                             `config_drop` removes keys, `no_config: true` leaves the repo without one,
                             `config_error` says why it could not be parsed
    lora: {...} | null       `lora_tensors` arguments; null saves no LoRA tensors
    tensors: {name: shape}   more saved tensors; `weights: [{path, tensors, lora, dtype, size, size_delta,
                             error, malformed}]` describes the files instead
    base: {...}              `base_facts` arguments, or `preset: gpt2`, plus `shapes` to replace the headers
    tokenizer: {...}         `added` {id: token} or `new_tokens` [first id, count], `files`, `model_vocab_size`,
                             `same_as_base`
    card, files, target, source   as `snapshot()` takes them
    """
    seeded = seed_adapter(**spec["seed"]) if "seed" in spec else None
    config = _config_from_spec(spec, seeded)
    if "weights" in spec:
        weights = [_weights_from_spec(w) for w in spec["weights"]]
    elif seeded is not None and "lora" not in spec and "tensors" not in spec:
        weights = list(seeded.weights)
    else:
        weights = [weights_file({**_lora_from_spec(spec.get("lora", {})), **_shapes(spec.get("tensors", {}))})]
    tok = _tokenizer_from_spec(spec["tokenizer"]) if "tokenizer" in spec else seeded.tokenizer if seeded else None
    return (
        snapshot(
            config,
            weights=weights,
            base=_base_from_spec(spec.get("base", {})),
            tok=tok,
            card=spec.get("card"),
            files=spec.get("files"),
            target=spec.get("target", "someone/adapter"),
            source=spec.get("source", "hub"),
            config_error=spec.get("config_error"),
        )
        if not spec.get("no_config")
        else _without_config(spec, weights, tok)
    )


def _config_from_spec(spec: Mapping[str, Any], seeded: RepoSnapshot | None) -> dict[str, Any] | None:
    if "config_error" in spec:
        return None
    if "config_exact" in spec:
        return dict(spec["config_exact"])
    config = dict(seeded.config) if seeded is not None else lora_config()
    config.update(spec.get("config") or {})
    for key in spec.get("config_drop", ()):
        del config[key]
    return config


def _without_config(spec: Mapping[str, Any], weights: list[WeightsFile], tok: TokenizerFacts | None) -> RepoSnapshot:
    snap = snapshot(weights=weights, tok=tok, files=spec.get("files"), base=_base_from_spec(spec.get("base", {})))
    return dataclasses.replace(snap, adapter_config=None)


def _shapes(tensors: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(shape) for name, shape in tensors.items()}


def _lora_from_spec(lora: Mapping[str, Any] | None) -> dict[str, tuple[int, ...]]:
    return {} if lora is None else lora_tensors(**lora)


def _weights_from_spec(spec: Mapping[str, Any]) -> WeightsFile:
    """One weights file; a tensor given as {shape, dtype, offsets} keeps its own header entry as written."""
    tensors = spec.get("tensors", {})
    plain = {name: shape for name, shape in tensors.items() if not isinstance(shape, Mapping)}
    default_lora = {} if not tensors and not spec.get("error") else None  # a broken header lists no tensors
    shapes = {**_lora_from_spec(spec.get("lora", default_lora)), **_shapes(plain)}
    path = spec.get("path", "adapter_model.safetensors")
    built = weights_file(shapes, path=path, dtype=spec.get("dtype", "BF16"))
    headers = dict(built.tensors)
    for name, entry in tensors.items():
        if isinstance(entry, Mapping):
            headers[name] = TensorHeader(name, entry["dtype"], tuple(entry["shape"]), tuple(entry["offsets"]))
    size = spec.get("size", (built.size or 0) + spec.get("size_delta", 0))
    return dataclasses.replace(
        built,
        size=size,
        tensors=headers,
        error=spec.get("error"),
        malformed=tuple(spec.get("malformed", ())),
        header_length=None if spec.get("error") else built.header_length,
        # a PyTorch .bin (hublint.torchbin): its format, the globals its pickle imports, its integrity problems
        format=spec.get("format", built.format),
        imports=tuple(spec.get("imports", ())),
        problems=tuple(spec.get("problems", ())),
        unsupported=spec.get("unsupported"),
    )


def _base_from_spec(spec: Mapping[str, Any]) -> BaseModelFacts:
    spec = dict(spec)
    shapes = spec.pop("shapes", None)
    base = BASE_PRESETS[spec.pop("preset")] if "preset" in spec else base_facts(**spec)
    if shapes is None:
        return base
    # The parameter count comes from the headers: none readable, none known.
    count = sum(math.prod(shape) for shape in shapes.values()) or None
    return dataclasses.replace(base, shapes=_shapes(shapes), parameter_count=count)


def _tokenizer_from_spec(spec: Mapping[str, Any]) -> TokenizerFacts:
    added = dict(spec.get("added", {}))
    if "new_tokens" in spec:
        added = {**added_tokens(*spec["new_tokens"]), **added}
    kwargs = {key: spec[key] for key in ("model_vocab_size", "same_as_base") if key in spec}
    if "files" in spec:
        kwargs["files"] = tuple(spec["files"])
    return tokenizer(added, **kwargs)


def program_env(endpoint: str, home: str) -> dict[str, str]:
    """The environment a user's loading program runs in: this process's, with the Hub at `endpoint` (the emulator),
    a fresh HF cache under `home`, and nothing of the developer's own Hub settings or token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=home,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        TRANSFORMERS_VERBOSITY="error",
    )
    return env


# -- a crawl store as a long crawl leaves it (the report's tests and benchmark) -----------------------------------

DAY = 86400.0
FIX_CODE = """import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

base = AutoModelForCausalLM.from_pretrained({base!r}, torch_dtype=torch.float16)
base.resize_token_embeddings({rows})  # the adapter's row count, from its safetensors header
model = PeftModel.from_pretrained(base, {repo!r})
"""


def fill_store(url: str, repos: int, *, owners: int = 5_000, bases: int = 40, now: float | None = None) -> list[str]:
    """A crawl store as a long-running crawl leaves it; returns the repo ids. Deterministic for a given size."""
    rng = random.Random(repos)
    now = now or time.time()
    ids = [f"owner-{n % owners:05d}/adapter-{n:06d}" for n in range(repos)]
    base_names = [f"base-org/model-{n:02d}" for n in range(bases)]
    rows: dict[str, list[dict]] = {"repos": [], "lint_results": [], "findings": [], "discussions": []}
    for n, repo_id in enumerate(ids):
        sha = f"{n:040x}"
        base = base_names[n % bases]
        found = _findings(n % 3, repo_id, base, rng)
        linted_at = now - rng.random() * 60 * DAY
        rows["repos"].append(
            {"id": repo_id, "sha": sha, "last_modified": "2026-01-01T00:00:00.000Z", "listed_at": linted_at}
            | {"status": "done", "attempts": 0, "next_attempt_at": 0.0, "last_linted_sha": sha}
        )
        result = {"target": repo_id, "revision": sha, "source": "hub", "findings": found, "base_model": base}
        result |= {"stats": {"http_requests": 3, "bytes_downloaded": 40_000}, "skipped": []}
        worst = found[0]["severity"] if found else None
        rows["lint_results"].append(
            {"id": n + 1, "repo": repo_id, "sha": sha, "linted_at": linted_at, "worker": "bench", "requests": 3}
            | {"bytes": 40_000, "seconds": 0.1, "findings": len(found), "worst": worst, "result": json.dumps(result)}
        )
        for finding in found:
            rows["findings"].append(_life(repo_id, sha, finding, linted_at))
        fixed_after_discussion = n % 40 == 1
        if fixed_after_discussion:  # an HL101 found long ago, fixed after the bot's discussion
            life = _life(repo_id, "0" * 40, {"rule": "HL101", "severity": "error", "message": "m"}, linted_at - DAY)
            rows["findings"].append(life | {"resolved_sha": sha, "resolved_at": linted_at})
        if (n % 3 == 0 and n % 20 == 0) or fixed_after_discussion:
            status = "closed" if n % 60 == 0 else "open"
            opened = linted_at - rng.uniform(1, 20) * DAY
            rows["discussions"].append(
                {"repo": repo_id, "num": 1, "fingerprint": "f", "status": status, "worker": "bench"}
                | {"created_at": opened, "updated_at": opened}
            )
    with tables.Store(url) as store, store.engine.begin() as connection:
        for name, values in rows.items():
            for start in range(0, len(values), 5_000):
                connection.execute(sa.insert(tables.metadata.tables[name]), values[start : start + 5_000])
        events = [
            {"repo": d["repo"], "num": 1, "status": d["status"], "at": d["created_at"]} for d in rows["discussions"]
        ]
        connection.execute(sa.insert(tables.discussion_events), events)
        runs = [_run(now - (60 - day) * DAY, repos // 60) for day in range(60)]
        connection.execute(sa.insert(tables.runs), runs)
    return ids


def _findings(kind: int, repo_id: str, base: str, rng: random.Random) -> list[dict]:
    if kind == 2:
        return []
    rows = 32000 + rng.randrange(1, 2000)
    warning = {
        "rule": "HL202",
        "name": "oversized-adapter",
        "category": "rank",
        "severity": "warning",
        "message": "The adapter holds 1,342,177,280 parameters, 19.9% of the base model's 6,738,415,616.",
        "file": "adapter_model.safetensors",
        "details": {"share": 0.199},
        "fix": {"summary": "Lower r or adapt fewer modules."},
    }
    if kind == 1:
        return [warning]
    error = {
        "rule": "HL101",
        "name": "embedding-vocab-mismatch",
        "category": "vocab",
        "severity": "error",
        "message": f"The adapter's embedding matrices have {rows} rows, the base model's 32000: PeftModel."
        "from_pretrained on a freshly loaded base fails with `size mismatch`.",
        "file": "adapter_model.safetensors",
        "details": {"adapter_rows": rows, "base_rows": 32000},
        "fix": {
            "summary": f"Resize the base to {rows} rows first.",
            "code": FIX_CODE.format(base=base, rows=rows, repo=repo_id),
        },
    }
    return [error, warning]


def _life(repo_id: str, sha: str, finding: dict, at: float) -> dict:
    return {
        "repo": repo_id,
        "fingerprint": f"{finding['rule']}:{repo_id}",
        "rule": finding["rule"],
        "severity": finding["severity"],
        "message": finding["message"],
        "file": None,
        "first_seen_sha": sha,
        "first_seen_at": at,
        "last_seen_sha": sha,
        "last_seen_at": at,
        "resolved_sha": None,  # every row names every column: an executemany takes the first row's
        "resolved_at": None,
    }


def _run(started: float, linted: int) -> dict:
    buckets = {"api": linted, "resolvers": 2 * linted}
    summary = {"linted": linted, "failed": 3, "requests": 3 * linted, "rate_limited": 1, "requests_by_bucket": buckets}
    return {"worker": "bench", "started_at": started, "finished_at": started + 600, "summary": json.dumps(summary)} | {
        "linted": linted,
        "failures": 3,
        "requests": 3 * linted,
        "rate_limited": 1,
        "requests_by_bucket": json.dumps(buckets),
    }
