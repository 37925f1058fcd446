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
import fcntl
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
BASE_BERT = "hl-bases/tiny-bert"  # BertForMaskedLM, as bert-base-uncased: no classification head
BASE_ROBERTA = "hl-bases/tiny-roberta"  # its classification head is classifier.dense + classifier.out_proj
BASE_T5 = "hl-bases/tiny-t5"
LLAMA_BASES = (BASE, BASE_TIED, BASE_SHARDED)
BASES = (*LLAMA_BASES, BASE_BERT, BASE_ROBERTA, BASE_T5)
ADAPTER_OWNER = "hl-test"

BASE_VOCAB = 1000
HIDDEN = 64
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
SHARD_SIZE = "300KB"  # the fp32 tiny base is ~0.8 MB, so this gives 3 shards plus an index
CACHE_ENV = "HUBLINT_FIXTURE_CACHE"
MANIFEST = "manifest.json"  # written last: its presence marks a complete cache entry
TRAIN_STEPS = 3

# "index error": PEFT itself indexes past the base rows while injecting the adapter (trainable tokens);
# "no auto class": the task's Auto class has no class for the base's model type
NaiveLoad = Literal["ok", "size mismatch", "index error", "no auto class"]
# Also write each adapter as `<name>-bin` with torch.save (adapter_model.bin) when this holds "bin": the pairs a
# header-only .bin reader must give the same verdicts for.
SERIALIZATIONS: tuple[str, ...] = ("safetensors", "bin")


@dataclass(frozen=True)
class Case:
    """One adapter repo: how it is built and the facts a real load confirms."""

    name: str
    config: dict[str, Any]  # kwargs of the method's PEFT config class (LoraConfig, IA3Config, ...)
    base: str = BASE
    method: str = "LORA"  # peft_type
    task: str = "CAUSAL_LM"  # task_type: the Auto class the base is loaded with
    num_labels: int | None = None  # classification heads: labels at training time
    new_tokens: int = 0  # tokens added to the tokenizer (and, if `resize`, rows added to the model)
    resize: bool = True
    pad_to_multiple_of: int | None = None
    ship_tokenizer: bool = False
    save_embedding_layers: bool | Literal["auto"] = "auto"
    base_reachable: bool = True  # False: saved as if offline, PEFT cannot look the base config up
    # Ground truth, checked against the files and real loads by tests/test_peft_ground_truth.py:
    saved_rows: int | None = None  # rows of every saved embedding-shaped tensor; None = nothing saved
    naive_load: NaiveLoad = "ok"  # <task's Auto class>(base) + PeftModel.from_pretrained(adapter)
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
BERT_QV = ["query", "value"]

# One adapter per method PEFT 0.21 ships, on the tiny Llama (kwargs that keep each one tiny). Left out: ADAMSS
# (needs scikit-learn), XLORA (a mixture of existing LoRA adapters), CARTRIDGE (built from a KV cache).
_METHOD_KWARGS: dict[str, dict[str, Any]] = {
    "ADALORA": {"target_modules": QV, "total_step": 10, "init_r": 8},
    "IA3": {"target_modules": ["k_proj", "v_proj", "down_proj"], "feedforward_modules": ["down_proj"]},
    "LOHA": {"target_modules": QV, "r": 4},
    "LOKR": {"target_modules": QV, "r": 4},
    "OFT": {"target_modules": QV, "r": 0, "oft_block_size": 8},
    "BOFT": {"target_modules": QV, "boft_block_size": 4},
    "VERA": {"target_modules": QV, "r": 16},
    "PVERA": {"target_modules": QV, "r": 16},
    "FOURIERFT": {"target_modules": QV, "n_frequency": 32},
    "WAVEFT": {"target_modules": QV, "n_frequency": 32},
    "HRA": {"target_modules": QV, "r": 4},
    "VBLORA": {"target_modules": QV, "vector_length": 8, "num_vectors": 16},
    "MISS": {"target_modules": QV, "r": 8},
    "C3A": {"target_modules": QV, "block_size": 16},
    "RANDLORA": {"target_modules": QV},
    "SHIRA": {"target_modules": QV},
    "ROAD": {"target_modules": QV},
    "OSF": {"target_modules": QV},
    "DELORA": {"target_modules": QV},
    "HIRA": {"target_modules": QV},
    "BEFT": {"target_modules": QV},
    "LILY": {"target_modules": QV},
    "FROD": {"target_modules": QV},
    "GLORA": {"target_modules": QV},
    "UNILORA": {"target_modules": QV},
    "GRALORA": {"target_modules": QV},
    "TINYLORA": {"target_modules": QV},
    "PSOFT": {"target_modules": QV},
    "PEANUT": {"target_modules": QV},
    "SHADOW": {"target_modules": QV},
    "SUPERTUNING": {"target_modules": QV},
    "DEFT": {"target_modules": QV},
    "POLY": {"target_modules": QV, "n_tasks": 2},
    "LN_TUNING": {"target_modules": ["input_layernorm"]},
    "TRAINABLE_TOKENS": {"target_modules": ["embed_tokens"], "token_indices": [5, 6]},
    "ADAPTION_PROMPT": {"adapter_len": 4, "adapter_layers": 1},
    "PROMPT_TUNING": {"num_virtual_tokens": 4},
    "MULTITASK_PROMPT_TUNING": {"num_virtual_tokens": 4, "num_tasks": 2},
    "P_TUNING": {"num_virtual_tokens": 4, "encoder_hidden_size": 32},
    "PREFIX_TUNING": {"num_virtual_tokens": 4},
    "CPT": {"cpt_token_ids": [5, 6, 7], "cpt_mask": [1, 1, 1], "cpt_tokens_type_mask": [1, 2, 3]},
}
METHODS_NOT_BUILT = ("ADAMSS", "XLORA", "CARTRIDGE")
# peft 0.21.2's SHADOW fails in backward on a Llama ("'ShadowCarrier' object has no attribute 'view'"): saved at init.
UNTRAINABLE = ("SHADOW",)
METHOD_CASES = [Case(f"method-{t.lower().replace('_', '-')}", kw, method=t) for t, kw in _METHOD_KWARGS.items()]

