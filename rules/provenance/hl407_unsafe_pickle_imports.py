"""HL407: a PyTorch `.bin` whose pickle imports something other than tensors: torch.load would run it."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.snapshot import RepoSnapshot

# What torch.load(weights_only=True) accepts (torch/_weights_only_unpickler.py, _get_allowed_globals): the state-dict
# container, tensor and parameter rebuild functions, storage classes, dtypes, devices, layouts and quantization
# schemes. Everything else in a weights file is code that plain torch.load (weights_only=False) imports and runs.
ALLOWED_GLOBALS = frozenset(
    {
        "collections.OrderedDict",
        "collections.Counter",
        "torch.nn.parameter.Parameter",
        "torch.Tensor",
        "torch.Size",
        "torch.device",
        "torch.serialization._get_layout",
        "torch._tensor._rebuild_from_type_v2",
        "_codecs.encode",  # how protocol 2 pickles bytes
        "builtins.bytearray",
        "builtins.set",
        "builtins.complex",
    }
)
_ALLOWED_PATTERNS = (
    re.compile(r"torch\._utils\._rebuild_[a-z0-9_]+"),  # _rebuild_tensor_v2, _rebuild_parameter, ...
    re.compile(r"torch(\.cuda)?\.[A-Za-z0-9]*Storage"),  # torch.FloatStorage, torch.cuda.HalfStorage, ...
    re.compile(r"torch\.storage\.(Untyped|Typed)Storage"),
    re.compile(r"torch\.(u?int\d+|float\d*(_e\d+m\d+\w*)?|bfloat16|half|double|long|short|bool|complex\d+)"),
    re.compile(r"torch\.(c?q?u?int\d+(x\d+)?|bits\w+|float4_e2m1fn_x2)"),  # quantized and bit-packed dtypes
    re.compile(r"torch\.(strided|sparse_\w+|_mkldnn|jagged)"),  # layouts
    re.compile(r"torch\.per_(tensor|channel)_\w+"),  # quantization schemes
)
# Modules whose globals are plainly an attack, said as such in the message.
_DANGEROUS_MODULES = frozenset(
    [
        "os",
        "posix",
        "nt",
        "subprocess",
        "builtins",
        "__builtin__",
        "sys",
        "importlib",
        "runpy",
        "shutil",
        "socket",
        "pty",
        "webbrowser",
        "code",
        "codeop",
        "pickle",
        "marshal",
        "ctypes",
    ]
)
_SHOWN = 5


def is_allowed(qualified: str) -> bool:
    return qualified in ALLOWED_GLOBALS or any(p.fullmatch(qualified) for p in _ALLOWED_PATTERNS)


class UnsafePickleImports(Rule):
    code = "HL407"
    name = "unsafe-pickle-imports"
    category = Category.SECURITY
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.WEIGHTS})
    reads_tensors = False  # the imports are known even when no tensor could be read

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        for weights in snapshot.weights:
            unsafe = [name for name in weights.imports if not is_allowed(name)]
            if not unsafe:
                continue
            dangerous = [name for name in unsafe if name.split(".", 1)[0] in _DANGEROUS_MODULES]
            shown = ", ".join(unsafe[:_SHOWN]) + (f" and {len(unsafe) - _SHOWN} more" if len(unsafe) > _SHOWN else "")
            verdict = (
                "This is how malicious checkpoints run commands on the machine that loads them."
                if dangerous
                else "A weights file needs none of them."
            )
            yield self.finding(
                f"{weights.path} makes torch.load import and call {shown}, which are not tensors: loading it with"
                f" torch.load (or transformers/PEFT on an old torch) runs that code. {verdict} Do not load it;"
                " torch.load(weights_only=True) refuses it.",
                file=weights.path,
                details={"globals": unsafe, "dangerous": dangerous},
                fix=Fix(
                    "Do not load this file. If you own the repo, delete it and upload weights saved as safetensors"
                    " from a trusted copy (save_pretrained writes adapter_model.safetensors by default)."
                ),
            )
