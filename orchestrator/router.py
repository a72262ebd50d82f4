"""The zero-LLM fast path: recognise "clearly one task, with its inputs at hand" and plan it.

Two recognisers work together, both driven by ``data/router.yaml``:

* a **cue lexicon** (``Lexicon``): regular expressions over the request, with quoted literals
  masked out, that find task mentions in reading order. Generic verbs ("classify", "enhance",
  "answer") resolve to a task by the kind of thing they act on;
* **MiniLM embeddings** (``MiniLMEmbedder``): cosine similarity between the request and each
  task's description and examples, computed once at load.

``TaskRouter.route`` adds a task's similarity, a bonus when its cue matched and a prior from the
attachment kinds, and accepts the best task only when its margin over the runner-up reaches the
tuned threshold, no multi-step cue ("then", "also", "finally", two different task cues) was
seen, and every file input the task needs is attached. ``TaskRouter.plan`` turns an accepted
route into a one-task raw plan in the planner contract. The embedded planner
(``embedded_planner.py``) reuses the lexicon and the similarities for whole graphs.

Nothing heavy happens at import: the model loads in ``TaskRouter.load`` (blocking: 5-15 s on
a shared 2-core box, mostly importing torch and transformers).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources as pkg_resources
from typing import Any

import numpy as np
import yaml

from . import tasks as registry
from .content import (
    QUOTE_RE,
    Framing,
    Resource,
    about_attached,
    colon_form,
    each_file,
    has_kind,
    labels,
    names_the_answer,
    order_resources,
    pick_file,
    points_back,
    question_and_passage,
    refers_back,
    speaks_a_file,
    speaks_a_missing_file,
    text_file,
)
from .embeddings import Embedder, MiniLMEmbedder, OnnxMiniLMEmbedder, default_embedder
from .types import FILE_KINDS, Kind

QUOTE_TOKEN = "«q»"



_LANG_RE = re.compile(
    r"\b(?:to|into|in)\s+(english|french|spanish|german|italian|chinese|japanese|russian|portuguese|arabic|"
    r"korean|dutch|hindi|turkish|polish|swedish|greek|hebrew|vietnamese|ukrainian|czech|danish|finnish)\b",
    re.IGNORECASE,
)


def target_language(text: str, start: int = 0) -> str | None:
    """The language a translation goes to ("... into French" → "French"), searched from ``start``."""
    m = _LANG_RE.search(text, start)
    return m.group(1).capitalize() if m else None


@dataclass(frozen=True)
class Route:
    """The fast path's verdict on one request. ``accepted`` means: plan ``task`` alone, no LLM."""

    task: str
    confidence: float  # margin of the best task's score over the runner-up's, clipped to 0..1
    accepted: bool
    reason: str
    runner_up: str | None


@dataclass(frozen=True)
class Mention:
    """A task found in the request: ``task`` at ``[start, end)`` of the masked text."""

    task: str
    start: int
    end: int
    clause: int


@dataclass(frozen=True)
class Analysis:
    """What the lexicon saw in a request (positions refer to ``masked``)."""

    masked: str  # lower-cased, quoted literals replaced by QUOTE_TOKEN
    quotes: tuple[str, ...]  # quoted literals, in order
    files: tuple[tuple[str, Kind], ...]  # file names mentioned, in order, with their kind
    file_positions: tuple[int, ...]  # where each file name starts in ``masked``
    mentions: tuple[Mention, ...]  # tasks in reading order, duplicates removed
    multi_step: tuple[str, ...]  # multi-step cue words found
    clauses: tuple[tuple[int, int], ...]

    @property
    def tasks(self) -> list[str]:
        return [m.task for m in self.mentions]


@dataclass(frozen=True)
class _Cue:
    pattern: re.Pattern[str]
    priority: float
    task: str | None = None  # None: inert span (an input is only mentioned)
    by_kind: Mapping[str, str | None] = field(default_factory=dict)
    default: str | None = None
    look_before: bool = False  # the object precedes the verb ("the speech ... to text")


