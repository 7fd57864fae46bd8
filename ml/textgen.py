"""Text generation with a local Hugging Face causal LM: parameters, a per-process pipeline and never-empty replies."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FALLBACK_REPLY", "MAX_NEW_TOKENS_RANGE", "MAX_PROMPT_CHARS", "TEMPERATURE_RANGE", "GenerationParams",
    "chat_result", "generate_reply", "load_generator",
]

MAX_PROMPT_CHARS = 4000
MAX_NEW_TOKENS_RANGE: tuple[int, int] = (1, 256)
TEMPERATURE_RANGE: tuple[float, float] = (0.0, 2.0)
# Colder than this, logits divided by the temperature overflow float32 (1e-300 gave NaN probabilities and a
# failed task); sampling that cold is greedy decoding anyway.
MIN_SAMPLING_TEMPERATURE = 1e-3
FALLBACK_REPLY = "Desculpe, não consegui gerar uma resposta agora."
# Sampling temperature of the single retry after a blank greedy reply.
RETRY_TEMPERATURE = 1.0
# Fixed, so a greedy request stays deterministic even when it needed the sampled retry.
RETRY_SEED = 0
# Only for a model whose config names no context size.
DEFAULT_CONTEXT = 1024
BUILD_HINT = "build the tiny offline model with `python -m ml.textgen_build {path}`"


def _log() -> Any:
    # Imported on use: logging (with pathlib) was half of this module's import time in a bare interpreter.
    import logging

    return logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 48
    temperature: float = 0.8

    def __post_init__(self) -> None:
        low, high = MAX_NEW_TOKENS_RANGE
        tokens = self.max_new_tokens
        # bool is an int subclass; True tokens is a caller bug, not 1.
        if isinstance(tokens, bool) or not isinstance(tokens, int) or not low <= tokens <= high:
            raise ValueError(f"max_new_tokens must be an integer between {low} and {high}, got {tokens!r}")
        t_low, t_high = TEMPERATURE_RANGE
        temp = self.temperature
        # The chained comparison is False for NaN, so NaN is rejected too.
        if isinstance(temp, bool) or not isinstance(temp, int | float) or not t_low <= temp <= t_high:
            raise ValueError(f"temperature must be a number between {t_low} and {t_high} "
                             f"({t_low} means greedy decoding), got {temp!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature < MIN_SAMPLING_TEMPERATURE


@functools.cache
def load_generator(model_path: str) -> Any:
    """Load the text-generation pipeline for a local model folder, once per process (it costs seconds)."""
    if not os.path.isdir(model_path):
        raise FileNotFoundError(f"text-generation model folder {model_path} does not exist; "
                                + BUILD_HINT.format(path=model_path))
    if not os.path.isfile(os.path.join(model_path, "config.json")):
        raise ValueError(f"{model_path} is not a Hugging Face model folder (it has no config.json); "
                         + BUILD_HINT.format(path=model_path))
    # Before the import: huggingface_hub reads it once, and the model is always a local folder, so never go online.
    os.environ["HF_HUB_OFFLINE"] = "1"
    import transformers

    generator = transformers.pipeline("text-generation", model=model_path, device="cpu")
    _log().info("loaded text-generation model from %s", model_path)
    return generator


def _context_size(model: Any) -> int:
    config = model.config
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_CONTEXT


def _fit_to_context(ids: list[int], max_new_tokens: int, n_ctx: int) -> tuple[list[int], int]:
    """Keep the end of the prompt and shrink max_new_tokens so prompt + reply fit in the model's positions."""
    # Even a request for more tokens than the context holds keeps a quarter of it for the prompt, or the reply
    # would ignore what was asked.
    reserved = max(1, min(len(ids), n_ctx // 4))
    max_new = max(1, min(max_new_tokens, n_ctx - reserved))
    return ids[-(n_ctx - max_new):], max_new


def _stopping_criteria(should_stop: Callable[[], bool] | None) -> Any:
    """transformers' StoppingCriteria over `should_stop` (checked after each token), or None."""
    if should_stop is None:
        return None
    asked: Callable[[], bool] = should_stop  # narrowed, for the class below
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _StopWhenAsked(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), bool(asked()), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_StopWhenAsked()])


def _generate_once(generator: Any, ids: list[int], max_new_tokens: int, temperature: float,
                   should_stop: Callable[[], bool] | None = None) -> str:
    import torch

    model, tokenizer = generator.model, generator.tokenizer
    input_ids = torch.tensor([ids], dtype=torch.long, device=model.device)
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "min_new_tokens": 1}
    if temperature > 0:
        kwargs.update(do_sample=True, temperature=temperature)
    else:
        kwargs["do_sample"] = False
    pad = model.generation_config.pad_token_id
    if pad is None:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is not None:
        kwargs["pad_token_id"] = pad
    criteria = _stopping_criteria(should_stop)
    if criteria is not None:
        kwargs["stopping_criteria"] = criteria
    output = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)
    text = tokenizer.decode(output[0, len(ids):].tolist(), skip_special_tokens=True,
                            clean_up_tokenization_spaces=False)
    # A byte-level model cut off by max_new_tokens can end mid-character, which decodes to U+FFFD.
    return text.replace("\ufffd", "")


def _prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    # The character cap bounds tokenizer work; the token cut against the context happens afterwards.
    ids: list[int] = tokenizer(prompt[-MAX_PROMPT_CHARS:], add_special_tokens=False, verbose=False)["input_ids"]
    if ids:
        return ids
    # An empty prompt still needs one token to condition on.
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [start if start is not None else 0]


def generate_reply(generator: Any, prompt: str, params: GenerationParams,
                   should_stop: Callable[[], bool] | None = None) -> str:
    """Return only the newly generated text, stripped and never empty; deterministic when temperature is 0.

    `should_stop`, checked after each token, ends the generation early (a cancel): what was generated so far is
    returned, possibly empty.

    generator is what load_generator returns (anything with .model and .tokenizer). The prompt is cut to the model's
    context, keeping its end; max_new_tokens is lowered when it would not fit next to the prompt.
    """
    ids = _prompt_ids(generator.tokenizer, prompt)
    ids, max_new = _fit_to_context(ids, params.max_new_tokens, _context_size(generator.model))
    reply = _generate_once(generator, ids, max_new, 0.0 if params.greedy else params.temperature,
                           should_stop).strip()
    if reply or (should_stop is not None and should_stop()):
        return reply
    _log().info("model produced only whitespace; retrying once with sampling")
    if params.greedy:
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RETRY_SEED)
            reply = _generate_once(generator, ids, max_new, RETRY_TEMPERATURE).strip()
    else:
        reply = _generate_once(generator, ids, max_new, params.temperature).strip()
    if reply:
        return reply
    _log().warning("model produced only whitespace twice; returning the fallback reply")
    return FALLBACK_REPLY


def chat_result(content: str) -> dict[str, Any]:
    return {"content": content, "role": "assistant", "tool_calls": None}
