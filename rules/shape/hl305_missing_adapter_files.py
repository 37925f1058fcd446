"""HL305: the repo lacks a usable adapter_config.json or the adapter weights, so PEFT cannot load it at all."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Fix, Rule, Severity
from hublint.rules.peft.config import field_problems
from hublint.rules.peft.methods import foreign_format
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot

# The only files PeftModel.from_pretrained reads (peft utils/save_and_load.py::load_peft_weights).
WEIGHTS_NAMES = ("adapter_model.safetensors", "adapter_model.bin")
_SHOWN_FIELDS = 3
_SHARDED = re.compile(r"adapter_model(-\d+-of-\d+\.(safetensors|bin)|\.(safetensors|bin)\.index\.json)")


class MissingAdapterFiles(Rule):
    code = "HL305"
    name = "missing-adapter-files"
    category = Category.INTEGRITY
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset()  # the file list alone: this rule must run when the config is missing

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        if foreign_format(snapshot.config):
            return  # another tool's adapter keeps its weights under its own names (HL607 says so)
        problem = _config_problem(snapshot)
        if problem:
            yield self.finding(
                problem + _subfolder_hint(snapshot),
                file=ADAPTER_CONFIG,
                details={
                    "config_error": snapshot.adapter_config_error,
                    "subfolders": _subfolders(snapshot),
                    "invalid_fields": {p.key: p.expected for p in field_problems(snapshot.config)},
                },
                fix=Fix(
                    "Upload the adapter_config.json that save_pretrained wrote next to the weights"
                    + (", or correct the values named above." if field_problems(snapshot.config) else ".")
                ),
            )
        if not any(_present(snapshot, name) for name in WEIGHTS_NAMES):
            shards = sorted(path for path in snapshot.files if _SHARDED.fullmatch(path))
            yield self.finding(
                _weights_problem(shards) + _subfolder_hint(snapshot),
                file=shards[0] if shards else None,
                details={"shards": shards, "subfolders": _subfolders(snapshot)},
                fix=Fix(
                    "Upload the single adapter_model.safetensors that PEFT's save_pretrained writes"
                    + (" (merge the shards into one file)." if shards else ".")
                ),
            )


def _config_problem(snapshot: RepoSnapshot) -> str | None:
    if snapshot.adapter_config_error:
        return (
            f"adapter_config.json cannot be read ({snapshot.adapter_config_error}): PEFT cannot load the adapter"
            " without it."
        )
    if snapshot.adapter_config is None:
        return (
            "The repo has no adapter_config.json: PeftModel.from_pretrained fails with"
            " `Can't find 'adapter_config.json'`."
        )
    if not snapshot.adapter_config.get("peft_type"):
        return (
            "adapter_config.json has no peft_type: PEFT fails with `TypeError: The PeftConfig config that is trying"
            " to be loaded is missing required keys: {'peft_type'}`."
        )
    problems = field_problems(snapshot.adapter_config)
    if problems:
        shown = "; ".join(p.describe() for p in problems[:_SHOWN_FIELDS])
        more = f" and {len(problems) - _SHOWN_FIELDS} more" if len(problems) > _SHOWN_FIELDS else ""
        return (
            f"adapter_config.json has values of the wrong type ({shown}{more}): PEFT does not check them, and"
            " PeftModel.from_pretrained fails with a TypeError, AttributeError or KeyError while building the adapter."
        )
    return None


def _weights_problem(shards: list[str]) -> str:
    if shards:
        return (
            f"The adapter weights are only in sharded files ({', '.join(shards[:3])}), which"
            " PeftModel.from_pretrained does not read: it fails with `Can't find weights`."
        )
    return (
        "The repo has no adapter weights (adapter_model.safetensors or adapter_model.bin):"
        " PeftModel.from_pretrained fails with `Can't find weights`."
    )


def _present(snapshot: RepoSnapshot, name: str) -> bool:
    return snapshot.has_file(name) or any(weights.path == name for weights in snapshot.weights)


def _subfolders(snapshot: RepoSnapshot) -> list[str]:
    """Folders holding an adapter of their own: where save_pretrained puts adapters not named `default`."""
    return sorted(path.rsplit("/", 1)[0] for path in snapshot.files if path.endswith("/" + ADAPTER_CONFIG))


def _subfolder_hint(snapshot: RepoSnapshot) -> str:
    folders = _subfolders(snapshot)
    if not folders:
        return ""
    return f' The repo has adapters in {", ".join(folders[:3])}: load one with `subfolder="{folders[0]}"`.'
