"""Check hgbot's model backends and cache on a GPU machine, with tiny random-weight models.

Needs only torch, transformers, diffusers (and their light deps: Pillow, numpy, soundfile, scipy)
plus this repository; no network. Usage, from the repository root:

    python scripts/gpu_check.py                 # expects CUDA; fp16
    python scripts/gpu_check.py --cpu           # validates the code paths on CPU (fp32)
    python scripts/gpu_check.py --cpu --half    # ... with fp16 weights on CPU
    python scripts/gpu_check.py --out summary.json
    python scripts/gpu_check.py --record        # also write the figures into bench/RESULTS.md

Checks: device detection (cuda + half), text-generation and text-to-image through ModelCache on the
device (dtype and device of the weights), every tiny transformers task on the device, every hub
catalog card on its tiny twin on the device in the card's precision (bf16 for FLUX/Wan/Qwen3, fp16
otherwise: ``orchestrator.twins``), eviction under a small budget (``torch.cuda.memory_allocated``
must drop), and two text-to-image calls at once. Prints a JSON summary; the exit status is 0 only
when every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.backends.base import Device  # noqa: E402
from orchestrator.cache import ModelCache  # noqa: E402
from orchestrator.catalog import ModelCard  # noqa: E402
from orchestrator.tiny_models import build_all  # noqa: E402
from orchestrator.types import FileOutput, Output, TextOutput  # noqa: E402

TRANSFORMERS_TASKS = [
    "text-generation", "summarization", "text-classification", "zero-shot-classification", "token-classification",
    "sentence-similarity", "image-classification", "object-detection", "image-segmentation", "depth-estimation",
    "image-to-text", "visual-question-answering", "automatic-speech-recognition", "audio-classification",
    "text-to-speech",
]
DIFFUSERS_TASKS = ["text-to-image", "image-to-image", "text-to-video", "canny-text-to-image", "canny-control"]
FAST = {"steps": 2, "height": 32, "width": 32, "seed": 0}


class Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []

    async def check(self, name: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        entry: dict[str, Any] = {"name": name}
        try:
            detail = await fn()
            entry["ok"] = True
            if detail is not None:
                entry["detail"] = detail
            return detail
        except Exception as exc:
            entry["ok"] = False
            entry["error"] = f"{type(exc).__name__}: {exc}"[:500]
            entry["traceback"] = traceback.format_exc()[-2000:]
            return None
        finally:
            entry["seconds"] = round(time.perf_counter() - started, 3)
            self.checks.append(entry)
            status = "ok  " if entry.get("ok") else "FAIL"
            print(f"[{status}] {name} ({entry['seconds']} s) {entry.get('error', '')}", file=sys.stderr, flush=True)


def make_card(models: dict[str, Path], task: str, **options: Any) -> ModelCard:
    backend = "diffusers" if task in DIFFUSERS_TASKS else "transformers"
    path = models.get(task)
    opts: dict[str, Any] = dict(FAST) if backend == "diffusers" else {"max_new_tokens": 4}
    if task == "object-detection":
        opts["threshold"] = 0.0
    if task == "canny-text-to-image":
        opts["controlnet"] = str(models["controlnet"])
    if task == "text-to-video":
        opts["num_frames"] = 3
    opts.update(options)
    return ModelCard(id=f"tiny/{path.name if path else task}/{task}", task=task, backend=backend,
                     path=str(path) if path else None, options=opts)


def check_output(task: str, outputs: list[Output]) -> dict[str, Any]:
    """Decode every file output (PNG, WAV, MP4/GIF); returns a short description."""
    from PIL import Image

    assert outputs, f"{task} returned nothing"
    kinds = []
    for out in outputs:
        if isinstance(out, TextOutput):
            kinds.append("text")
            continue
        assert isinstance(out, FileOutput)
        if out.mime == "image/png":
            img = Image.open(io.BytesIO(out.data))
            img.load()
            kinds.append(f"png {img.size[0]}x{img.size[1]}")
        elif out.mime == "audio/wav":
            import soundfile as sf

            wave, rate = sf.read(io.BytesIO(out.data))
            assert len(wave) > 0
            kinds.append(f"wav {rate} Hz {len(wave)} samples")
        elif out.kind == "video":
            assert out.data[4:8] == b"ftyp" or out.data[:3] == b"GIF", "not an MP4 or GIF"
            kinds.append(out.mime)
        else:
            raise AssertionError(f"unexpected output {out.kind} {out.mime}")
    return {"outputs": kinds}


def weights_info(model: Any) -> dict[str, str]:
    """dtype and device of a loaded model's first parameter."""
    module = getattr(getattr(model, "pipe", None), "model", None)
    if module is None:
        module = getattr(getattr(model, "pipe", None), "unet", None)
    if module is None:
        return {}
    param = next(module.parameters())
    return {"dtype": str(param.dtype).removeprefix("torch."), "device": str(param.device)}