class Lexicon:
    """Cue patterns, object nouns and tunables from ``router.yaml``."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.threshold = float(data["threshold"])
        self.weights: dict[str, float] = {k: float(v) for k, v in data["weights"].items()}
        self.multi_step = [re.compile(p) for p in data["multi_step"]]
        self.clause_split = re.compile(data["clause_split"])
        suffixes = {s: k for k, ss in data["file_suffixes"].items() for s in ss}
        # File names appear in the masked text as "example_jpg" (see ``analyse``); they name a kind too.
        self.kind_nouns = {
            k: re.compile(p + "".join(rf"|\b[\w\-]+_(?:{'|'.join(data['file_suffixes'][k])})\b"
                                      for _ in (0,) if k in data["file_suffixes"]))
            for k, p in data["kind_nouns"].items()
        }
        self.file_kinds: dict[str, Kind] = suffixes
        self.file_re = re.compile(r"\b[\w\-]+\.(" + "|".join(sorted(suffixes, key=len, reverse=True)) + r")\b",
                                  re.IGNORECASE)
        cues: list[_Cue] = [_Cue(re.compile(p), 2.5) for p in data["inert"]]
        for g in data["generic"]:
            cues.append(_Cue(re.compile(g["pattern"]), float(g["priority"]), None, dict(g["by_kind"]), g["default"],
                             g.get("look") == "before"))
        self.tasks: dict[str, dict[str, Any]] = dict(data["tasks"])
        for name, spec in self.tasks.items():
            if registry.get(name) is None:
                raise ValueError(f"router.yaml names an unknown task: {name}")
            for c in spec.get("cues", []):
                cues.append(_Cue(re.compile(c["pattern"]), float(c["priority"]), name))
        self.cues = cues
        self.framing = Framing(data.get("framing", {}))

    @classmethod
    def packaged(cls) -> Lexicon:
        return _packaged_lexicon()

    def mask(self, text: str) -> tuple[str, tuple[str, ...]]:
        """Lower-case ``text`` and replace quoted literals (cue words inside don't count)."""
        quotes: list[str] = []

        def repl(m: re.Match[str]) -> str:
            inner = next(g for g in m.groups() if g is not None)
            if self.file_re.fullmatch(inner.strip()):
                return inner  # 'example.jpg' is a file mention, not a literal
            quotes.append(inner)
            return f" {QUOTE_TOKEN} "

        return QUOTE_RE.sub(repl, text).lower(), tuple(quotes)

    def analyse(self, text: str, attachment_kinds: Sequence[Kind] = ()) -> Analysis:
        """Find the tasks a request mentions, in reading order (see the module docstring).

        ``attachment_kinds`` (newest first) resolve generic verbs that name no object.
        """
        masked, quotes = self.mask(text)
        found_files = list(self.file_re.finditer(masked))
        files = tuple((m.group(0), self.file_kinds[m.group(1).lower()]) for m in found_files)
        positions = tuple(m.start() for m in found_files)
        # "example.jpg" → "example_jpg": one word for the patterns, and no sentence break at its dot.
        chars = list(masked)
        for m in found_files:
            chars[m.start(1) - 1] = "_"
        masked = "".join(chars)
        clauses = self._clauses(masked)
        found: list[tuple[float, int, int, _Cue]] = []
        for cue in self.cues:
            for m in cue.pattern.finditer(masked):
                if m.end() > m.start():
                    found.append((cue.priority, m.start(), m.end(), cue))
        # Higher priority first, then longer: a kept span blocks any overlapping weaker one.
        found.sort(key=lambda f: (-f[0], -(f[2] - f[1]), f[1]))
        kept: list[tuple[int, int, _Cue]] = []
        for _, s, e, cue in found:
            if all(e <= ks or s >= ke for ks, ke, _ in kept):
                kept.append((s, e, cue))
        kept.sort(key=lambda k: k[0])
        mentions: list[Mention] = []
        seen: set[str] = set()
        doc = bool(self.kind_nouns["document"].search(masked))
        for s, e, cue in kept:
            clause = next((i for i, (cs, ce) in enumerate(clauses) if cs <= s < ce), len(clauses) - 1)
            task = cue.task
            if task is None and cue.by_kind:
                # The previous step's output is what "classify it" acts on, unless that step came
                # from this same verb family ("answer ... answer" is one question, not a chain).
                prev = registry.get(mentions[-1].task) if mentions else None
                if prev is not None and prev.name in cue.by_kind.values():
                    prev = None
                kind = self._object_kind(masked, s, e, clauses[clause], cue.by_kind, cue.look_before)
                kind = kind or (prev.output if prev and prev.output in cue.by_kind else None)
                kind = kind or self._file_kind(files, positions, s, attachment_kinds, cue.by_kind)
                if kind == "image" and doc and "document" in cue.by_kind:
                    kind = "document"
                # A kind mapped to null (e.g. "classify the text") is too vague to be a task.
                task = cue.by_kind[kind] if kind is not None and kind in cue.by_kind else cue.default
            if not task or task in seen:
                continue
            seen.add(task)
            mentions.append(Mention(task, s, e, clause))
        multi = tuple(m.group(0) for p in self.multi_step for m in p.finditer(masked))
        return Analysis(masked, quotes, files, positions, tuple(mentions), multi, clauses)

    def _clauses(self, masked: str) -> tuple[tuple[int, int], ...]:
        bounds = [0]
        for m in self.clause_split.finditer(masked):
            bounds.extend((m.start(), m.end()))
        bounds.append(len(masked))
        pairs = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds) - 1, 2)]
        return tuple(p for p in pairs if p[1] > p[0]) or ((0, len(masked)),)

    def _object_kind(self, masked: str, s: int, e: int, clause: tuple[int, int],
                     wanted: Mapping[str, str | None], look_before: bool = False) -> str | None:
        """The kind of the object noun nearest the verb in its clause (after it first, or before)."""
        cs, ce = clause
        if not look_before and wanted.get("document") and self.kind_nouns["document"].search(masked, cs, ce):
            return "document"  # the most specific object: "answer ... from the document image"
        best: tuple[int, int, str] | None = None
        for order, (kind, pat) in enumerate(self.kind_nouns.items()):
            if not wanted.get(kind):
                continue  # a kind the verb makes no task of is no object for it either
            for m in pat.finditer(masked, cs, ce):
                if s <= m.start() < e:
                    continue  # the verb phrase's own words ("question answering") are no object
                after = m.start() >= e
                dist = (0 if after != look_before else 1, (m.start() - e) if after else (s - m.end()))
                key = (dist[0], dist[1] * 10 + order)
                if best is None or key < best[:2]:
                    best = (key[0], key[1], kind)
        return best[2] if best else None

    def _file_kind(self, files: Sequence[tuple[str, Kind]], positions: Sequence[int], pos: int,
                   attachment_kinds: Sequence[Kind], wanted: Mapping[str, str | None]) -> str | None:
        for kind in attachment_kinds:
            if kind in wanted:
                return kind
        earlier = [k for p, (_, k) in sorted(zip(positions, files, strict=True), reverse=True)
                   if p < pos and k in wanted]
        if earlier:
            return earlier[0]
        return next((k for _, k in files if k in wanted), None)

    def is_chat(self, top_similarity: float) -> bool:
        return top_similarity < self.weights["chat_similarity"]