# Task heads and task types (issue 11): heads the task's Auto class creates, saved as modules_to_save by PEFT.
TASK_CASES = [
    Case("bert-seq-cls", {"r": 8, "target_modules": BERT_QV}, base=BASE_BERT, task="SEQ_CLS", num_labels=2),
    Case(
        "bert-seq-cls-3-labels",
        {"r": 8, "target_modules": BERT_QV},
        base=BASE_BERT,
        task="SEQ_CLS",
        num_labels=3,
        naive_load="size mismatch",
        note="the base config says nothing, so the Auto class makes 2 label rows for a 3-row head",
    ),
    Case("roberta-seq-cls", {"r": 8, "target_modules": BERT_QV}, base=BASE_ROBERTA, task="SEQ_CLS", num_labels=2),
    Case("llama-seq-cls", {"r": 8, "target_modules": QV}, task="SEQ_CLS", num_labels=2, note="a `score` head"),
    Case("bert-token-cls", {"r": 8, "target_modules": BERT_QV}, base=BASE_BERT, task="TOKEN_CLS", num_labels=2),
    Case("bert-qa", {"r": 8, "target_modules": BERT_QV}, base=BASE_BERT, task="QUESTION_ANS"),
    Case("t5-seq2seq", {"r": 8, "target_modules": ["q", "v"]}, base=BASE_T5, task="SEQ_2_SEQ_LM"),
    Case(
        "llama-seq2seq-task",
        {"r": 8, "target_modules": QV},
        task="SEQ_2_SEQ_LM",
        naive_load="no auto class",
        note="trained as a causal LM, saved with task_type SEQ_2_SEQ_LM: AutoModelForSeq2SeqLM refuses Llama",
    ),
]
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
        Case(
            "partial-targets",
            {"r": 8, "target_modules": ["q_proj", "v_prj"]},
            note="a misspelt entry: PEFT adapts q_proj alone, silently",
        ),
        Case("extreme-scaling", {"r": 8, "lora_alpha": 512, "target_modules": QV}, note="alpha/r = 64"),
        *METHOD_CASES,
        *TASK_CASES,
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
    """Build once per cache key: concurrent sessions (xdist workers) wait on a lock for the one that builds, which
    builds into a private temp dir and renames it into place, so no one sees half a build."""
    if (entry / MANIFEST).is_file():
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    with (entry.parent / f".{entry.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return entry if (entry / MANIFEST).is_file() else _build_into(entry)


def _build_into(entry: Path) -> Path:
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
    """A seeded random tiny model + a 1000-token tokenizer, saved as safetensors (Llama bases: LlamaForCausalLM;
    BERT and RoBERTa: *ForMaskedLM without a task head, as published encoders are; T5: ForConditionalGeneration)."""
    out = root / repo_id
    _seed(repo_id)
    model = _base_model(repo_id)
    # transformers 5 drops `_name_or_path` from config.json whatever we set; recorded ids come from the load path.
    shard = {"max_shard_size": SHARD_SIZE} if repo_id == BASE_SHARDED else {}
    model.save_pretrained(out, safe_serialization=True, **shard)
    _save_tokenizer(_base_tokenizer(), out)
    return repo_id


def _base_model(repo_id: str) -> PreTrainedModel:
    import transformers as tf

    small = {"vocab_size": BASE_VOCAB, "hidden_size": HIDDEN, "num_hidden_layers": 2, "num_attention_heads": 4}
    encoder = {**small, "intermediate_size": 128, "max_position_embeddings": 130}
    if repo_id == BASE_BERT:
        return tf.BertForMaskedLM(tf.BertConfig(**encoder))
    if repo_id == BASE_ROBERTA:
        return tf.RobertaForMaskedLM(tf.RobertaConfig(**encoder, pad_token_id=1, bos_token_id=0, eos_token_id=2))
    if repo_id == BASE_T5:
        t5 = {"vocab_size": BASE_VOCAB, "d_model": HIDDEN, "d_kv": 16, "d_ff": 128, "num_layers": 2, "num_heads": 4}
        return tf.T5ForConditionalGeneration(tf.T5Config(**t5, decoder_start_token_id=0, pad_token_id=0))
    config = tf.LlamaConfig(
        **small,
        intermediate_size=128,
        num_key_value_heads=4,
        max_position_embeddings=128,
        tie_word_embeddings=repo_id == BASE_TIED,
        bos_token_id=1,
        eos_token_id=2,
    )
    return tf.LlamaForCausalLM(config)


def build_case(root: Path, name: str) -> str:
    """Train (a few steps) and save one adapter case into `root`; its base is built first if missing."""
    case = CASES[name]
    if not (root / case.base / "config.json").is_file():
        build_base(root, case.base)
    import transformers
    from peft import get_peft_model
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    # A case whose task has no Auto class for its base is trained as what the base is, then saved with its task.
    trained_as = "CAUSAL_LM" if case.naive_load == "no auto class" else case.task
    out = (root / case.repo_id).resolve()
    with at_hub_root(root):
        tokenizer = transformers.AutoTokenizer.from_pretrained(case.base)
        _seed(case.name)
        labels = {"num_labels": case.num_labels} if case.num_labels else {}
        model = getattr(transformers, AUTO_CLASS[trained_as]).from_pretrained(case.base, **labels)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = 0  # a decoder's sequence classifier needs it for batches (not saved)
        if case.new_tokens:
            tokenizer.add_tokens([f"<|new_{i}|>" for i in range(case.new_tokens)], special_tokens=True)
        if case.new_tokens and case.resize:
            model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=case.pad_to_multiple_of)
        peft_config = PEFT_TYPE_TO_CONFIG_MAPPING[case.method](task_type=trained_as, **case.config)
        peft_model = get_peft_model(model, peft_config)
        if case.method not in UNTRAINABLE:
            _train(peft_model, case, n_tokens=len(tokenizer) if case.resize else BASE_VOCAB)
        peft_model.peft_config["default"].task_type = case.task
    # save_embedding_layers="auto" looks for `<base id>/config.json` under the cwd, then asks the Hub (offline: no)
    with tempfile.TemporaryDirectory() as elsewhere, at_hub_root(root if case.base_reachable else Path(elsewhere)):
        peft_model.save_pretrained(out, save_embedding_layers=case.save_embedding_layers)
        if "bin" in SERIALIZATIONS:
            twin = out.with_name(out.name + "-bin")
            peft_model.save_pretrained(twin, save_embedding_layers=case.save_embedding_layers, safe_serialization=False)
    if case.ship_tokenizer:
        for folder in (out, out.with_name(out.name + "-bin")) if "bin" in SERIALIZATIONS else (out,):
            _save_tokenizer(tokenizer, folder)
    return case.repo_id


