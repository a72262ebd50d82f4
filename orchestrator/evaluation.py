"""TaskBench evaluation: load labelled records, turn plans into predictions, score them.

Metrics follow TaskBench's ``evaluate.py`` (Hugging Face tools domain):

* **n-F1**: per record, the *set* of predicted tool names against the set of gold names;
  true positives, predicted and gold counts are summed over records (micro average), so a
  duplicate name counts once.
* **e-F1**: the same over sets of ``(source task, target task)`` links. A plan's links come from
  its ``deps``: dependency ``k`` of task ``t`` is the link ``(task k, task t)``.

TaskBench tool names are mapped to hgbot registry names by lower-casing and hyphenating, with
three decisions: "Conversational" and "Text Generation" → ``text-generation``; "Image Editing"
(text + image → image) → ``image-to-image``. Predictions go through ``tasks.ALIASES`` too, so a
plan that says ``conversational`` scores as ``text-generation``.

A record's prediction of ``None`` means the planner produced no valid plan: it scores as an empty
prediction and lowers ``valid_share``.

**Chat-style records** (``load_records`` reads both kinds, line by line)::

    {"id", "request", "attachments": [{"name", "kind"}], "nodes": [{"id", "task"}], "links": [[a, b]],
     "files": [names] (optional), "payload": [strings] (optional)}

``links`` name node ids (task names are accepted too). An attachment named ``previous:<kind>`` is
an earlier output of the conversation, not a file of this message; ``previous:text`` is the
previous turn's text answer. ``files`` are the files the plan must read (metric "file right") and
``payload`` the literal texts its steps must get (metric "payload right", compared by
``payload_form``: without case, punctuation or one leading article; ``previous:text`` means "the
previous answer"). Records without nodes
are chat (or a request whose file is missing): the plan must be empty ("plan-vs-chat").
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import tasks as registry
from .errors import HgbotError
from .planner import PlanningContext
from .types import GENERATED_PREFIX, HANDLE_PREFIX, Artifact, Kind, Plan

Link = tuple[str, str]
Prediction = Plan | Mapping[str, Any] | None

TASKBENCH_SPECIAL: dict[str, str] = {
    "Conversational": "text-generation",
    "Text Generation": "text-generation",
    "Image Editing": "image-to-image",
}
GROUPS: tuple[str, ...] = ("overall", "single", "chain", "dag", "chat")


def map_tool_name(name: str) -> str:
    """A TaskBench tool name as an hgbot task name ("Image-to-Text" → ``image-to-text``)."""
    if name in TASKBENCH_SPECIAL:
        return TASKBENCH_SPECIAL[name]
    return "-".join(name.strip().lower().split())


def _canonical(name: str) -> str:
    return registry.ALIASES.get(name, name)


@dataclass(frozen=True)
class TBRecord:
    id: str
    type: str  # "single", "chain" or "dag"
    request: str
    nodes: list[str]  # hgbot task names, in the record's order (duplicates kept)
    links: list[Link]
    attachments: tuple[tuple[str, str], ...] = ()  # (name, kind); "previous:<kind>" = an earlier output
    files: tuple[str, ...] | None = None  # the attachment names the plan must read (chat records)
    payload: tuple[str, ...] = ()  # literal texts the plan's steps must get (chat records)

    @property
    def chat_style(self) -> bool:
        return self.files is not None


PREVIOUS = "previous:"


def _graph_type(nodes: Sequence[str], links: Sequence[Link]) -> str:
    if not nodes:
        return "chat"
    if len(nodes) == 1:
        return "single"
    outs: dict[str, int] = {}
    ins: dict[str, int] = {}
    for a, b in links:
        outs[a] = outs.get(a, 0) + 1
        ins[b] = ins.get(b, 0) + 1
    chain = len(links) == len(nodes) - 1 and all(v <= 1 for v in (*outs.values(), *ins.values()))
    return "chain" if chain else "dag"


def _chat_record(row: Mapping[str, Any], index: int) -> TBRecord:
    ids: dict[str, str] = {}
    nodes: list[str] = []
    for pos, n in enumerate(row.get("nodes", []), 1):
        name = registry.ALIASES.get(str(n["task"]), str(n["task"]))
        ids[str(n.get("id", pos))] = name
        nodes.append(name)
    links = [(ids.get(str(a), str(a)), ids.get(str(b), str(b))) for a, b in row.get("links", [])]
    atts = tuple((str(a["name"]), str(a["kind"])) for a in row.get("attachments", []))
    payload = row.get("payload") or []
    return TBRecord(str(row.get("id", index)), str(row.get("type") or _graph_type(nodes, links)), str(row["request"]),
                    nodes, links, atts, tuple(row.get("files") or ()),
                    tuple([payload] if isinstance(payload, str) else payload))


def load_taskbench(path: Path, limit: int | None = None) -> list[TBRecord]:
    """Read a TaskBench JSON-lines file (``labelled_sample.jsonl`` or ``data.json`` rows), or
    chat-style records (a row with ``attachments``; see the module docstring), or both mixed.

    Accepts ``request`` or ``user_request`` as the text and nodes as dicts with ``task`` or as
    plain names. Blank lines are skipped; ``limit`` keeps the first N records.
    """
    out: list[TBRecord] = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            if "attachments" in row:
                out.append(_chat_record(row, len(out)))
                if limit is not None and len(out) >= limit:
                    break
                continue
            nodes = [map_tool_name(n["task"] if isinstance(n, dict) else str(n)) for n in row.get("nodes", [])]
            links = [(map_tool_name(lk["source"]), map_tool_name(lk["target"])) for lk in row.get("links", [])]
            text = row.get("request") or row.get("user_request") or row.get("instruction") or ""
            out.append(TBRecord(str(row.get("id", len(out))), str(row.get("type", "")), text, nodes, links))
            if limit is not None and len(out) >= limit:
                break
    return out


load_records = load_taskbench


def split_half(records: Sequence[TBRecord], part: str) -> list[TBRecord]:
    """A fixed two-way split by id parity: ``"tune"`` (even ids) or ``"heldout"`` (odd ids).

    A chat-style record's id ends in its number ("c0137"); that number's parity decides.
    """
    want = 0 if part == "tune" else 1

    def parity(rec: TBRecord) -> int:
        digits = rec.id[len(rec.id.rstrip("0123456789")):]
        return int(digits) % 2 if digits else sum(map(ord, rec.id)) % 2

    return [r for r in records if parity(r) == want]


def plan_to_prediction(plan: Prediction) -> tuple[list[str], list[Link]]:
    """Task names and ``(source, target)`` links of a plan (a ``Plan`` or a raw contract dict).

    Links come from ``deps`` plus any ``<GENERATED>-k`` reference in the args (HuggingGPT rebuilds
    deps from those, so an LLM that forgets ``deps`` still gets its links counted). References to
    unknown ids are ignored.
    """
    if plan is None:
        return [], []
    items: list[tuple[int, str, set[int]]] = []
    if isinstance(plan, Plan):
        for t in plan.tasks:
            items.append((t.id, _canonical(t.task), set(t.deps) | _generated_refs(t.wire_args().values())))
    else:
        for raw in plan.get("tasks", []) or []:
            if not isinstance(raw, Mapping):
                continue
            deps = raw.get("deps", raw.get("dep", [])) or []
            args = raw.get("args", {}) or {}
            refs = {int(d) for d in deps if _is_int(d)} | _generated_refs(
                args.values() if isinstance(args, Mapping) else [])
            items.append((int(raw["id"]) if _is_int(raw.get("id")) else len(items) + 1,
                          _canonical(str(raw.get("task", ""))), refs))
    by_id = {i: name for i, name, _ in items}
    names = [name for _, name, _ in items]
    links = [(by_id[d], name) for i, name, deps in items for d in sorted(deps) if d in by_id and d != i]
    return names, links


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


def _generated_refs(values: Iterable[Any]) -> set[int]:
    refs: set[int] = set()
    for v in values:
        if isinstance(v, str) and v.startswith(GENERATED_PREFIX) and _is_int(v[len(GENERATED_PREFIX):]):
            refs.add(int(v[len(GENERATED_PREFIX):]))
    return refs


@dataclass
class Scores:
    """Micro-averaged scores of one group of records (values in 0..1; NaN when undefined)."""

    n_precision: float
    n_recall: float
    n_f1: float
    e_precision: float
    e_recall: float
    e_f1: float
    count: int
    valid_share: float
    mean_seconds: float


def _prf(tp: int, predicted: int, gold: int) -> tuple[float, float, float]:
    # Undefined ratios are NaN rather than 0 so "no links predicted, none expected" (single
    # records) does not read as a failure; the overall group always has gold links.
    p = tp / predicted if predicted else math.nan
    r = tp / gold if gold else math.nan
    if math.isnan(p) or math.isnan(r):
        f = 0.0 if (predicted or gold) else math.nan
    else:
        f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(records: Sequence[TBRecord], predictions: Sequence[Prediction],
          seconds: Sequence[float] | None = None) -> dict[str, Scores]:
    """Score predictions (aligned with ``records``) overall and by record type."""
    if len(records) != len(predictions):
        raise ValueError("records and predictions differ in length")
    times = list(seconds) if seconds is not None else [0.0] * len(records)
    out: dict[str, Scores] = {}
    for group in GROUPS:
        idx = [i for i, r in enumerate(records) if group == "overall" or r.type == group]
        counts = [0] * 6  # node tp, pred, gold; edge tp, pred, gold
        for i in idx:
            names, links = plan_to_prediction(predictions[i])
            pn, gn = set(names), set(records[i].nodes)
            pe, ge = set(links), set(records[i].links)
            for k, v in enumerate((len(pn & gn), len(pn), len(gn), len(pe & ge), len(pe), len(ge))):
                counts[k] += v
        n = _prf(*counts[:3])
        e = _prf(*counts[3:])
        valid = sum(predictions[i] is not None for i in idx)
        out[group] = Scores(*n, *e, count=len(idx), valid_share=valid / len(idx) if idx else math.nan,
                            mean_seconds=sum(times[i] for i in idx) / len(idx) if idx else math.nan)
    return out


async def collect(records: Sequence[TBRecord], plan_fn: Callable[[TBRecord], Awaitable[Prediction]]
                  ) -> tuple[list[Prediction], list[float]]:
    """Plan every record with ``plan_fn`` (one at a time, timed): the predictions and seconds.

    ``plan_fn`` returning ``None`` or raising an ``HgbotError`` (e.g. ``PlanError``) counts as an
    invalid plan; any other exception is a bug and propagates.
    """
    predictions: list[Prediction] = []
    seconds: list[float] = []
    for rec in records:
        start = time.perf_counter()
        try:
            plan = await plan_fn(rec)
        except HgbotError:
            plan = None
        seconds.append(time.perf_counter() - start)
        predictions.append(plan)
    return predictions, seconds


async def run_eval(records: Sequence[TBRecord],
                   plan_fn: Callable[[str], Awaitable[Plan | dict[str, Any] | None]]) -> dict[str, Scores]:
    """Plan every record's request text with ``plan_fn`` (see ``collect``) and score the plans."""
    predictions, seconds = await collect(records, lambda rec: plan_fn(rec.request))
    return score(records, predictions, seconds)