@cache
def _packaged_lexicon() -> Lexicon:
    text = pkg_resources.files("orchestrator.data").joinpath("router.yaml").read_text(encoding="utf-8")
    return Lexicon(yaml.safe_load(text))


class TaskRouter:
    """Scores tasks for a request and decides whether the fast path may plan it alone."""

    def __init__(self, embedder: Embedder, lexicon: Lexicon | None = None, threshold: float | None = None) -> None:
        self.lexicon = lexicon or Lexicon.packaged()
        self.threshold = self.lexicon.threshold if threshold is None else threshold
        self.embedder = embedder
        self.task_names = list(self.lexicon.tasks)
        sentences: list[str] = []
        owner: list[int] = []
        for i, name in enumerate(self.task_names):
            spec = self.lexicon.tasks[name]
            for s in [spec["description"], *spec.get("examples", [])]:
                sentences.append(s)
                owner.append(i)
        self._proto = embedder.encode(sentences)  # computed once: a few dozen sentences
        self._owner = np.asarray(owner)

    @classmethod
    def load(cls, threshold: float | None = None) -> TaskRouter:
        """Load MiniLM and embed the task descriptions (blocking; run it off the event loop)."""
        return cls(default_embedder(), threshold=threshold)

    def similarities(self, text: str) -> dict[str, float]:
        """Cosine similarity of ``text`` to each task (best over its description and examples)."""
        masked, _ = self.lexicon.mask(text)
        vec = self.embedder.encode([masked.replace(QUOTE_TOKEN, "").strip() or text])[0]
        sims = self._proto @ vec
        best = np.full(len(self.task_names), -1.0, dtype=np.float32)
        np.maximum.at(best, self._owner, sims)
        return {name: float(best[i]) for i, name in enumerate(self.task_names)}

    def scores(self, text: str, attachment_kinds: Sequence[Kind],
               analysis: Analysis | None = None) -> tuple[dict[str, float], dict[str, float], Analysis]:
        """Combined scores (similarity + cue bonus + attachment prior), raw similarities, analysis."""
        analysis = analysis or self.lexicon.analyse(text, attachment_kinds)
        sims = self.similarities(text)
        cue_tasks = set(analysis.tasks)
        w = self.lexicon.weights
        combined: dict[str, float] = {}
        for name, sim in sims.items():
            needs = _file_inputs(name)
            prior = 0.0
            if needs:
                prior = w["kind_match"] if all(has_kind(k, attachment_kinds) for k in needs) else -w["kind_missing"]
            combined[name] = sim + prior + (w["cue"] if name in cue_tasks else 0.0)
        return combined, sims, analysis

    def route(self, text: str, attachment_kinds: Sequence[Kind], runnable: Collection[str] | None = None) -> Route:
        """Pick one task for ``text``; ``accepted`` only when it is clearly one task, inputs at hand, and
        (when ``runnable`` is given) a model here can run it: otherwise the full planner decides."""
        combined, sims, analysis = self.scores(text, attachment_kinds)
        ranked = sorted(combined, key=lambda n: combined[n], reverse=True)
        top, runner = ranked[0], (ranked[1] if len(ranked) > 1 else None)
        margin = combined[top] - (combined[runner] if runner else 0.0)
        confidence = max(0.0, min(1.0, margin))
        missing = [k for k in _file_inputs(top) if not has_kind(k, attachment_kinds)]
        if len(set(analysis.tasks)) > 1:
            reason, ok = f"several tasks mentioned: {', '.join(analysis.tasks)}", False
        elif analysis.tasks and top != analysis.tasks[0]:
            reason, ok = f"the request names {analysis.tasks[0]}, the similarity prefers {top}", False
        elif analysis.multi_step:
            reason, ok = f"multi-step wording: {analysis.multi_step[0]!r}", False
        elif not analysis.tasks and self.lexicon.is_chat(max(sims.values())):
            reason, ok = "no task mentioned", False
        elif missing:
            reason, ok = f"{top} needs an attached {missing[0]}", False
        elif runnable is not None and top not in runnable:
            reason, ok = f"no model here can run {top}", False
        elif margin < self.threshold:
            reason, ok = f"margin {margin:.2f} over {runner} is below {self.threshold:.2f}", False
        else:
            reason, ok = f"margin {margin:.2f} over {runner}", True
        return Route(top, confidence, ok, reason, runner)

    def plan(self, text: str, resources: Sequence[Resource], *, attached: Collection[str] = (),
             previous_text: str | None = None, runnable: Collection[str] | None = None) -> dict[str, Any] | None:
        """A one-task raw plan when the route is accepted, else ``None``.

        ``resources`` are ``(handle, kind)`` pairs, newest first, ``attached`` the handles that came
        with this message: each file input is wired to the file ``content.order_resources`` puts
        first. The text input of a text-only task is its content (see ``step_text``); a file task's
        text is the request itself (the question about the file). A translation also gets the
        target language as ``context`` when the request names one. ``runnable`` (task names with a
        model here; None: all) makes the fast path decline a task it could not run.
        """
        ordered = order_resources(text, resources, attached)
        kinds = [k for _, k in ordered]
        analysis = self.lexicon.analyse(text, kinds)
        # a request that points back at an earlier file is about it: the kinds in reading order, older first
        fresh = kinds if refers_back(text) else [k for h, k in ordered if h in attached]
        asked = file_question(self.lexicon, analysis, text, fresh, [k for h, k in ordered if h not in attached])
        if controlnet_steps(analysis, "image" in kinds) != list(analysis.mentions):
            return None  # guided generation: the embedded planner resolves it
        if (each := each_file(text)) is not None and (each == "all" or len(kinds) > len(set(kinds))):
            return None  # "caption both photos": one step per file, which the embedded planner plans
        if asked is not None:
            route = Route(asked, 1.0, runnable is None or asked in runnable, "a question about the attached image", None)
        else:
            route = self.route(text, kinds, runnable)
        if not route.accepted:
            return None
        task = registry.TASKS[route.task]
        args: dict[str, str] = {}
        quotes = self.lexicon.mask(text)[1]
        heard = any(k in ("audio", "video", "image") for h, k in ordered if h in attached) or \
            (bool(ordered) and ordered[0][1] in ("audio", "video", "image") and refers_back(text)
             and not names_the_answer(text))  # "a story inspired by the one you drew": an older medium
        if task.inputs == ("text",) and route.task not in ("text-to-speech", "question-answering") and heard \
                and not quotes and payload(text) is None and text_file(text, ordered, attached) is None:
            # "french subtitles for this video", "translate this" with a photo of a sign: the
            # embedded planner transcribes or reads the file first
            return None
        if route.task == "text-to-speech" and speaks_a_missing_file(text, kinds):
            return None  # "narrate this recording" with no recording at hand: nothing to speak
        media = [k for h, k in ordered if h in attached and k in ("image", "audio", "video")]
        if route.task == "text-to-speech" and not quotes and media and not names_the_answer(text) \
                and speaks_a_file(self.lexicon.framing.content(route.task, text), text, media) \
                and not points_back(self.lexicon.framing.span(route.task, text) or ""):
            return None  # "read this out loud" with a photo: its text, read first (the embedded planner)
        if route.task == "text-to-speech" and not quotes and payload(text) is None \
                and any(k in ("image", "audio", "video") for h, k in ordered if h in attached) \
                and about_attached(self.lexicon.framing.span(route.task, text)):
            # "read this out to me" with a photo of a sign (or a voice memo): its words come from
            # the file, which the embedded planner reads first (not the request's leftover "this
            # out", nor the previous turn's answer)
            return None
        for kind in task.inputs:
            if kind == "text":
                args["text"] = text
                if task.inputs == ("text",):
                    subject = step_text(self.lexicon, route.task, text, quotes, previous_text)
                    attached_text = text_file(text, ordered, attached)
                    if attached_text is not None and not quotes and payload(text) is None:
                        subject = attached_text  # "summarize the attached report"
                    subject = subject or pick_file("text", ordered)  # "summarize it": an older text file, if any
                    if subject is None:
                        return None  # "say it out loud" with nothing said before: let the planner decide
                    args["text"] = subject
            else:
                handle = pick_file(kind, ordered)
                if handle is None:
                    return None
                args[kind] = handle
        if route.task == "translation" and (lang := target_language(self.lexicon.mask(text)[0])):
            args["context"] = lang
        if route.task == "sentence-similarity" and len(quotes) >= 2:
            args["text"], args["context"] = quotes[0], quotes[1]  # the two sentences
        if route.task == "question-answering" and not quotes and (doc := text_file(text, ordered, attached)) is not None:
            args["text"], args["context"] = text, doc  # "in this file, what's the refund period?"
        if route.task == "question-answering" and (qp := question_and_passage(text)):
            args["text"], args["context"] = qp
        if route.task == "zero-shot-classification" and (found := labels(text)):
            args["context"] = found
        return {"tasks": [{"id": 1, "task": route.task, "deps": [], "args": args}]}


