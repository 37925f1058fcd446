"""HL308: the saved task head has another number of labels than the base config gives the Auto class."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.tasks import auto_class, base_num_labels, head_label_layers, task_type
from hublint.rules.recipes import load_recipe
from hublint.rules.snapshot import RepoSnapshot


class TaskHeadLabelsMismatch(Rule):
    code = "HL308"
    name = "task-head-labels-mismatch"
    category = Category.SHAPE
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.CONFIG, Need.WEIGHTS, Need.BASE})
    fixable = True

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        base = snapshot.require_base()
        layers = list(head_label_layers(snapshot))
        expected = base_num_labels(base)
        wrong = [layer for layer in layers if layer.labels != expected]
        if not wrong:
            return
        layer = wrong[0]
        labels = layer.labels
        loader = auto_class(snapshot.config)
        said = "its num_labels/id2label" if base.config.get("id2label") or base.config.get("num_labels") else "nothing"
        base_id = snapshot.base_model_id
        recipe = load_recipe(snapshot, base_id, num_labels=labels) if base_id else None
        yield self.finding(
            f"The adapter's {task_type(snapshot.config)} head has {labels} label rows (`{layer.tensor.name}` is"
            f" {list(layer.tensor.shape)}), but {base.model_id}'s config says {said}, so {loader} builds a head with"
            f" {expected} rows: PeftModel.from_pretrained fails with `size mismatch for {layer.module}` unless the"
            f" program passes num_labels={labels}.",
            file=layer.file,
            details={"head": layer.module, "adapter_labels": labels, "base_labels": expected},
            fix=Fix(
                f"Load the base with {loader}.from_pretrained(BASE, num_labels={labels}) (and id2label for the label"
                " names); say so in the model card.",
                recipe,
            ),
        )