# --- chat-style records: inputs for the planner, and the metrics beyond n-F1/e-F1

def record_inputs(rec: TBRecord) -> tuple[list[Artifact], list[str], str | None]:
    """A chat record's attachments as planner inputs: artifacts (newest first: this message's files,
    then earlier outputs), the handles attached to this message, and the previous text answer."""
    fresh: list[Artifact] = []
    older: list[Artifact] = []
    previous_text = None
    for i, (name, kind) in enumerate(rec.attachments):
        if name == f"{PREVIOUS}text":
            previous_text = name
            continue
        art = Artifact(id=f"evalfile{i}", conversation_id=0, kind=_kind(kind), mime="", path=Path(name), size=0,
                       filename=name, task="earlier step" if name.startswith(PREVIOUS) else None)
        (older if name.startswith(PREVIOUS) else fresh).append(art)
    return fresh + older, [a.handle for a in fresh], previous_text


def planning_context(rec: TBRecord) -> PlanningContext:
    """What a planner is given for ``rec``, scored over the whole task registry whatever this machine
    runs: a chat record's files and previous answer, or a TaskBench record's literal file names."""
    if rec.chat_style:
        resources, attached, previous = record_inputs(rec)
        return PlanningContext(rec.request, (), resources, attached=attached, any_task=True, previous_text=previous)
    return PlanningContext(rec.request, (), (), allow_literal_files=True, any_task=True)