_QUESTION_SHAPE = re.compile(r"\?\s*$|^(?:who|what|whats|when|where|which|why|how|is|are|does|do|did|can|could|was|were|"
                             r"has|have)\b", re.IGNORECASE)


_ABOUT_IT = re.compile(r"^\W*(?:and |so |but )?(?:is|are|does|do|can|what|where|which|who|how many)\b[^.!?]{0,40}\b(?:it|its|it's|in it|there|they|them)\b",
                       re.IGNORECASE)


def file_question(lexicon: Lexicon, analysis: Analysis, text: str, fresh_kinds: Sequence[str],
                  older_kinds: Sequence[str] = ()) -> str | None:
    """A question that names no task, asked with an image at hand, is about that image: visual
    question answering, or document QA when it names a document ("what's the due date on the bill?");
    asked with a text file, it is question answering over that file. ``older_kinds`` (earlier files,
    newest first) answer a question about "it" when nothing came with the message."""
    if analysis.tasks or not _QUESTION_SHAPE.search(text.strip()):
        return None
    if not fresh_kinds and len(analysis.quotes) == 1:
        # "Based on this text: '…' When was it built?": a question about the quoted passage
        qp = question_and_passage(text)
        return "question-answering" if qp is not None and text.rstrip().endswith("?") and qp[0] else None
    if not fresh_kinds and older_kinds[:1] == ["image"] and _ABOUT_IT.search(text):
        fresh_kinds = older_kinds  # "is it a dog?" right after a picture was made: a question about it
    if fresh_kinds and fresh_kinds[0] == "text":
        return "question-answering"  # a question asked with a text file: its passage is the file
    if not fresh_kinds or fresh_kinds[0] != "image":
        return None
    return "document-question-answering" if lexicon.kind_nouns["document"].search(analysis.masked) \
        else "visual-question-answering"


