"""Ground-truth fixtures: tiny Llama bases and PEFT adapters written by the real transformers + peft.

Everything is laid out as a Hub emulator root, ``<root>/<owner>/<name>/<files>``. Builds are cached (see
``build_all``) and the cache-hit path imports neither torch nor transformers, so a warm session costs a copy.

Offline by construction: adapters are trained with the current directory set to the fixture root, so the Hub id
``hl-bases/tiny-llama`` resolves to ``<root>/hl-bases/tiny-llama`` exactly as a downloaded repo would. That way
transformers records the Hub id as ``name_or_path`` (so ``adapter_config.json`` and the README front matter carry it
without any patching) and PEFT's ``save_embedding_layers="auto"`` really looks the base config up and detects a
resized vocabulary, as it does for a trainer whose base is on the Hub.

Case facts (rows, tokenizer length, whether a naive load fails) are asserted against real loads by
``tests/test_peft_ground_truth.py``; ``tests/fixtures/README.md`` summarises them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # heavy imports stay out of the cache-hit path
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

BASE = "hl-bases/tiny-llama"
BASE_TIED = "hl-bases/tiny-llama-tied"
BASE_SHARDED = "hl-bases/tiny-llama-sharded"
BASES = (BASE, BASE_TIED, BASE_SHARDED)
ADAPTER_OWNER = "hl-test"

BASE_VOCAB = 1000
HIDDEN = 64
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
SHARD_SIZE = "300KB"  # the fp32 tiny base is ~0.8 MB, so this gives 3 shards plus an index
CACHE_ENV = "HUBLINT_FIXTURE_CACHE"
MANIFEST = "manifest.json"  # written last: its presence marks a complete cache entry
TRAIN_STEPS = 3

# "index error": PEFT itself indexes past the base rows while injecting the adapter (trainable tokens)
NaiveLoad = Literal["ok", "size mismatch", "index error"]


@dataclass(frozen=True)
class Case:
    """One adapter repo: how it is built and the facts a real load confirms."""

    name: str
    lora: dict[str, Any]  # LoraConfig kwargs (task_type is always CAUSAL_LM)
    base: str = BASE
    new_tokens: int = 0  # tokens added to the tokenizer (and, if `resize`, rows added to the model)
    resize: bool = True
    pad_to_multiple_of: int | None = None
    ship_tokenizer: bool = False
    save_embedding_layers: bool | Literal["auto"] = "auto"
    base_reachable: bool = True  # False: saved as if offline, PEFT cannot look the base config up
    # Ground truth, checked against the files and real loads by tests/test_peft_ground_truth.py:
    saved_rows: int | None = None  # rows of every saved embedding-shaped tensor; None = nothing saved
    naive_load: NaiveLoad = "ok"  # AutoModelForCausalLM(base) + PeftModel.from_pretrained(adapter)
    note: str = field(default="", compare=False)

    @property
    def repo_id(self) -> str:
        return f"{ADAPTER_OWNER}/{self.name}"

    @property
    def tokenizer_len(self) -> int | None:
        return BASE_VOCAB + self.new_tokens if self.ship_tokenizer else None

    @property
    def model_rows(self) -> int:
        """Embedding rows of the model at training time."""
        if not (self.new_tokens and self.resize):
            return BASE_VOCAB
        pad = self.pad_to_multiple_of or 1
        return -(-(BASE_VOCAB + self.new_tokens) // pad) * pad


QV = ["q_proj", "v_proj"]
MTS = ["lm_head", "embed_tokens"]
CASES: dict[str, Case] = {
    c.name: c
    for c in [
        Case(
            "seed-resized-mts",
            {"r": 8, "target_modules": QV, "modules_to_save": MTS},
            new_tokens=4,
            ship_tokenizer=True,
            saved_rows=1004,
            naive_load="size mismatch",
            note="the seed case; with the base reachable PEFT also saves .modules_to_save./.original_module. copies",
        ),
        Case(
            "resized-mts-base-unreachable",
            {"r": 8, "target_modules": QV, "modules_to_save": MTS},
            new_tokens=4,
            ship_tokenizer=True,
            base_reachable=False,
            saved_rows=1004,
            naive_load="size mismatch",
            note="the seed case saved offline: auto-detection is skipped, so only the two plain keys",
        ),
        Case(
            "padded-resize",
            {"r": 8, "target_modules": QV, "modules_to_save": MTS},
            new_tokens=10,
            pad_to_multiple_of=64,
            ship_tokenizer=True,
            saved_rows=1024,
            naive_load="size mismatch",
            note="len(tokenizer)=1010 but 1024 rows: resizing to len(tokenizer) still fails",
        ),
        Case(
            "auto-saved-embeddings",
            {"r": 8, "target_modules": QV},
            new_tokens=4,
            ship_tokenizer=True,
            saved_rows=1004,
            naive_load="size mismatch",
            note='no modules_to_save; save_embedding_layers="auto" detects the resize (base reachable)',
        ),
        Case(
            "tied-resized",
            {"r": 8, "target_modules": QV, "modules_to_save": ["embed_tokens"]},
            base=BASE_TIED,
            new_tokens=4,
            ship_tokenizer=True,
            saved_rows=1004,
            naive_load="size mismatch",
            note="base reachable: lm_head.weight is saved too, and holds the *untrained* (original, tied) matrix",
        ),
        Case(
            "tied-resized-base-unreachable",
            {"r": 8, "target_modules": QV, "modules_to_save": ["embed_tokens"]},
            base=BASE_TIED,
            new_tokens=4,
            ship_tokenizer=True,
            base_reachable=False,
            saved_rows=1004,
            naive_load="size mismatch",
            note="saved offline: only embed_tokens.weight, no lm_head",
        ),
        Case(
            "lora-on-embed",
            {"r": 8, "target_modules": ["embed_tokens", "q_proj"]},
            new_tokens=4,
            ship_tokenizer=True,
            saved_rows=1004,
            naive_load="size mismatch",
            note="lora_embedding_A is [r, rows]; the full base matrix is saved as embed_tokens.base_layer.weight",
        ),
        Case(
            "trainable-tokens",
            {"r": 8, "target_modules": QV, "trainable_token_indices": [1000, 1001, 1002, 1003]},
            new_tokens=4,
            ship_tokenizer=True,
            saved_rows=1004,
            naive_load="index error",
            note="naive load dies before the state dict: IndexError: index 1000 is out of bounds ... size 1000",
        ),
        Case(
            "trainable-tokens-no-resize",
            {"r": 8, "target_modules": QV, "trainable_token_indices": [5, 6, 7]},
            note="clean: only a [3, 64] delta",
        ),
        Case("clean-lora", {"r": 8, "target_modules": QV}),
        Case("clean-lora-sharded-base", {"r": 8, "target_modules": QV}, base=BASE_SHARDED),
        Case(
            "untrained-tokens",
            {"r": 8, "target_modules": QV},
            new_tokens=4,
            ship_tokenizer=True,
            save_embedding_layers=False,
            note="trained resized, saved without embeddings: loads naively, but ids 1000-1003 index past 1000 rows",
        ),
        Case("dora", {"r": 8, "target_modules": QV, "use_dora": True}),
        Case("rank-pattern", {"r": 8, "target_modules": QV, "rank_pattern": {"v_proj": 2}}),
        Case("big-rank", {"r": 64, "target_modules": QV}, note="r=64 = min(in, out) of q_proj: not low-rank"),
        Case("rslora-r64", {"r": 64, "lora_alpha": 16, "target_modules": QV, "use_rslora": True}),
    ]
}


# --------------------------------------------------------------------------------------------- public API


def build_all(root: Path, cache: Path | None = None) -> dict[str, str]:
    """Populate `root` with every base and adapter; return adapter case name -> repo id.

    The build happens once per cache key (library versions + this file) in `cache`; later calls only copy.
    Files are copied, not hard-linked, so a test that corrupts a fixture in place cannot poison the cache.
    """
    entry = ensure_cache(cache or default_cache_dir())
    shutil.copytree(entry, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))
    return {name: case.repo_id for name, case in CASES.items()}


def default_cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hublint-test-fixtures"
    return Path(base) / cache_key()


def cache_key() -> str:
    """Changes whenever a library that shapes the files, or this factory, changes."""
    h = hashlib.sha256()
    for dist in ("torch", "transformers", "peft", "tokenizers", "safetensors"):
        h.update(f"{dist}={metadata.version(dist)};".encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def ensure_cache(entry: Path) -> Path:
    """Build into a private temp dir and rename it into place, so concurrent sessions (xdist) never see half a build."""
    if (entry / MANIFEST).is_file():
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.parent / f".{entry.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    try:
        build_uncached(tmp)
        manifest = {"cache_key": entry.name, "cases": {n: c.repo_id for n, c in CASES.items()}, "bases": BASES}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        try:
            tmp.rename(entry)
        except OSError:
            if not (entry / MANIFEST).is_file():
                raise
            # another process won the race; its entry is as good as ours
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return entry


def build_uncached(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for base in BASES:
        build_base(root, base)
    for name in CASES:
        build_case(root, name)


def build_base(root: Path, repo_id: str) -> str:
    """A seeded random LlamaForCausalLM + a 1000-token tokenizer, saved as safetensors."""
    from transformers import LlamaConfig, LlamaForCausalLM

    out = root / repo_id
    _seed(repo_id)
    config = LlamaConfig(
        vocab_size=BASE_VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        tie_word_embeddings=repo_id == BASE_TIED,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = LlamaForCausalLM(config)
    # transformers 5 drops `_name_or_path` from config.json whatever we set; recorded ids come from the load path.
    shard = {"max_shard_size": SHARD_SIZE} if repo_id == BASE_SHARDED else {}
    model.save_pretrained(out, safe_serialization=True, **shard)
    _save_tokenizer(_base_tokenizer(), out)
    return repo_id


def build_case(root: Path, name: str) -> str:
    """Train (a few steps) and save one adapter case into `root`; its base is built first if missing."""
    case = CASES[name]
    if not (root / case.base / "config.json").is_file():
        build_base(root, case.base)
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = (root / case.repo_id).resolve()
    with at_hub_root(root):
        tokenizer = AutoTokenizer.from_pretrained(case.base)
        _seed(case.name)
        model = AutoModelForCausalLM.from_pretrained(case.base)
        if case.new_tokens:
            tokenizer.add_tokens([f"<|new_{i}|>" for i in range(case.new_tokens)], special_tokens=True)
        if case.new_tokens and case.resize:
            model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=case.pad_to_multiple_of)
        peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **case.lora))
        _train(peft_model, n_tokens=len(tokenizer) if case.resize else BASE_VOCAB, focus=_focus_ids(case))
    # save_embedding_layers="auto" looks for `<base id>/config.json` under the cwd, then asks the Hub (offline: no)
    with tempfile.TemporaryDirectory() as elsewhere, at_hub_root(root if case.base_reachable else Path(elsewhere)):
        peft_model.save_pretrained(out, save_embedding_layers=case.save_embedding_layers)
    if case.ship_tokenizer:
        _save_tokenizer(tokenizer, out)
    return case.repo_id


# --------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def at_hub_root(root: Path) -> Iterator[None]:
    """Make Hub ids resolve to `<root>/<owner>/<name>` (transformers and PEFT treat an existing relative dir as
    local) and forbid any request to the real Hub, for the duration of the block only.

    huggingface_hub freezes HF_HUB_OFFLINE into `constants` at import time, so that is patched too (and both are
    restored): leaving either set would silently turn every later test that talks to the Hub emulator offline.
    """
    import huggingface_hub.constants as hub_constants

    old_cwd, old_env, old_const = Path.cwd(), os.environ.get("HF_HUB_OFFLINE"), hub_constants.HF_HUB_OFFLINE
    os.chdir(root)  # contextlib.chdir is 3.11+, the project supports 3.10
    os.environ["HF_HUB_OFFLINE"] = "1"  # PEFT's "is the base config on the Hub?" probe reads os.environ
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        os.chdir(old_cwd)
        hub_constants.HF_HUB_OFFLINE = old_const
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env


def _seed(name: str) -> None:
    import torch

    torch.manual_seed(zlib.crc32(name.encode()))


def _base_tokenizer() -> PreTrainedTokenizerBase:
    """A WordLevel tokenizer with exactly BASE_VOCAB ids; specials registered as added tokens at 0..2."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    vocab.update({f"w{i}": i for i in range(len(SPECIAL_TOKENS), BASE_VOCAB)})
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def _save_tokenizer(tokenizer: PreTrainedTokenizerBase, out: Path) -> None:
    tokenizer.save_pretrained(out)
    _hub_style_tokenizer_config(tokenizer, out / "tokenizer_config.json")


