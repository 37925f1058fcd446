"""HL302: adapter tensors or target_modules name modules the base model doesn't have, so they never apply."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.config import peft_type
from hublint.rules.peft.keys import PREFIX, adapter_keys
from hublint.rules.peft.layers import UNPREFIXED_TYPES, BaseLayers, owner_module
from hublint.rules.peft.methods import METHODS
from hublint.rules.peft.tasks import is_head_module, task_type
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot

# Shared tuner tensors such as VeRA's `base_model.vera_A` sit directly under `base_model.`.
_TUNER_PREFIX = "base_model."
_EXAMPLES = 5
_MODULE_NAMES = 20


class TargetModuleNotInBase(Rule):
    code = "HL302"
    name = "target-module-not-in-base"
    category = Category.SHAPE
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.CONFIG, Need.WEIGHTS, Need.BASE})
    reads_base_shapes = True
    peft_types = frozenset(METHODS)  # every method PEFT knows; an unknown peft_type is HL605's

    def skip_reason(self, snapshot: RepoSnapshot) -> str | None:
        kind = peft_type(snapshot.config)
        if kind in UNPREFIXED_TYPES:  # prompt learning and X-LoRA save un-prefixed keys, adapt no named module
            return f"{kind} saves no per-module tensors to match against the base's modules"
        return super().skip_reason(snapshot)

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        base = snapshot.require_base()
        layers = base.layers
        yield from self._unprefixed_keys(snapshot)
        targets = snapshot.config.get("target_modules")
        # Only PEFT's list form: a regex string or "all-linear" depends on in-memory names the headers lack.
        targets = [str(t) for t in targets] if isinstance(targets, list) else []
        # A classification or QA head (`score`, `classifier`) is created by the task's Auto class, not in the base.
        task = task_type(snapshot.config)
        unmatched = [t for t in layers.unmatched_targets(targets) if not is_head_module(task, t)]
        if targets and len(unmatched) == len(targets):
            # PEFT raises on unmatched target_modules before it reads any tensor: report that alone.
            yield self._no_target_matches(targets, base.model_id)
            return
        if unmatched:
            yield self._some_targets_unmatched(unmatched, targets, layers, base.model_id)
        yield from self._missing_modules(snapshot, layers, base.model_id)

    def _unprefixed_keys(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        keys = [(weights.path, key.name) for weights, _, key in adapter_keys(snapshot)]
        unprefixed = [(path, name) for path, name in keys if not name.startswith(_TUNER_PREFIX)]
        if not unprefixed:
            return
        yield self.finding(
            f"{len(unprefixed)} of {len(keys)} tensor keys lack the `{PREFIX}` prefix PEFT writes (e.g."
            f" `{unprefixed[0][1]}`): PeftModel.from_pretrained loads nothing from them and only warns about"
            " missing adapter keys, so the base model runs unchanged.",
            file=unprefixed[0][0],
            details={
                "unprefixed": len(unprefixed),
                "keys": len(keys),
                "examples": [n for _, n in unprefixed[:_EXAMPLES]],
            },
            fix=Fix(
                f"Rename the tensors to `{PREFIX}<module path>.lora_A.weight` etc., as PEFT's save_pretrained"
                " writes them, and upload the file again."
            ),
        )

    def _missing_modules(self, snapshot: RepoSnapshot, layers: BaseLayers, base_id: str) -> Iterator[Finding]:
        missing: dict[str, list[str]] = {}  # module -> tensor names
        files: dict[str, str] = {}
        task = task_type(snapshot.config)
        for weights, _, key in adapter_keys(snapshot):
            module = owner_module(key)
            # A classification or QA head is not in the base checkpoint: the task's Auto class creates it.
            if layers.drops(key) and not is_head_module(task, module):
                missing.setdefault(module, []).append(key.name)
                files.setdefault(module, weights.path)
        if not missing:
            return
        modules = sorted(missing)
        tensors = sum(len(names) for names in missing.values())
        yield self.finding(
            f"{tensors} adapter tensor(s) belong to {len(modules)} module(s) that {base_id} doesn't"
            f" have (e.g. `{modules[0]}`): PEFT silently ignores them, so that part of the adapter never applies.",
            file=files[modules[0]],
            details={"modules": len(modules), "tensors": tensors, "examples": modules[:_EXAMPLES]},
            fix=Fix(
                "Check that base_model_name_or_path names the model the adapter was trained on; keys with"
                " another model's module paths (more layers, other names) only load onto that model."
            ),
        )

    def _no_target_matches(self, targets: list[str], base_id: str) -> Finding:
        return self.finding(
            f"None of target_modules {sorted(targets)} names a module of {base_id}:"
            " PeftModel.from_pretrained raises `ValueError: Target modules ... not found in the base model`.",
            file=ADAPTER_CONFIG,
            details={"target_modules": sorted(targets)},
            fix=Fix("Load the adapter onto the base it was trained on, or correct target_modules."),
        )

    def _some_targets_unmatched(
        self, unmatched: list[str], targets: list[str], layers: BaseLayers, base_id: str
    ) -> Finding:
        """Some entries match and some don't: PEFT (0.21.2) adapts the matching ones without a word about the rest."""
        closest = {target: layers.closest_names(target) for target in unmatched}
        names = layers.module_names()
        hints = "; ".join(
            f"`{t}`: closest {', '.join(f'`{n}`' for n in names)}" for t, names in closest.items() if names
        )
        return self.finding(
            f"target_modules entries {_code_list(unmatched)} name no module of {base_id}, while"
            f" {len(targets) - len(unmatched)} other(s) do: PEFT adapts only those, silently, so the adapter"
            f" changes fewer layers than its config says ({hints or 'the base has ' + _code_list(names[:12])}).",
            file=ADAPTER_CONFIG,
            severity=Severity.WARNING,
            details={
                "unmatched": unmatched,
                "matched": [t for t in targets if t not in unmatched],
                "closest": closest,
                "base_modules": names[:_MODULE_NAMES],
            },
            fix=Fix(
                "Use the base's module names in target_modules (the closest ones are listed) and train again;"
                " the names of one architecture (GPT-NeoX's `query_key_value`) do not carry over to another."
            ),
        )


def _code_list(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)