# ControlNet families: the words that name a control map, most specific first.
_FAMILIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(p)) for name, p in (
    ("hed", r"\bhed\b|\bsoft[- ]edges?\b|\bholistic"),
    ("mlsd", r"\bm-?lsd\b|\bstraight lines?\b|\bline segments?\b|\blines\b"),
    ("openpose", r"\bopen ?pose\b|\bposes?\b|\bskeleton\b"),
    ("scribble", r"\bscribbl\w*|\bdoodle\b"),
    ("canny", r"\bcanny\b|\bedges?\b|\boutlines?\b"),
    ("depth", r"\bdepth\b"),
    ("seg", r"\bseg\b|\bsegmentation\b"),
))
_CONTROL_LIKE = {"depth-estimation": "depth", "image-segmentation": "seg"}
_GENERATE = re.compile(r"\b(?:generat\w*|creat\w*|render\w*|draw\w*|paint\w*|design\w*)\b|\bmake (?:it|this|that) (?:into )?an?\b"
                       r"|\bmake (?:me )?(?:an? |some )(?!(?:\w+ )?(?:map|mask|depth|pose|scribble|outline|edge|skeleton|seg\w*|canny|hed|control))"
                       r"|\binto an? (?!(?:\w+ )?(?:scribble|outline|sketch|map|mask|skeleton|edge))")
