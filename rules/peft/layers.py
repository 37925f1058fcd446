"""Where an adapter tensor lands in the base model: module paths and the shapes of their weights.

The base facts hold tensor names as the base *checkpoint* spells them, while PEFT keys use the module paths of the
model *in memory*. The two differ by wrapper prefixes: GPT-2's Hub checkpoint stores `h.0.attn.c_attn.weight` for
the module `transformer.h.0.attn.c_attn`, and transformers' vision-language models load the checkpoint's
`language_model.model.layers` as `model.language_model.layers`. Paths are therefore compared with leading
wrapper components removed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence

from hublint.rules.peft.keys import AdapterKey
from hublint.rules.snapshot import BaseModelFacts

_WRAPPERS = frozenset({"model", "transformer", "language_model", "text_model", "base_model"})
_BASE_LAYER = ".base_layer"

# Prompt-learning methods save un-prefixed keys such as `prompt_embeddings` (research/peft.md section 1);
# X-LoRA saves its classifier as `internal_xlora_classifier...`.
UNPREFIXED_TYPES = frozenset(
    {"PROMPT_TUNING", "P_TUNING", "PREFIX_TUNING", "MULTITASK_PROMPT_TUNING", "CPT", "XLORA", "ADAPTION_PROMPT"}
)


def canonical(module: str) -> str:
    parts = module.split(".")
    while len(parts) > 1 and parts[0] in _WRAPPERS:
        parts = parts[1:]
    return ".".join(parts)


def owner_module(key: AdapterKey) -> str:
    """The base-model module an adapter tensor belongs to: `…q_proj` for `…q_proj.base_layer.lora_A.weight`."""
    module = key.module if key.kind != "other" else key.module.rsplit(".", 1)[0]
    while module.endswith(_BASE_LAYER):
        module = module[: -len(_BASE_LAYER)]
    return module


def is_quantized(base: BaseModelFacts) -> bool:
    """A quantized checkpoint stores packed weights (bitsandbytes `[n, 1]` bytes, GPTQ `qweight`): no layer dims."""
    return "quantization_config" in base.config or "quantization_config" in base.text_config


class BaseLayers:
    """The base model's modules, looked up by the module paths PEFT writes."""

    def __init__(self, base: BaseModelFacts) -> None:
        self._exact = {
            name.removesuffix(".weight"): shape for name, shape in base.shapes.items() if name.endswith(".weight")
        }
        # canonical path -> (the checkpoint's module path, weight shape)
        self._weights = {canonical(module): (module, shape) for module, shape in self._exact.items()}
        self._parents = {canonical(parent) for name in base.shapes for parent in _ancestors(name)}
        embedding = base.embedding_tensor()
        if embedding and base.embedding_tensor(output=True) is None:
            # A tied lm_head is not stored in the checkpoint but exists in the model, with the embedding's shape.
            self._weights.setdefault("lm_head", ("lm_head", base.shapes[embedding]))
        self.known = bool(self._weights)

    def weight_shape(self, module: str) -> tuple[int, ...] | None:
        """Shape of the module's `.weight`, e.g. `(out, in)` for nn.Linear, `(in, out)` for GPT-2's Conv1D."""
        if module in self._exact:  # exact first: canonical paths of two towers could coincide
            return self._exact[module]
        found = self._weights.get(canonical(module))
        return found[1] if found else None

    def has_module(self, module: str) -> bool:
        """True if the module exists: it has a weight, owns tensors (MoE experts), or sits inside a layer
        that has a weight (PEFT adds submodules such as OFT's `oft_R` under the layer it adapts)."""
        if canonical(module) in self._parents:
            return True
        return any(canonical(path) in self._weights for path in (module, *_ancestors(module)))

    def modules_matching(self, targets: list[str]) -> Iterator[tuple[str, tuple[int, ...]]]:
        """Modules with a weight that PEFT's list form of target_modules selects: the path is a target or ends
        in `.<target>`. Yields the checkpoint's module path and the weight shape."""
        for path, (module, shape) in self._weights.items():
            if any(name == target or name.endswith("." + target) for name in (path, module) for target in targets):
                yield module, shape

    def drops(self, key: AdapterKey) -> bool:
        """True when PEFT would drop this saved tensor: its module path does not exist in the base (PEFT loads
        adapter weights with strict=False). Un-prefixed and shared tuner keys are judged elsewhere."""
        return self.known and key.prefixed and not self.has_module(owner_module(key))

    def unmatched_targets(self, targets: Sequence[str]) -> list[str]:
        """The entries of a list-form target_modules that select no module of the base. Any module counts, with a
        weight or not (a MoE `experts` module holds `gate_up_proj` tensors, no `.weight`)."""
        paths = {*self._weights, *self._exact, *self._parents}
        return [t for t in targets if not any(path == t or path.endswith("." + t) for path in paths)]

    def module_names(self) -> list[str]:
        """The distinct last components of the base's modules that have a weight matrix: what target_modules name."""
        return sorted({path.rsplit(".", 1)[-1] for path, (_, shape) in self._weights.items() if len(shape) >= 2})

    def closest_names(self, target: str, count: int = 3) -> list[str]:
        """The base's module names that look most like `target` (difflib's ratio), best first."""
        return difflib.get_close_matches(target.rsplit(".", 1)[-1], self.module_names(), n=count, cutoff=0.5)


def _ancestors(path: str) -> Iterator[str]:
    parts = path.split(".")
    for end in range(len(parts) - 1, 0, -1):
        yield ".".join(parts[:end])
