"""PEFT task types: the transformers Auto class each one loads, the head it creates, and which bases have one.

PEFT's `PeftModelFor<Task>` wraps the model that the task's Auto class builds. For classification and QA that
class creates a head the base checkpoint lacks (`classifier`, `score`, RoBERTa's `classifier.dense` and
`classifier.out_proj`, `qa_outputs`), and PEFT adds it to `modules_to_save` (peft_model.py:
`PeftModelForSequenceClassification.classifier_module_names = ["classifier", "score"]`, QA: `["qa_outputs"]`),
so the adapter carries the trained head. Its output layer has one row per label; the Auto class makes
`config.num_labels` rows (`len(id2label)`, 2 when the config says nothing), so a head with another row count loads
only when the program passes `num_labels=<rows>`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hublint.rules.peft.keys import adapter_keys
from hublint.rules.peft.layers import canonical, owner_module
from hublint.rules.snapshot import BaseModelFacts, RepoSnapshot, TensorHeader

CAUSAL_LM = "CAUSAL_LM"
AUTO_CLASS_BY_TASK: Mapping[str, str] = {
    CAUSAL_LM: "AutoModelForCausalLM",
    "SEQ_2_SEQ_LM": "AutoModelForSeq2SeqLM",
    "SEQ_CLS": "AutoModelForSequenceClassification",
    "TOKEN_CLS": "AutoModelForTokenClassification",
    "QUESTION_ANS": "AutoModelForQuestionAnswering",
    "FEATURE_EXTRACTION": "AutoModel",
}
# Top-level modules the task's Auto class creates on top of the base model (BART/T5: `classification_head`).
HEAD_MODULES: Mapping[str, tuple[str, ...]] = {
    "SEQ_CLS": ("classifier", "score", "classification_head"),
    "TOKEN_CLS": ("classifier", "score"),
    "QUESTION_ANS": ("qa_outputs",),
}
# The head's output layer, whose rows are the labels: `score`, `classifier`, `qa_outputs`, or RoBERTa's and
# BART's `….out_proj` after a hidden-size `dense` layer.
_LABEL_LAYER_LEAVES = frozenset({"classifier", "score", "qa_outputs", "out_proj"})
# transformers' PretrainedConfig: num_labels defaults to 2 when the config has neither num_labels nor id2label.
DEFAULT_NUM_LABELS = 2

# Which task types have an Auto class for each popular model_type: transformers 5.24
# `models/auto/modeling_auto.py` *_MAPPING_NAMES (checked by tests/rules/test_tasks.py against the installed
# transformers). Model types not listed get no verdict.
_ALL_BUT_SEQ2SEQ = "CAUSAL_LM SEQ_CLS TOKEN_CLS QUESTION_ANS FEATURE_EXTRACTION"
_ENCODER = "SEQ_CLS TOKEN_CLS QUESTION_ANS FEATURE_EXTRACTION"
_T5 = "SEQ_2_SEQ_LM SEQ_CLS TOKEN_CLS QUESTION_ANS FEATURE_EXTRACTION"
_BART = "CAUSAL_LM SEQ_2_SEQ_LM SEQ_CLS QUESTION_ANS FEATURE_EXTRACTION"
_TASKS_BY_MODEL_TYPE: Mapping[str, str] = {
    **dict.fromkeys(
        ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gpt2", "gpt_neox", "falcon"),
        _ALL_BUT_SEQ2SEQ,
    ),
    **dict.fromkeys(("bloom", "mpt", "bert", "roberta", "xlm-roberta", "electra"), _ALL_BUT_SEQ2SEQ),
    **dict.fromkeys(
        ("gemma", "gemma2", "phi", "phi3", "starcoder2", "stablelm", "gpt_bigcode", "deepseek_v3"),
        "CAUSAL_LM SEQ_CLS TOKEN_CLS FEATURE_EXTRACTION",
    ),
    **dict.fromkeys(("gemma3", "gemma3_text", "olmo", "olmo2", "deepseek_v2"), "CAUSAL_LM SEQ_CLS FEATURE_EXTRACTION"),
    **dict.fromkeys(("gptj", "opt"), "CAUSAL_LM SEQ_CLS QUESTION_ANS FEATURE_EXTRACTION"),
    "cohere": "CAUSAL_LM FEATURE_EXTRACTION",
    **dict.fromkeys(("t5", "mt5", "umt5"), _T5),
    **dict.fromkeys(("bart", "mbart"), _BART),
    **dict.fromkeys(("pegasus", "marian"), "CAUSAL_LM SEQ_2_SEQ_LM FEATURE_EXTRACTION"),
    **dict.fromkeys(("deberta", "deberta-v2", "distilbert", "albert", "modernbert"), _ENCODER),
}
TASKS_BY_MODEL_TYPE: Mapping[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in _TASKS_BY_MODEL_TYPE.items()}


def task_type(config: Mapping[str, Any]) -> str | None:
    """The adapter's task_type as PEFT reads it (case-sensitive, like PeftModel's task mapping)."""
    value = config.get("task_type")
    return value if isinstance(value, str) and value in AUTO_CLASS_BY_TASK else None


def auto_class(config: Mapping[str, Any]) -> str:
    """The transformers class a loading program uses for this adapter (causal LM when the task is unset)."""
    return AUTO_CLASS_BY_TASK[task_type(config) or CAUSAL_LM]


def supported_tasks(base: BaseModelFacts) -> frozenset[str] | None:
    """The task types transformers has an Auto class for on this base; None when the model_type is not tabled."""
    model_type = base.config.get("model_type")
    return TASKS_BY_MODEL_TYPE.get(model_type) if isinstance(model_type, str) else None


def natural_task(base: BaseModelFacts, tasks: frozenset[str]) -> str | None:
    """The task the base checkpoint was built for, from its `architectures` (`LlamaForCausalLM` -> CAUSAL_LM)."""
    architectures = base.config.get("architectures")
    names = [a for a in architectures if isinstance(a, str)] if isinstance(architectures, list) else []
    if base.config.get("is_encoder_decoder") or any(a.endswith("ForConditionalGeneration") for a in names):
        guess = "SEQ_2_SEQ_LM"
    elif not names or any(a.endswith("ForCausalLM") for a in names):  # no architectures: decoders are most common
        guess = CAUSAL_LM
    else:
        guess = "FEATURE_EXTRACTION"
    return guess if guess in tasks else None


def is_head_module(task: str | None, module: str) -> bool:
    """True when the module is part of the head the task's Auto class creates (`score`, `classifier.dense`)."""
    return canonical(module).split(".", 1)[0] in HEAD_MODULES.get(task or "", ())