_EXTRACT = re.compile(r"\b(?:extract|get|detect|find|compute|estimate|trace|produce|give me|make (?:a|an|the) (?:\w+ )?(?:map|skeleton))\w*\b")


def controlnet_steps(analysis: Analysis, image_at_hand: bool) -> list[Mention]:
    """The mentions with ControlNet generation resolved: a picture made *following* a control map
    ("draw a ballerina in the pose from this photo", "turn my scribble into a house") is one
    ``{family}-text-to-image`` step, or two ("extract the pose, then generate a superhero in it")
    when the map is extracted as a step of its own. Other requests come back unchanged."""
    mentions = list(analysis.mentions)
    if not image_at_hand:
        return mentions
    masked = analysis.masked
    control = [m for m in mentions if m.task.endswith("-control") or m.task in _CONTROL_LIKE]
    others = [m for m in mentions if m not in control and m.task not in ("text-to-image", "image-to-image")]
    fam: str | None = None
    for name, pat in _FAMILIES:
        for fm in pat.finditer(masked):
            if not any(o.start <= fm.start() < o.end for o in others):
                fam = name
                break
        if fam:
            break
    if fam is None:
        return mentions
    if fam in ("depth", "seg") and not re.search(
            r"\b(?:depth|seg|segmentation) (?:map|layout|guid\w*|condition\w*|control)|\b(?:depth|layout) of (?:this|the|that) (?:scene|photo|picture|image|room)", masked):
        return mentions  # depth and segmentation are tasks of their own unless a map guides a picture
    gens = [m for m in mentions if m.task in ("text-to-image", "image-to-image")]
    spans = [(m.start, m.end) for m in control]
    fam_pat = dict(_FAMILIES)[fam]
    # "create a depth map" makes the map itself: a generation word must not have the map as its object
    gen_word = next((g for g in _GENERATE.finditer(masked) if not any(s <= g.start() < e for s, e in spans)
                     and not fam_pat.search(masked[g.end():g.end() + 12])
                     and not re.match(r"\s+(?:an? |the )?(?:\w+ )?(?:map|mask)", masked[g.end():])), None)
    if not gens and gen_word is None:
        return mentions
    c = next((m for m in control if (m.task == f"{fam}-control" or _CONTROL_LIKE.get(m.task) == fam)), None)
    g = gens[0] if gens else None
    if c is not None and g is not None and g.start < c.start and g.clause != c.clause:
        return mentions  # "draw a village, then estimate its depth": a picture, then its depth
    if c is None and g is None and (mentions or gen_word is None):
        return mentions
    at = g.start if g is not None else (gen_word.start() if gen_word is not None else 0)
    clause = g.clause if g is not None else next(
        (i for i, (cs, ce) in enumerate(analysis.clauses) if cs <= at < ce), len(analysis.clauses) - 1)
    made = Mention(f"{fam}-text-to-image", at, g.end if g is not None else at + 1, clause)
    out = [m for m in mentions if m is not g and m is not c]
    two_step = c is not None and c.clause != clause and bool(
        _EXTRACT.search(masked, analysis.clauses[c.clause][0], c.end))
    if two_step and c is not None:
        kept = Mention(f"{fam}-control", c.start, c.end, c.clause) if c.task in _CONTROL_LIKE else c
        out.append(kept)
    out.append(made)
    return sorted(out, key=lambda m: m.start)


def step_text(lexicon: Lexicon, task: str, text: str, quotes: Sequence[str], previous_text: str | None) -> str | None:
    """The text a text-only step reads: its one quoted literal, else the content left once the
    task's framing is stripped, else what follows "…: "; the previous turn's text when only a
    pronoun is left ("now say it out loud"), None when that is wanted but there is none; else the
    request itself."""
    if len(quotes) == 1:
        return quotes[0]
    content = lexicon.framing.content(task, text)
    if content:
        return content
    after_colon = payload(text)
    if after_colon:
        return after_colon
    if content == "":
        return previous_text
    return text


def payload(text: str) -> str | None:
    """What follows "…: " in an unquoted request ("translate this into Spanish: where is it?")."""
    if "'" in text or '"' in text:
        return None
    head, sep, tail = colon_form(text).partition(": ")
    return tail.strip() if sep and len(tail.split()) >= 2 and len(head.split()) <= 12 else None


def _file_inputs(task: str) -> tuple[Kind, ...]:
    t = registry.get(task)
    return tuple(k for k in t.inputs if k in FILE_KINDS) if t else ()


__all__ = ["Embedder", "MiniLMEmbedder", "OnnxMiniLMEmbedder", "Route", "TaskRouter", "payload", "target_language"]