def _hub_style_tokenizer_config(tokenizer: PreTrainedTokenizerBase, path: Path) -> None:
    """Patch tokenizer_config.json to look like the files on the Hub (the only file this factory patches).

    transformers 5 omits `added_tokens_decoder` for tokenizers-backed tokenizers (tokenizer.json has the same data),
    but nearly every Hub tokenizer was saved by 4.x and has it, so the linter must meet it; 5.x reads it back.
    It also writes the load-time kwargs `is_local` / `local_files_only`, artefacts of where *we* loaded from.
    """
    config = json.loads(path.read_text())
    for leaked in ("is_local", "local_files_only"):
        config.pop(leaked, None)
    added = sorted(tokenizer.added_tokens_decoder.items())
    config["added_tokens_decoder"] = {str(i): token.__getstate__() for i, token in added}
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def _focus_ids(case: Case) -> list[int]:
    """Ids every training batch contains, so the rows a case is about really move."""
    if case.lora.get("trainable_token_indices"):
        return list(case.lora["trainable_token_indices"])
    return list(range(BASE_VOCAB, BASE_VOCAB + case.new_tokens)) if case.resize else []


def _train(model: PreTrainedModel, n_tokens: int, focus: list[int]) -> None:
    """A few AdamW steps on random ids so saved weights are not at their init (lora_B starts at zero)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    fixed = torch.tensor(focus, dtype=torch.long)
    for _ in range(TRAIN_STEPS):
        ids = torch.cat([fixed, torch.randint(0, n_tokens, (32 - len(fixed),))]).reshape(2, 16)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
