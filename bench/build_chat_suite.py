"""Build ``bench/chat_suite.jsonl`` from the hand-written request lists in ``bench/chat_suite/*.txt``.

    python bench/build_chat_suite.py

Each list line is ``ATTACHMENTS || REQUEST || GRAPH || FILES || PAYLOAD``:

* ATTACHMENTS: comma-separated file names, the kind taken from the suffix; ``previous:<kind>`` is an
  earlier output of the conversation (``previous:text`` the previous text answer);
* GRAPH: ``a > b > c`` (a chain), or ``1:a , 2:b<1 , 3:c<1+2`` (``<`` lists the nodes a node reads);
  empty for chat, and for a request whose file is missing;
* FILES: the files the plan must read (``*``: this message's files);
* PAYLOAD: the literal texts the steps must get, separated by ``&&`` (``previous:text``: the
  previous answer).

The records are shuffled once with a fixed seed and numbered ``c0001``…: odd numbers form the
untouched half (``hgbot eval chat --part untouched``), even ones the tuning half. The development
rounds (``bench/chat_dev/*.txt``, same format) become ``bench/chat_dev.jsonl`` in file order
(``d0001``…).

**The payload convention** (bench/RESULTS.md) is applied to every record's gold by one mechanical
rule, ``canonical_payload``, written from the convention and the tuning half, never from an
untouched record: a generation prompt (text-to-image, text-to-video, a ControlNet or image-to-image
prompt) keeps style and medium words ("a watercolor of a fox", "a poster showing a jazz night",
"a realistic photo of a sailboat") and drops only the bare name of what the task makes anyway
("a picture of", "an image of", "a video of"); a ControlNet prompt also drops the words that point
at the control image ("a superhero in that pose" → "a superhero": the pose map carries it).
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SUFFIX_KIND = {"png": "image", "jpg": "image", "jpeg": "image", "webp": "image", "gif": "image",
               "wav": "audio", "mp3": "audio", "m4a": "audio", "ogg": "audio", "flac": "audio",
               "mp4": "video", "mov": "video", "webm": "video", "mkv": "video",
               "txt": "text", "csv": "text", "md": "text"}
SEED = 13

# The bare name of what a generator makes anyway: request framing, not prompt ("a picture of a red car").
GENERIC = r"(?:picture|image|pic|photo|photograph|video|clip|movie|film|gif|animation)"
# Words before such a name that say nothing about the look ("a quick animation of", "a movie clip of").
FILLER = rf"(?:quick|short|little|small|simple|nice|cool|new|brief|{GENERIC})"
# Nouns that choose a style or a medium: prompt content ("a watercolor of a fox").
STYLE = (r"(?:drawing|painting|illustration|sketch|artwork|poster|logo|wallpaper|icon|portrait|watercolou?r|cartoon"
         r"|comic|banner|sticker|mural|doodle|render(?:ing)?|oil painting|pixel art|3d render)")
_MEDIUM_BEFORE = re.compile(
    rf"(?:\b(?:an?|the)\s+(?P<mods>(?:[\w'-]+\s+){{0,3}}?))?\b(?P<noun>{STYLE}|{GENERIC})s?"
    r"\s+(?:of|showing|depicting|featuring)\s+$", re.IGNORECASE)
_BARE_GENERIC = re.compile(rf"^(?:(?:an?|the)\s+(?:{FILLER}\s+)*)?{GENERIC}s?\s+(?:of|showing|depicting|featuring)\s+", re.IGNORECASE)


# Words that point at the control image ("… in that pose"): the control image carries them.
_CONTROL_REF = re.compile(r"\s+(?:\w+ing\s+)?(?:in\s+)?(?:this|that|the same|his|her|their)\s+(?:pose|position|posture|layout)\s*$",
                          re.IGNORECASE)


def _is_prompt_task(task: str) -> bool:
    return task.endswith(("text-to-image", "text-to-video")) or task == "image-to-image"


def canonical_payload(request: str, payload: str, control: bool = False) -> str:
    """A generation prompt's gold under the convention (module docstring): widened to the style or
    medium phrase the request puts before it, or stripped of a bare generic one; a ControlNet
    prompt (``control``) also loses a trailing reference to the control image's pose or layout."""
    if control:
        payload = _CONTROL_REF.sub("", payload)
    at = request.lower().find(payload.lower())
    if at > 0 and (m := _MEDIUM_BEFORE.search(request[:at])):
        generic = re.fullmatch(GENERIC, m.group("noun"), re.IGNORECASE) is not None
        mods = (m.group("mods") or "").split()
        if not generic or any(re.fullmatch(FILLER, w, re.IGNORECASE) is None for w in mods):
            return request[m.start():at] + request[at:at + len(payload)]
    return _BARE_GENERIC.sub("", payload, count=1)


