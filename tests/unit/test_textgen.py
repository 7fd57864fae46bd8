"""Tiny offline GPT-2: build, reuse, determinism; replies never empty and without the prompt; params; cheap import."""

from __future__ import annotations

import json
import math
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ml import textgen
from ml.textgen import (
    FALLBACK_REPLY,
    GenerationParams,
    _fit_to_context,
    chat_result,
    generate_reply,
    load_generator,
)
from ml.textgen_build import COMPLETE_FILES, build_tiny_model, main

REPO_ROOT = Path(__file__).resolve().parents[2]
SHORT_CORPUS = "A academia abre cedo. O relatório sai à noite. A chuva parou e os alunos voltaram ao treino. " * 8


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("textgen") / "tiny-gpt2")


@pytest.fixture(scope="module")
def generator(model_dir: Path) -> Any:
    return load_generator(str(model_dir))


def test_built_folder_holds_model_and_tokenizer_readable_by_other_users(model_dir: Path) -> None:
    names = {p.name for p in model_dir.iterdir()}
    assert set(COMPLETE_FILES) <= names
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"} <= names
    assert stat.S_IMODE(model_dir.stat().st_mode) == 0o755
    for path in model_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name
    # No leftover temp folder next to the model.
    assert [p.name for p in model_dir.parent.iterdir()] == [model_dir.name]


def test_tokenizer_is_not_the_empty_transformers5_tokenizer(generator: Any) -> None:
    tok = generator.tokenizer
    assert len(tok) > 256
    ids = tok("O relatório da academia", add_special_tokens=False)["input_ids"]
    assert 0 < len(ids) < len("O relatório da academia")
    assert tok.decode(ids) == "O relatório da academia"


def test_building_into_a_finished_folder_reuses_it(model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert build_tiny_model(model_dir) == model_dir
    assert weights.stat().st_mtime_ns == before


def test_cli_reports_reuse_and_failure(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(model_dir)]) == 0
    assert "reused" in capsys.readouterr().out
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    assert main([str(tmp_path)]) == 1
    assert "not a complete model" in capsys.readouterr().err


def test_build_refuses_to_overwrite_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not a complete model"):
        build_tiny_model(tmp_path, corpus=SHORT_CORPUS, steps=1)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_build_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    first = build_tiny_model(tmp_path / "a", corpus=SHORT_CORPUS, steps=3, seed=1)
    second = build_tiny_model(tmp_path / "b", corpus=SHORT_CORPUS, steps=3, seed=1)
    other = build_tiny_model(tmp_path / "c", corpus=SHORT_CORPUS, steps=3, seed=2)
    for name in ("model.safetensors", "tokenizer.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "model.safetensors").read_bytes() != (other / "model.safetensors").read_bytes()


def test_reply_to_a_portuguese_prompt_is_non_empty_text(generator: Any) -> None:
    reply = generate_reply(generator, "Bom dia! Como foi o treino na academia hoje?", GenerationParams())
    assert isinstance(reply, str)
    assert reply.strip() == reply
    assert reply


def test_greedy_replies_are_deterministic(generator: Any) -> None:
    params = GenerationParams(max_new_tokens=24, temperature=0.0)
    assert generate_reply(generator, "O relatório noturno", params) == generate_reply(
        generator, "O relatório noturno", params)


def test_a_temperature_too_cold_to_sample_is_greedy(generator: Any) -> None:
    """Catches temperature=1e-300 (valid: 0 to 2) failing the task with NaN probabilities (the contract run)."""
    params = GenerationParams(max_new_tokens=6, temperature=1e-300)
    assert params.greedy
    assert generate_reply(generator, "Olá", params) == generate_reply(generator, "Olá", GenerationParams(6, 0.0))


@pytest.mark.parametrize("max_new_tokens", [48, 256])
def test_long_prompt_is_cut_to_the_context(generator: Any, max_new_tokens: int) -> None:
    prompt = ("A academia abre às seis e o relatório da noite mostra as visitas de cada hora. " * 50)[:3000]
    assert len(prompt) == 3000
    reply = generate_reply(generator, prompt, GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0))
    assert reply


def test_reply_excludes_the_prompt(generator: Any) -> None:
    prompt = "Zyxwv 98765 qqq: resuma o relatório"
    reply = generate_reply(generator, prompt, GenerationParams(max_new_tokens=16, temperature=0.0))
    assert reply
    assert prompt not in reply
    assert "Zyxwv" not in reply


def test_empty_prompt_still_gets_a_reply(generator: Any) -> None:
    assert generate_reply(generator, "", GenerationParams(max_new_tokens=8, temperature=0.0))


