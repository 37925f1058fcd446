"""HL606: the adapter's task_type needs a transformers Auto class that has no class for the base architecture."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.tasks import AUTO_CLASS_BY_TASK, natural_task, supported_tasks, task_type
from hublint.rules.recipes import load_recipe
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot


class TaskTypeUnsupportedByBase(Rule):
    code = "HL606"
    name = "task-type-unsupported-by-base"
    category = Category.COMPAT
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.CONFIG, Need.BASE})
    fixable = True

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        base = snapshot.require_base()
        task = task_type(snapshot.config)
        supported = supported_tasks(base)
        # Unset or unknown task types load as a plain PeftModel; untabled model types get no verdict.
        if task is None or supported is None or task in supported:
            return
        model_type = base.config["model_type"]
        working = natural_task(base, supported)
        loads_with = ", ".join(AUTO_CLASS_BY_TASK[t] for t in sorted(supported))
        recipe = None
        if working is not None and snapshot.base_model_id:
            changes = {"auto_class": AUTO_CLASS_BY_TASK[working], "task_type_override": working}
            recipe = load_recipe(snapshot, snapshot.base_model_id, **changes)
        yield self.finding(
            f"task_type {task} loads the base with {AUTO_CLASS_BY_TASK[task]}, which has no class for"
            f" {model_type} models such as {base.model_id}: AutoPeftModel and the usual loading code fail with"
            f" `ValueError: Unrecognized configuration class ... for this kind of AutoModel:"
            f" {AUTO_CLASS_BY_TASK[task]}`. {model_type} bases load with {loads_with}.",
            file=ADAPTER_CONFIG,
            details={
                "task_type": task,
                "model_type": model_type,
                "supported_task_types": sorted(supported),
                "suggested_task_type": working,
            },
            fix=Fix(
                f'Set "task_type": "{working}" in adapter_config.json (the task {base.model_id} was built for)'
                f" and load the base with {AUTO_CLASS_BY_TASK[working]}."
                if working
                else f"Set task_type to one of {', '.join(sorted(supported))}, the tasks {model_type} supports.",
                recipe,
            ),
        )
