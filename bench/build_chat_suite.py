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
untouched half (``hgbot eval chat --part untouched``), even ones the tuning half.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SUFFIX_KIND = {"png": "image", "jpg": "image", "jpeg": "image", "webp": "image", "gif": "image",
               "wav": "audio", "mp3": "audio", "m4a": "audio", "ogg": "audio", "flac": "audio",
               "mp4": "video", "mov": "video", "webm": "video", "mkv": "video",
               "txt": "text", "csv": "text", "md": "text"}
SEED = 13


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
        row["payload"] = [p.strip() for p in payload.split("&&")]
    return row


def build() -> list[dict[str, Any]]:
    rows = []
    for path in sorted((HERE / "chat_suite").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                rows.append(parse_line(line))
    random.Random(SEED).shuffle(rows)
    return [{"id": f"c{i:04d}", **row} for i, row in enumerate(rows, 1)]


def main() -> None:
    rows = build()
    out = HERE / "chat_suite.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} records -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