AUTO_CLASS = {
    "CAUSAL_LM": "AutoModelForCausalLM",
    "SEQ_2_SEQ_LM": "AutoModelForSeq2SeqLM",
    "SEQ_CLS": "AutoModelForSequenceClassification",
    "TOKEN_CLS": "AutoModelForTokenClassification",
    "QUESTION_ANS": "AutoModelForQuestionAnswering",
}


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
    if case.config.get("trainable_token_indices"):
        return list(case.config["trainable_token_indices"])
    return list(range(BASE_VOCAB, BASE_VOCAB + case.new_tokens)) if case.resize else []


def _train(model: PreTrainedModel, case: Case, n_tokens: int) -> None:
    """A few AdamW steps on random ids so saved weights are not at their init (lora_B starts at zero)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    fixed = torch.tensor(_focus_ids(case), dtype=torch.long)
    for _ in range(TRAIN_STEPS):
        ids = torch.cat([fixed, torch.randint(3, n_tokens, (32 - len(fixed),))]).reshape(2, 16)
        loss = model(input_ids=ids, **_targets(case, ids)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def _targets(case: Case, ids: Any) -> dict[str, Any]:
    """What each task's loss is computed against."""
    import torch

    labels = case.num_labels or 2
    if case.method in ("POLY", "MULTITASK_PROMPT_TUNING"):  # one adapter per task: each row says which
        return {"labels": ids, "task_ids": torch.tensor([0, 1])}
    if case.task == "SEQ_CLS":
        return {"labels": torch.tensor([0, labels - 1])}
    if case.task == "TOKEN_CLS":
        return {"labels": ids % labels}
    if case.task == "QUESTION_ANS":
        return {"start_positions": torch.tensor([1, 2]), "end_positions": torch.tensor([3, 4])}
    return {"labels": ids}
