"""HL402: base_model_name_or_path is empty or a path on the trainer's machine instead of a Hub model id."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.ids import is_hub_id
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot

# The Hub cache keeps `org/name` at revision `sha` in `.../models--org--name/snapshots/<sha>`.
_CACHE_DIR = re.compile(r"(?:^|[/\\])models--(?P<repo>[^/\\]+)[/\\]snapshots[/\\](?P<sha>[0-9a-f]{40})")
_LOCAL_KINDS = (
    (re.compile(r"[A-Za-z]:[\\/]|\\\\"), "a Windows path"),
    (re.compile(r"~"), "a path in a home directory"),
    (re.compile(r"/"), "an absolute path"),
    (re.compile(r"\.\.?([/\\]|$)"), "a relative path"),
)


@dataclass(frozen=True)
class Verdict:
    kind: str  # "empty", "a Hub cache directory", "an absolute path", ...
    suggested_id: str | None = None
    suggested_revision: str | None = None


def judge(value: object) -> Verdict | None:
    """Why `value` is not a Hub model id, or None if it is one."""
    if value is not None and not isinstance(value, str):
        return Verdict("not a string")
    if value is None or not value.strip():
        return Verdict("empty")
    cached = _CACHE_DIR.search(value)
    if cached:
        return Verdict("a Hub cache directory", cached["repo"].replace("--", "/"), cached["sha"])
    for pattern, kind in _LOCAL_KINDS:
        if pattern.match(value):
            return Verdict(kind)
    if is_hub_id(value):
        return None
    return Verdict("a relative path" if re.search(r"[/\\]", value) else "not a valid Hub id")


class BaseModelNotHubId(Rule):
    code = "HL402"
    name = "base-model-not-hub-id"
    category = Category.PROVENANCE
    severity = Severity.ERROR
    bot_action = BotAction.PR
    needs = frozenset({Need.CONFIG})

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        value = snapshot.config.get("base_model_name_or_path")
        verdict = judge(value)
        if verdict is None:
            return
        suggested = verdict.suggested_id or _card_base(snapshot)
        shown = "empty" if verdict.kind == "empty" else f"{verdict.kind} ({_shown(value)})"
        yield self.finding(
            f"base_model_name_or_path is {shown}, not a Hub model id: AutoPeftModel and the serving and"
            " conversion tools that read it cannot find the base, and users must guess which model to load.",
            file=ADAPTER_CONFIG,
            details={
                "base_model_name_or_path": value,
                "kind": verdict.kind,
                "suggested_id": suggested,
                "suggested_revision": verdict.suggested_revision,
            },
            fix=Fix(_fix(suggested, verdict.suggested_revision)),
        )


def _shown(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _card_base(snapshot: RepoSnapshot) -> str | None:
    """The README's base_model, when the card names a Hub id (the config's value is not one)."""
    value = (snapshot.card or {}).get("base_model")
    value = value[0] if isinstance(value, list) and len(value) == 1 else value
    return value if isinstance(value, str) and is_hub_id(value) else None


def _fix(suggested: str | None, revision: str | None) -> str:
    target = f'"{suggested}"' if suggested else "the Hub id of the model the adapter was trained on"
    pin = f' and "revision" to "{revision}"' if revision else ""
    return (
        f"Set base_model_name_or_path in adapter_config.json to {target}{pin}, and base_model in the README"
        " front matter to the same id."
    )