def base_num_labels(base: BaseModelFacts) -> int:
    """How many label rows the Auto class gives the head when the program passes no num_labels."""
    id2label = base.config.get("id2label")
    if isinstance(id2label, Mapping) and id2label:
        return len(id2label)
    num_labels = base.config.get("num_labels")
    return num_labels if isinstance(num_labels, int) and num_labels > 0 else DEFAULT_NUM_LABELS


@dataclass(frozen=True)
class HeadLayer:
    """The saved output layer of a task head: its weight's rows are the adapter's labels."""

    file: str
    tensor: TensorHeader
    module: str

    @property
    def labels(self) -> int:
        return self.tensor.shape[0]


def head_label_layers(snapshot: RepoSnapshot) -> Iterator[HeadLayer]:
    task = task_type(snapshot.config)
    for weights, tensor, key in adapter_keys(snapshot):
        module = owner_module(key)
        if (
            key.kind == "full"
            and len(tensor.shape) == 2
            and is_head_module(task, module)
            and module.rsplit(".", 1)[-1] in _LABEL_LAYER_LEAVES
        ):
            yield HeadLayer(weights.path, tensor, module)


def saved_num_labels(snapshot: RepoSnapshot) -> int | None:
    """Rows of the saved head's output layer: the num_labels a loading program must pass."""
    rows = {layer.labels for layer in head_label_layers(snapshot)}
    return rows.pop() if len(rows) == 1 else None
