"""HL601: the adapter needs a recent PEFT: older releases reject its config or silently drop parts of it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from hublint.rules.compat.versions import (
    FORWARD_COMPATIBLE,
    LEGACY_REMOVED,
    LegacySupport,
    Requirement,
    Version,
    format_version,
    legacy_support,
    parse_version,
    requirements,
)
from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot

STRICT = format_version(FORWARD_COMPATIBLE)
# How a PEFT older than the requirement fails (research/peft.md section 3).
_FAILURES = {
    "peft_type": "older PEFT fails with `KeyError` on the unknown peft_type",
    "init": "older PEFT raises `ValueError: Unknown initialization`",
    "target": "older PEFT takes 'all-linear' for a module name and raises `ValueError: Target modules ... not found`",
}


class RequiresNewerPeft(Rule):
    code = "HL601"
    name = "requires-newer-peft"
    category = Category.COMPAT
    severity = Severity.INFO
    needs = frozenset({Need.CONFIG})
    options: ClassVar[Mapping[str, Any]] = {"min_version": "0.15.0"}

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        threshold = parse_version(self.settings["min_version"])
        if threshold is None:
            value = self.settings["min_version"]
            raise ValueError(f"HL601 option min_version must be a version such as 0.14.0, not {value!r}")
        self.threshold = threshold

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        legacy = legacy_support(snapshot.config)
        if legacy is not None:  # whatever the threshold: some current releases refuse these configs
            yield self._legacy_finding(legacy)
        needed = requirements(snapshot.config)
        if not needed or needed[0].version < self.threshold:
            return
        minimum = format_version(needed[0].version)
        top = [r for r in needed if r.version == needed[0].version]
        yield self.finding(
            f"Loading this adapter correctly needs PEFT >= {minimum} ({'; '.join(r.reason for r in top)}):"
            f" {_failures(top, needed[0].version)}.",
            file=ADAPTER_CONFIG,
            details={
                "minimum_version": minimum,
                "requirements": [{"version": format_version(r.version), "reason": r.reason} for r in needed],
                "written_by": snapshot.config.get("peft_version"),
                "strict_before": STRICT,
            },
            fix=Fix(
                f"Install peft>={minimum} (pip install -U 'peft>={minimum}'); owners can say so in the model card."
            ),
        )

    def _legacy_finding(self, legacy: LegacySupport) -> Finding:
        keys = ", ".join(legacy.keys)
        removed, strict = format_version(LEGACY_REMOVED), format_version(FORWARD_COMPATIBLE)
        refused = (
            f"PEFT >= {removed} and < {strict} raises `TypeError: ... got an unexpected keyword argument"
            f" '{legacy.keys[0]}'`"
        )
        if legacy.loads_from is None:
            refused += (
                f"; PEFT >= {strict} drops the keys but cannot fit the fused `lora.MergedLinear` tensors that"
                " `enable_lora` saved into its Linear layers (`size mismatch`)"
            )
        loads = " or ".join(legacy.specifiers) or "no PEFT release (it also has keys newer than 0.2)"
        return self.finding(
            f"adapter_config.json has keys of PEFT 0.1-0.2 ({keys}): only {loads} loads it; {refused}.",
            file=ADAPTER_CONFIG,
            severity=Severity.INFO if legacy.loads_from else Severity.WARNING,
            details={"legacy_keys": list(legacy.keys), "loads_with": legacy.specifiers},
            fix=Fix(_legacy_fix(legacy)),
        )


def _legacy_fix(legacy: LegacySupport) -> str:
    if legacy.loads_from is not None:
        return (
            f"Delete {', '.join(legacy.keys)} from adapter_config.json (PEFT has ignored them since"
            f" {format_version(LEGACY_REMOVED)}); users load it with {legacy.specifiers[-1]} meanwhile."
        )
    return (
        f"Merge the adapter into its base with {legacy.specifiers[0] if legacy.specifiers else 'peft<0.3.0'}"
        " (merge_and_unload) and publish the merged model, or retrain it with a current PEFT."
    )


def _failures(top: list[Requirement], minimum: Version) -> str:
    failures = []
    for kind in dict.fromkeys(r.kind for r in top):
        if kind not in ("field", "keys"):
            failures.append(_FAILURES[kind])
            continue
        if minimum > FORWARD_COMPATIBLE:
            failures.append(
                f"PEFT >= {STRICT} but < {format_version(minimum)} drops the newer fields with only a warning, so"
                " that part of the adapter is silently lost"
            )
        failures.append(
            f"PEFT < {format_version(min(minimum, FORWARD_COMPATIBLE))} raises `TypeError: ... got an unexpected"
            " keyword argument` on keys it doesn't know"
        )
    return "; ".join(dict.fromkeys(failures))
