"""HL401: the adapter weights exist only as a pickle, which can run code when loaded."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import Category, Finding, Fix, Rule, Severity
from hublint.rules.snapshot import RepoSnapshot

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


class PickleWeights(Rule):
    code = "HL401"
    name = "pickle-weights"
    category = Category.SECURITY
    severity = Severity.WARNING
    needs = frozenset()  # the file list alone

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        adapter_files = [path for path in snapshot.files if path.startswith("adapter_model")]
        pickles = sorted(path for path in adapter_files if path.endswith(PICKLE_SUFFIXES))
        if not pickles or any(path.endswith(".safetensors") for path in adapter_files):
            return
        yield self.finding(
            f"The adapter weights exist only as {', '.join(pickles)}, a Python pickle: unpickling can run arbitrary"
            " code on the user's machine, and TGI, which reads only .safetensors adapters, cannot load it.",
            file=pickles[0],
            details={"pickle_files": pickles},
            fix=Fix(
                "Load the adapter once in a trusted environment and save it again with PEFT >= 0.7 (safetensors is"
                " the default: model.save_pretrained(dir)), then upload adapter_model.safetensors and delete the"
                " pickle."
            ),
        )