def _kind(name: str) -> str:
    if name.startswith("previous:"):
        return name.split(":", 1)[1]
    return SUFFIX_KIND[name.rsplit(".", 1)[1].lower()]


def _graph(spec: str) -> tuple[list[dict[str, Any]], list[list[int]]]:
    spec = spec.strip()
    if not spec:
        return [], []
    if ">" in spec:
        names = [s.strip() for s in spec.split(">")]
        return [{"id": i, "task": n} for i, n in enumerate(names, 1)], [[i, i + 1] for i in range(1, len(names))]
    nodes, links = [], []
    for pos, part in enumerate(spec.split(" , "), 1):
        num, _, rest = part.strip().partition(":") if ":" in part else (str(pos), ":", part)
        task, _, deps = rest.partition("<")
        nodes.append({"id": int(num), "task": task.strip()})
        links.extend([int(d), int(num)] for d in deps.split("+") if d.strip())
    return nodes, links


def parse_line(line: str) -> dict[str, Any]:
    fields = [f.strip() for f in line.split("||")]
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields: {line!r}")
    atts, request, graph, files, payload = fields
    attachments = [{"name": n.strip(), "kind": _kind(n.strip())} for n in atts.split(",") if n.strip()]
    nodes, links = _graph(graph)
    fresh = [a["name"] for a in attachments if not a["name"].startswith("previous:")]
    chosen = fresh if files == "*" else [f.strip() for f in files.split(",") if f.strip()]
    row: dict[str, Any] = {"request": request, "attachments": attachments, "nodes": nodes, "links": links}
    if nodes and chosen:
        row["files"] = chosen
    if payload:
        prompts = any(_is_prompt_task(n["task"]) for n in nodes)
        control = any(n["task"].endswith("-text-to-image") for n in nodes)
        row["payload"] = [canonical_payload(request, p.strip(), control) if prompts else p.strip()
                          for p in payload.split("&&")]
    return row


def _read(folder: Path) -> list[dict[str, Any]]:
    rows = []
    # in numeric order (dev.txt, dev2.txt, …, dev10.txt) so a new round never renumbers older records
    for path in sorted(folder.glob("*.txt"), key=lambda p: (len(p.stem), p.stem)):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                rows.append(parse_line(line))
    return rows


def build() -> list[dict[str, Any]]:
    rows = _read(HERE / "chat_suite")
    random.Random(SEED).shuffle(rows)
    return [{"id": f"c{i:04d}", **row} for i, row in enumerate(rows, 1)]


def build_dev() -> list[dict[str, Any]]:
    return [{"id": f"d{i:04d}", **row} for i, row in enumerate(_read(HERE / "chat_dev"), 1)]


def _write(rows: list[dict[str, Any]], out: Path) -> None:
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} records -> {out}", file=sys.stderr)


def main() -> None:
    _write(build(), HERE / "chat_suite.jsonl")
    _write(build_dev(), HERE / "chat_dev.jsonl")


if __name__ == "__main__":
    main()