def test_blank_output_is_retried_once_with_sampling(generator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []

    def fake(gen: Any, ids: list[int], max_new_tokens: int, temperature: float, should_stop: Any = None) -> str:
        calls.append(temperature)
        return "  \n " if len(calls) == 1 else "segunda tentativa"

    monkeypatch.setattr(textgen, "_generate_once", fake)
    assert generate_reply(generator, "Olá", GenerationParams(temperature=0.0)) == "segunda tentativa"
    assert calls[0] == 0.0
    assert len(calls) == 2
    assert calls[1] > 0.0


def test_blank_output_twice_falls_back_to_a_fixed_sentence(generator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []

    def fake(gen: Any, ids: list[int], max_new_tokens: int, temperature: float, should_stop: Any = None) -> str:
        calls.append(temperature)
        return ""

    monkeypatch.setattr(textgen, "_generate_once", fake)
    assert generate_reply(generator, "Olá", GenerationParams(temperature=0.7)) == FALLBACK_REPLY
    assert calls == [0.7, 0.7]


@pytest.mark.parametrize(("n_prompt", "max_new", "n_ctx", "want_prompt", "want_new"), [
    (1000, 48, 128, 80, 48),    # long prompt: keep its end, all requested tokens
    (5, 256, 128, 5, 123),      # request beyond the context: shrink it
    (1000, 256, 128, 32, 96),   # both too long: a quarter of the context stays for the prompt
    (1000, 48, 1024, 976, 48),  # a bigger model's own context is used
    (1, 128, 128, 1, 127),
])
def test_prompt_and_reply_fit_the_context(n_prompt: int, max_new: int, n_ctx: int, want_prompt: int,
                                          want_new: int) -> None:
    ids = list(range(n_prompt))
    kept, new = _fit_to_context(ids, max_new, n_ctx)
    assert (len(kept), new) == (want_prompt, want_new)
    assert kept == ids[-want_prompt:]
    assert len(kept) + new <= n_ctx


@pytest.mark.parametrize(("kwargs", "field", "bounds"), [
    ({"max_new_tokens": 0}, "max_new_tokens", "between 1 and 256"),
    ({"max_new_tokens": 257}, "max_new_tokens", "between 1 and 256"),
    ({"max_new_tokens": True}, "max_new_tokens", "between 1 and 256"),
    ({"temperature": -0.1}, "temperature", "between 0.0 and 2.0"),
    ({"temperature": 2.1}, "temperature", "between 0.0 and 2.0"),
    ({"temperature": math.nan}, "temperature", "between 0.0 and 2.0"),
])
def test_generation_params_reject_out_of_range(kwargs: dict[str, Any], field: str, bounds: str) -> None:
    with pytest.raises(ValueError, match=field) as info:
        GenerationParams(**kwargs)
    assert bounds in str(info.value)


def test_generation_params_accept_their_bounds() -> None:
    assert GenerationParams() == GenerationParams(max_new_tokens=48, temperature=0.8)
    for tokens, temp in [(1, 0.0), (256, 2.0), (100, 1)]:
        params = GenerationParams(max_new_tokens=tokens, temperature=temp)
        assert (params.max_new_tokens, params.temperature) == (tokens, temp)
    assert GenerationParams(temperature=0.0).greedy
    assert not GenerationParams(temperature=0.1).greedy


def test_load_generator_on_a_missing_folder_names_it_and_the_build_command(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError) as info:
        load_generator(str(missing))
    assert str(missing) in str(info.value)
    assert "python -m ml.textgen_build" in str(info.value)


def test_load_generator_on_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="config.json") as info:
        load_generator(str(tmp_path))
    assert str(tmp_path) in str(info.value)
    assert "python -m ml.textgen_build" in str(info.value)


def test_load_generator_loads_once_per_process(model_dir: Path, generator: Any) -> None:
    assert load_generator(str(model_dir)) is generator


def test_importing_the_modules_loads_no_ml_framework_or_platform_code() -> None:
    code = ("import json, sys, ml.textgen, ml.textgen_build; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    forbidden = {"torch", "transformers", "tokenizers", "numpy", "celery", "fastapi", "sqlalchemy", "taskplatform",
                 "api", "tasks", "storage"}
    assert loaded & forbidden == set()


def test_chat_result_has_the_seed_response_shape() -> None:
    assert chat_result("x") == {"content": "x", "role": "assistant", "tool_calls": None}


def test_should_stop_ends_the_generation_between_tokens(generator: Any) -> None:
    checks: list[int] = []

    def stop_after_three() -> bool:
        checks.append(1)
        return len(checks) >= 3

    params = GenerationParams(max_new_tokens=200, temperature=0.0)
    reply = generate_reply(generator, "Olá", params, should_stop=stop_after_three)
    assert len(generator.tokenizer(reply, add_special_tokens=False)["input_ids"]) <= 4
    assert 3 <= len(checks) <= 5  # checked once per token, not again for the whitespace retry