def allocated() -> int:
    import torch

    return int(torch.cuda.memory_allocated()) if torch.cuda.is_available() else 0


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run on CPU (validates code paths without a GPU)")
    parser.add_argument("--half", action="store_true", help="with --cpu: load fp16 weights anyway")
    parser.add_argument("--models", type=Path, help="where to build the tiny models (default: a temp dir)")
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    parser.add_argument("--record", action="store_true", help="write the figures into bench/RESULTS.md")
    args = parser.parse_args(argv)

    import torch

    report = Report()
    summary: dict[str, Any] = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        summary["gpu"] = torch.cuda.get_device_name(0)
    import diffusers
    import transformers

    summary.update(transformers=transformers.__version__, diffusers=diffusers.__version__)

    root = args.models or Path(tempfile.mkdtemp(prefix="hgbot-tiny-"))
    models: dict[str, Path] = await report.check(
        "build tiny models", lambda: asyncio.to_thread(build_all, root)) or {}
    if not models:
        return finish(report, summary, args.out)

    async def detect() -> dict[str, Any]:
        device = ModelCache.detect_device("cpu" if args.cpu else "auto")
        if args.cpu:
            assert device == Device("cpu", half=False), device
        else:
            assert device.name == "cuda" and device.half, f"expected cuda + half, got {device}"
        return {"device": device.name, "half": device.half, "default_budget_mb": ModelCache.default_budget(device) >> 20}

    await report.check("detect device", detect)
    device = ModelCache.detect_device("cpu" if args.cpu else "auto")
    if args.cpu and args.half:
        device = Device("cpu", half=True)
    on_gpu = device.name.startswith("cuda")
    want_dtype = "float16" if device.half else "float32"

    # --- text-generation and text-to-image through the cache --------------------------------------
    cache = ModelCache(ModelCache.default_budget(device), device)

    async def run_via_cache(task: str) -> dict[str, Any]:
        card = make_card(models, task)
        started = time.perf_counter()
        model = await cache.get(card)
        load_s = time.perf_counter() - started
        inputs: dict[str, str | Path] = {"text": "a red car on a road"}
        started = time.perf_counter()
        outputs = await asyncio.to_thread(model.run, task, inputs)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.to_thread(model.run, task, inputs)
        info = {**check_output(task, outputs), **weights_info(model), "size_mb": round(model.size_bytes / 2**20, 2),
                "load_s": round(load_s, 3), "first_run_s": round(first_s, 3),
                "warm_run_s": round(time.perf_counter() - started, 3)}
        assert info.get("dtype") == want_dtype, f"weights are {info.get('dtype')}, expected {want_dtype}"
        assert info.get("device", "").startswith(device.name), f"weights on {info.get('device')}"
        return info

    await report.check("text-generation via cache", lambda: run_via_cache("text-generation"))
    await report.check("text-to-image via cache", lambda: run_via_cache("text-to-image"))
    for key in cache.loaded():
        cache.evict(key)

    # --- every tiny task on the device -------------------------------------------------------------
    from PIL import Image, ImageDraw

    media = root / "media"
    media.mkdir(exist_ok=True)
    img = Image.new("RGB", (48, 40), (20, 60, 200))
    ImageDraw.Draw(img).rectangle((10, 8, 30, 30), fill=(240, 240, 240))
    img.save(media / "image.png")
    import numpy as np
    import soundfile as sf

    sf.write(media / "audio.wav", (0.2 * np.sin(np.arange(22050) / 4)).astype(np.float32), 22050)
    inputs: dict[str, str | Path] = {"text": "the cat sits on the mat", "context": "animals, finance",
                                     "image": media / "image.png", "audio": media / "audio.wav"}
    for task in TRANSFORMERS_TASKS + DIFFUSERS_TASKS:
        async def one(task: str = task) -> dict[str, Any]:
            card = make_card(models, task)
            model = await cache.get(card)
            out = await asyncio.to_thread(model.run, task, dict(inputs))
            info = {**check_output(task, out), **weights_info(model)}
            cache.evict(card.key)
            return info

        await report.check(f"task {task}", one)

    # --- every hub catalog card on its twin, on the device, in the card's precision -------------------
    async def hub_twins() -> dict[str, Any]:
        from orchestrator.catalog import Catalog
        from orchestrator.twins import FAIL, SKIP, check_cards

        verdicts = await asyncio.to_thread(check_cards, Catalog.load().cards, root / "twins", device=device)
        failed = [f"{v.card.id} {v.card.task}: {v.detail}" for v in verdicts if v.status == FAIL]
        assert not failed, "; ".join(failed)
        return {"cards": len(verdicts), "twins": len({v.twin for v in verdicts}),
                "skipped": [f"{v.card.id} {v.card.task}: {v.detail}" for v in verdicts if v.status == SKIP],
                "seconds": round(sum(v.seconds for v in verdicts), 1)}

    await report.check("hub catalog twins", hub_twins)

    # --- eviction frees device memory ----------------------------------------------------------------
    async def eviction() -> dict[str, Any]:
        gc.collect()
        if on_gpu:
            torch.cuda.synchronize()
        base = allocated()
        sd, llm = make_card(models, "text-to-image"), make_card(models, "text-generation")
        probe = ModelCache(1 << 40, device)
        sd_bytes = (await probe.get(sd)).size_bytes
        probe.evict(sd.key)
        small = ModelCache(sd_bytes + 1, device)  # room for the SD pipeline, not for SD + the LLM
        await small.get(sd)
        with_sd = allocated()
        await small.get(llm)
        assert small.loaded() == [llm.key], f"expected only the LLM loaded, got {small.loaded()}"
        gc.collect()
        after = allocated()
        info = {"sd_mb": round(sd_bytes / 2**20, 2), "allocated_mb": {
            "base": round(base / 2**20, 2), "with_sd": round(with_sd / 2**20, 2), "after_evict": round(after / 2**20, 2)}}
        if on_gpu:
            assert with_sd - base >= sd_bytes * 0.9, "loading SD did not allocate its weights on the GPU"
            assert after < with_sd - sd_bytes * 0.5, "memory_allocated did not drop after eviction"
        small.evict(llm.key)
        return info

    await report.check("eviction frees memory", eviction)

    # --- two text-to-image calls at once -------------------------------------------------------------
    async def concurrent() -> dict[str, Any]:
        # two cards on the same weights: two pipelines, so the calls really overlap
        a, b = make_card(models, "text-to-image", seed=1), make_card(models, "text-to-image", seed=2)
        b = ModelCard(id=b.id + "#2", task=b.task, backend=b.backend, path=b.path, options=b.options)
        both = ModelCache(1 << 40, device)
        ma, mb = await asyncio.gather(both.get(a), both.get(b))
        shared = ModelCache(1 << 40, device)
        one_model = await shared.get(a)
        started = time.perf_counter()
        outs = await asyncio.gather(asyncio.to_thread(ma.run, a.task, {"text": "a cat"}),
                                    asyncio.to_thread(mb.run, b.task, {"text": "a dog"}),
                                    asyncio.to_thread(one_model.run, a.task, {"text": "a cat"}),
                                    asyncio.to_thread(one_model.run, a.task, {"text": "a bird"}))
        seconds = time.perf_counter() - started
        for out in outs:
            check_output("text-to-image", out)
        first = outs[0][0]
        again = outs[2][0]
        assert isinstance(first, FileOutput) and isinstance(again, FileOutput)
        # same prompt and seed on two pipelines: concurrency must not change the result
        same = first.data == again.data
        for c in (both, shared):
            for key in c.loaded():
                c.evict(key)
        if not on_gpu:
            assert same, "same prompt + seed gave different images"
        return {"four_calls_s": round(seconds, 3), "same_seed_same_image": same}

    await report.check("concurrent text-to-image", concurrent)
    if on_gpu:
        summary["max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 2)
    code = finish(report, summary, args.out)
    if args.record:
        record(summary, ROOT / "bench" / "RESULTS.md")
    return code


START, END = "<!-- gpu_check:start -->", "<!-- gpu_check:end -->"


def record(summary: dict[str, Any], results: Path) -> None:
    """Replace the figures between the gpu_check markers of bench/RESULTS.md with this run's."""
    device = summary.get("gpu") or "CPU (--cpu)"
    lines = [START, "", f"Last run: {time.strftime('%Y-%m-%d')} on {device}; torch {summary.get('torch')}, "
             f"transformers {summary.get('transformers')}, diffusers {summary.get('diffusers')}: "
             f"{summary.get('passed')} checks passed, {summary.get('failed')} failed.", "",
             "| Check | Result | Seconds | Figures |", "| --- | --- | ---: | --- |"]
    for check in summary.get("checks", []):
        detail = check.get("detail") or check.get("error") or ""
        if check["name"] == "build tiny models" and isinstance(detail, dict):
            detail = f"{len(detail)} tiny models"  # their temporary paths say nothing
        if isinstance(detail, dict):
            detail = ", ".join(f"{k}: {v}" for k, v in detail.items() if k != "skipped")
        lines.append(f"| {check['name']} | {'ok' if check['ok'] else 'FAIL'} | {check['seconds']} | "
                     f"{str(detail).replace('|', '/')[:160]} |")
    if "max_memory_allocated_mb" in summary:
        lines += ["", f"Peak GPU memory allocated: {summary['max_memory_allocated_mb']} MB."]
    lines += ["", END]
    text = results.read_text(encoding="utf-8")
    if START in text and END in text:
        text = text[:text.index(START)] + "\n".join(lines) + text[text.index(END) + len(END):]
    else:
        heading = ("## GPU check (`scripts/gpu_check.py`)\n\nOn any CUDA host, from the repository root: "
                   "`python scripts/gpu_check.py --record` (no network needed). It rewrites the table below.")
        text = text.rstrip() + "\n\n" + heading + "\n\n" + "\n".join(lines) + "\n"
    results.write_text(text, encoding="utf-8")


def finish(report: Report, summary: dict[str, Any], out: Path | None) -> int:
    summary["checks"] = report.checks
    summary["passed"] = sum(1 for c in report.checks if c["ok"])
    summary["failed"] = sum(1 for c in report.checks if not c["ok"])
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
