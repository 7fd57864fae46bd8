"""Build a tiny GPT-2 (own byte-level BPE tokenizer, a few AdamW steps) fully offline, for tests and the dev stack."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["COMPLETE_FILES", "DEFAULT_CORPUS", "build_tiny_model", "is_complete_model", "main"]

logger = logging.getLogger(__name__)

DEFAULT_CORPUS = Path(__file__).with_name("textgen_corpus_pt.txt")
# A folder holding all of these was renamed into place whole, so it is a finished build.
COMPLETE_FILES: tuple[str, ...] = (
    "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
)
SPECIAL_TOKEN = "<|endoftext|>"
VOCAB_SIZE = 1000
N_POSITIONS = 128
N_EMBD = 64
N_LAYER = 2
N_HEAD = 2
BATCH_SIZE = 16
# Windows shorter than n_positions: cheaper steps, and this corpus trains better on more, shorter samples.
BLOCK = 64
LEARNING_RATE = 3e-3
NO_REPEAT_NGRAM = 3
REPETITION_PENALTY = 1.2
# 256 byte tokens + the special token: anything smaller is the transformers 5 "empty tokenizer" failure.
MIN_VOCAB = 257


def is_complete_model(folder: Path) -> bool:
    return folder.is_dir() and all((folder / name).is_file() for name in COMPLETE_FILES)


def _train_tokenizer(corpus: str) -> Any:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([corpus], vocab_size=VOCAB_SIZE, min_frequency=1, special_tokens=[SPECIAL_TOKEN],
                            show_progress=False)
    # Not GPT2TokenizerFast(vocab_file=...): in transformers 5 that silently yields an empty tokenizer.
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=SPECIAL_TOKEN, eos_token=SPECIAL_TOKEN,
                                  unk_token=SPECIAL_TOKEN, model_max_length=N_POSITIONS)
    if len(tok) < MIN_VOCAB:
        raise RuntimeError(f"tokenizer has only {len(tok)} tokens (expected >= {MIN_VOCAB}); it was built empty")
    return tok


def _train_model(tok: Any, corpus: str, *, steps: int, seed: int) -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    ids = torch.tensor(tok(corpus, verbose=False)["input_ids"], dtype=torch.long)
    if ids.numel() < 2:
        raise ValueError("corpus is too short to train on: it must encode to at least 2 tokens")
    block = min(BLOCK, ids.numel() - 1)
    config = GPT2Config(vocab_size=len(tok), n_positions=N_POSITIONS, n_embd=N_EMBD, n_layer=N_LAYER, n_head=N_HEAD,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    threads = torch.get_num_threads()
    # One thread: the float reductions, hence the weights, then do not depend on the core count, and a model this
    # small trains faster on one thread than on two that spin against other busy processes.
    torch.set_num_threads(1)
    try:
        # fork_rng: seed the weight init and batch sampling without disturbing the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = GPT2LMHeadModel(config)
            sampler = torch.Generator().manual_seed(seed)
            optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
            model.train()
            loss = None
            for _ in range(steps):
                starts = torch.randint(0, ids.numel() - block + 1, (BATCH_SIZE,), generator=sampler)
                batch = torch.stack([ids[s:s + block] for s in starts.tolist()])
                logits = model(input_ids=batch).logits[:, :-1]
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            model.eval()
    finally:
        torch.set_num_threads(threads)
    if loss is not None:
        logger.info("tiny GPT-2 trained %d steps, final loss %.3f", steps, loss.item())
    # Without a pad token every generate() call warns and guesses one.
    model.generation_config.pad_token_id = tok.eos_token_id
    # A model this small loops on its most frequent phrase when decoding greedily; these keep replies readable.
    model.generation_config.no_repeat_ngram_size = NO_REPEAT_NGRAM
    model.generation_config.repetition_penalty = REPETITION_PENALTY
    return model


def _make_readable(folder: Path) -> None:
    # save_pretrained writes model.safetensors 0600 and mkdtemp makes the folder 0700; the worker may be another user.
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o755 if path.is_dir() else 0o644)


def build_tiny_model(out_dir: Path, *, corpus: str | None = None, steps: int = 150, seed: int = 0) -> Path:
    """Build the tiny GPT-2 into out_dir (atomically) and return out_dir; a finished build there is reused as is."""
    out_dir = Path(out_dir)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if is_complete_model(out_dir):
        return out_dir
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(f"{out_dir} exists but is not a complete model (it lacks one of "
                              f"{', '.join(COMPLETE_FILES)}); remove it or choose another folder")
    raw = DEFAULT_CORPUS.read_text(encoding="utf-8") if corpus is None else corpus
    # Collapsed whitespace: trained on the blank lines between paragraphs, greedy replies degenerate into newlines.
    text = " ".join(raw.split())
    if not text:
        raise ValueError("corpus is empty")

    os.environ["HF_HUB_OFFLINE"] = "1"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Same parent, so the final rename stays on one filesystem and is atomic.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        tok = _train_tokenizer(text)
        model = _train_model(tok, text, steps=steps, seed=seed)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        _make_readable(tmp)
        if not is_complete_model(tmp):
            missing = [name for name in COMPLETE_FILES if not (tmp / name).is_file()]
            raise RuntimeError(f"save_pretrained did not write {', '.join(missing)}")
        try:
            # Replaces out_dir only if it is absent or an empty folder.
            tmp.rename(out_dir)
        except OSError:
            if is_complete_model(out_dir):
                # Another process finished the same build first; its copy is as good as ours.
                return out_dir
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.textgen_build",
                                     description="Build the tiny offline GPT-2 used for text generation.")
    parser.add_argument("out_dir", type=Path, help="folder to create (reused if it already holds a model)")
    parser.add_argument("--steps", type=int, default=150, help="AdamW training steps (default 150)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    reused = is_complete_model(args.out_dir)
    try:
        path = build_tiny_model(args.out_dir, steps=args.steps, seed=args.seed)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    verb = "reused existing model in" if reused else "built tiny model in"
    print(f"{verb} {path} ({time.perf_counter() - started:.1f} s)")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