def _kind(kind: str) -> Kind:
    return kind if kind in ("text", "image", "audio", "video") else "text"  # type: ignore[return-value]


def _norm(text: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


_LEADING_ARTICLE = ("a ", "an ", "the ")


def payload_form(text: str) -> str:
    """A payload text as the scorer compares it (the convention in bench/RESULTS.md): case,
    punctuation, quotes and spacing do not count, nor one leading article ("a red car" = "red car").
    Every other word does: request framing ("make me", "please", "a picture of") must be gone and
    style words ("a watercolor of …") must be kept."""
    out = _norm(text)
    for article in _LEADING_ARTICLE:
        if out.startswith(article):
            return out[len(article):]
    return out


def _plan_args(plan: Prediction) -> list[dict[str, str]]:
    if plan is None:
        return []
    if isinstance(plan, Plan):
        return [t.wire_args() for t in plan.tasks]
    return [dict(t.get("args") or {}) for t in plan.get("tasks", []) or [] if isinstance(t, Mapping)]


@dataclass
class ChatScores:
    """Shares (0..1) over chat-style records; NaN when no record has what a metric needs."""

    plan_vs_chat: float  # plan (some task) vs chat (none) decided as the record says
    file_right: float  # of the records that name files: the plan reads exactly those files
    payload_right: float  # of the records with a payload: every expected text reaches a step
    file_count: int
    payload_count: int
    # of the records with a file at hand whose plan must read none ("say it out loud" beside an old
    # photo): how many read one anyway. "file right" alone counts only records that name files.
    stray_files: int = 0
    no_file_count: int = 0


def chat_scores(records: Sequence[TBRecord], predictions: Sequence[Prediction],
                previous_text: str = f"{PREVIOUS}text") -> tuple[ChatScores, list[tuple[str, str]]]:
    """The chat-set metrics, and ``(record id, metric)`` for each miss (for tuning reports)."""
    chat_ok = files_ok = payload_ok = file_n = payload_n = stray = no_file_n = 0
    misses: list[tuple[str, str]] = []
    for rec, pred in zip(records, predictions, strict=True):
        args = _plan_args(pred)
        if bool(args) == bool(rec.nodes):
            chat_ok += 1
        else:
            misses.append((rec.id, "plan-vs-chat"))
        names = {a.handle: a.filename for a in record_inputs(rec)[0]}
        used = {names.get(v, v) for a in args for k, v in a.items()
                if k in ("image", "audio", "video", "text", "context") and v.startswith(HANDLE_PREFIX)}
        if rec.files:
            file_n += 1
            if args and used == set(rec.files):
                files_ok += 1
            else:
                misses.append((rec.id, "file"))
        elif rec.nodes and names:
            no_file_n += 1
            if used:
                stray += 1
                misses.append((rec.id, "stray file"))
        if rec.payload:
            payload_n += 1
            literals = {payload_form(v) for a in args for v in a.values()
                        if not v.startswith((HANDLE_PREFIX, GENERATED_PREFIX))}
            if all(payload_form(p) in literals for p in rec.payload):
                payload_ok += 1
            else:
                misses.append((rec.id, "payload"))
    n = len(records)
    return ChatScores(chat_ok / n if n else math.nan, files_ok / file_n if file_n else math.nan,
                      payload_ok / payload_n if payload_n else math.nan, file_n, payload_n, stray, no_file_n), misses


def prediction_line(rec: TBRecord, plan: Prediction) -> dict[str, Any]:
    """One line of ``--predictions``: ``{"id", "nodes": [{"id", "task"}], "links": [[source, target]]}``
    with node ids (a link goes from the step whose output the target reads)."""
    nodes: list[dict[str, Any]] = []
    links: list[list[int]] = []
    if isinstance(plan, Plan):
        for t in plan.tasks:
            nodes.append({"id": t.id, "task": _canonical(t.task)})
            links.extend([d, t.id] for d in sorted(set(t.deps) | _generated_refs(t.args.values())) if d != t.id)
    elif plan is not None:
        for pos, raw in enumerate(plan.get("tasks", []) or [], 1):
            if not isinstance(raw, Mapping):
                continue
            tid = int(raw["id"]) if _is_int(raw.get("id")) else pos
            nodes.append({"id": tid, "task": _canonical(str(raw.get("task", "")))})
            deps = {int(d) for d in raw.get("deps", []) or [] if _is_int(d)}
            links.extend([d, tid] for d in sorted(deps | _generated_refs((raw.get("args") or {}).values())) if d != tid)
    known = {n["id"] for n in nodes}
    return {"id": rec.id, "nodes": nodes, "links": [lk for lk in links if lk[0] in known]}


def format_chat_report(s: ChatScores) -> str:
    return (f"plan-vs-chat {_pct(s.plan_vs_chat).strip()} %   file right {_pct(s.file_right).strip()} % "
            f"(of {s.file_count})   payload right {_pct(s.payload_right).strip()} % (of {s.payload_count})   "
            f"stray file {s.stray_files} (of {s.no_file_count})")


def _pct(x: float) -> str:
    return f"{'–':>5}" if math.isnan(x) else f"{100 * x:5.1f}"


def format_report(scores: Mapping[str, Scores]) -> str:
    """A plain-text table: n-F1 and e-F1 (×100) with precision/recall, by type, valid share, s/plan."""
    head = f"{'type':<8} {'n':>4}  {'n-F1':>5} {'n-P':>5} {'n-R':>5}  {'e-F1':>5} {'e-P':>5} {'e-R':>5}  {'valid':>5}  {'s/plan':>7}"
    lines = [head, "-" * len(head)]
    for group in GROUPS:
        if group not in scores or scores[group].count == 0:
            continue
        s = scores[group]
        lines.append(
            f"{group:<8} {s.count:>4}  {_pct(s.n_f1)} {_pct(s.n_precision)} {_pct(s.n_recall)}  "
            f"{_pct(s.e_f1)} {_pct(s.e_precision)} {_pct(s.e_recall)}  {_pct(s.valid_share)}  {s.mean_seconds:7.4f}"
        )
    return "\n".join(lines)
