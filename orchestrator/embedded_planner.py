"""The embedded planner: a request becomes a task graph with no LLM at all.

Contract: ``EmbeddedPlanner(router).plan(text, resources)`` returns a raw plan in the planner
contract (``{"tasks": [...]}``) that passes ``validate_plan`` with ``handles`` built from the same
``resources``; ``{"tasks": []}`` means "just chat". It never raises for odd input.

How it plans:

1. **Steps**: the router's lexicon finds the tasks the request mentions, in reading order
   (quoted literals masked; generic verbs resolved by the object they act on; repeats dropped).
   When no cue fires, the best MiniLM match becomes the one step, unless its similarity is
   below the chat threshold (small talk → no tasks).
2. **Links by type**: each input a task needs comes from the nearest earlier step whose output
   has that kind; else from an attachment of that kind (newest first); else from a literal (a
   quoted string or the request for text, a file name mentioned in the request for files when
   ``allow_literal_files``). A step whose file input cannot be found is dropped.
3. ``deps`` are exactly the ``<GENERATED>-k`` references of a step's args.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import tasks as registry
from .content import (
    Resource,
    about_attached,
    clean,
    each_file,
    labels,
    named_kind,
    names_the_answer,
    noun_kind,
    order_resources,
    ordinal_file,
    pick_file,
    pointed_kind,
    points_back,
    question_and_passage,
    refers_back,
    speaks_a_file,
    speaks_a_missing_file,
    text_file,
)
from .router import (
    QUOTE_TOKEN,
    Analysis,
    Mention,
    TaskRouter,
    controlnet_steps,
    file_question,
    payload,
    target_language,
)
from .types import GENERATED_PREFIX, Kind

_MAX_TASKS = 12  # the validator's limit


@dataclass
class _Step:
    id: int
    task: str
    mention: Mention
    args: dict[str, str] = field(default_factory=dict)
    deps: list[int] = field(default_factory=list)

    @property
    def output(self) -> Kind:
        return registry.TASKS[self.task].output

    def produces(self, kind: str) -> bool:
        return registry.TASKS[self.task].produces(kind)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "task": self.task, "deps": sorted(set(self.deps)), "args": self.args}


@dataclass(frozen=True)
class _Context:
    """What every step of one request is wired from."""

    text: str
    analysis: Analysis
    resources: Sequence[Resource]  # in the order steps should look at them
    allow_literal_files: bool
    previous_text: str | None
    mentions: Sequence[Mention]
    text_file: str | None  # the text file a text step reads instead of the request's words (content.text_file)
    fresh: Sequence[Resource] = ()  # this message's files


def _own_span(mention: Mention, ctx: _Context) -> str:
    """The request's words that belong to ``mention``: from its clause to the next step's clause.

    Positions refer to the masked text, which matches the request only without quoted literals
    (a quoted step reads its quote anyway): then the whole request is the span.
    """
    a = ctx.analysis
    if a.quotes or len(a.masked) != len(ctx.text):
        return ctx.text
    later = [m for m in ctx.mentions if m.start > mention.start]
    start = a.clauses[mention.clause][0] if a.clauses else 0
    if not later:
        end = len(ctx.text)
    else:
        nxt = min(later, key=lambda m: m.start)
        end = a.clauses[nxt.clause][0] if nxt.clause != mention.clause and a.clauses else nxt.start
    if later or start > 0:
        return ctx.text[start:end]
    return ctx.text


def _reads(task: str, kind: str) -> bool:
    t = registry.TASKS[task]
    if kind == "text":
        # a text file feeds a text-only task: one that also needs a picture ("illustrate this" with
        # a .txt scored close to visual question answering) would find no picture and plan nothing
        return t.inputs == ("text",)
    return kind in t.inputs or (kind == "video" and "audio" in t.inputs)


# Words that chain two steps; without them a consumer named first reads a producer named after it.
_CHAIN = re.compile(r"\bthen\b|\band\b|\bafter\b|[,;.!?]")


# Only an article between a step and the next ("read out loud a summary of …"): the next is its
# object. Without one it is a compound noun ("an audio summary"), which keeps the order it was given.
_ARTICLE_ONLY = re.compile(r"\s*(?:(?:me|us)\s+)?(?:a|an|the)\s+")


def _producers_first(mentions: list[Mention], analysis: Analysis) -> list[Mention]:
    """Move a producer named right after its consumer before it: "an audio file describing what is
    in the image" is image-to-text, then text-to-speech. Speech whose object is another text step's
    product ("read out loud a summary of what the lecturer says") comes after it too."""
    out = list(mentions)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        ta, tb = registry.TASKS[a.task], registry.TASKS[b.task]
        between = analysis.masked[a.end:b.start]
        if ta.inputs != ("text",) or tb.output != "text":
            continue
        if "text" in tb.inputs and not (a.task == "text-to-speech" and _ARTICLE_ONLY.fullmatch(between)):
            continue  # "translate this and summarize it": in order, unless b is what is read out
        if any(registry.TASKS[m.task].produces("text") for m in out[:i]):
            continue
        if not _CHAIN.search(between):
            out[i], out[i + 1] = b, a
    return out


def _for_every_file(steps: list[_Step], attached: Collection[str], resources: Sequence[Resource]) -> list[_Step]:
    """Repeat a lone file step for the other files of its kind in ``attached`` (``EVERY_FILE``: this
    message's files; "this one and the earlier one": older files too); only a step that nothing
    reads, so no chain has to be copied."""
    used = {v for s in steps for v in s.args.values()}
    extra: list[_Step] = []
    for step in steps:
        if step.deps or any(step.id in s.deps for s in steps):
            continue
        for key, handle in list(step.args.items()):
            if handle not in attached or key not in ("image", "audio"):
                continue
            fits = ("audio", "video") if key == "audio" else ("image",)
            for other in (h for h, k in resources if h in attached and k in fits and h not in used):
                used.add(other)
                extra.append(_Step(len(steps) + len(extra) + 1, step.task, step.mention, {**step.args, key: other}))
    return steps + extra


# Words about what was said: content that points at a recording ("an image of what I said").
_SPOKEN = re.compile(r"\b(?:said|says|told|talked|spoke|mentioned|heard|recorded|saying)\b", re.IGNORECASE)

_PARALLEL = re.compile(r"\balso\b|\bas well\b|\bin parallel\b|\bseparately\b|\badditionally\b|\bat the same time\b")


class EmbeddedPlanner:
    """Rule planner over the router's lexicon and embeddings (see the module docstring)."""

    def __init__(self, router: TaskRouter) -> None:
        self.router = router
        self.lexicon = router.lexicon

    def plan(self, text: str, resources: Sequence[Resource], *, allow_literal_files: bool = False,
             attached: Collection[str] = (), previous_text: str | None = None,
             runnable: Collection[str] | None = None) -> dict[str, Any]:
        """Plan ``text`` with ``resources`` (``(handle, kind)``, newest first) as the inputs at hand.

        ``attached``: the handles that came with this message (they go first, see ``content``);
        ``previous_text``: the previous turn's text output, for "now say it out loud";
        ``runnable``: task names a model here can run (None: all). Steps of other tasks are kept
        in the plan but named in its ``unrunnable`` list, which the caller must not run.
        """
        ordered = order_resources(text, resources, attached)
        analysis = self.lexicon.analyse(text, [k for _, k in ordered])
        audio_at_hand = any(k in ("audio", "video") for _, k in ordered) or \
            any(k in ("audio", "video") for _, k in analysis.files)
        image_at_hand = any(k == "image" for _, k in ordered) or any(k == "image" for _, k in analysis.files)
        image_attached = any(k == "image" for h, k in ordered if h in attached)
        audio_attached = any(k in ("audio", "video") for h, k in ordered if h in attached)
        # a text step with nothing to read reads the first medium in file order: a photo sent now
        # before an older recording ("translate this menu"), a recording named before a photo
        media = [k for _, k in ordered if k in ("audio", "video", "image")]
        # an older picture the request points at ("a story about the image you made") is read like one sent now
        image_source = image_attached or (media[:1] == ["image"] and (pointed_kind(text) == "image" or refers_back(text)))
        image_first = image_source and media[:1] == ["image"]
        mentions = _producers_first(controlnet_steps(analysis, image_at_hand), analysis)
        # a cue that is only the name of a file sent now ("summarize the transcript" with a text file
        # beside a recording) names that file, not a step that would make one from another input
        sent = {k for h, k in ordered if h in attached}
        mentions = [m for m in mentions if (k := noun_kind(analysis.masked[m.start:m.end])) is None
                    or k not in sent or k in registry.TASKS[m.task].inputs]
        # a request that points back at an earlier file is about it: the kinds in reading order, older first
        fresh = [k for _, k in ordered] if refers_back(text) else [k for h, k in ordered if h in attached]
        asked = file_question(self.lexicon, analysis, text, fresh, [k for h, k in ordered if h not in attached])
        if not mentions and asked is not None:
            mentions = [Mention(asked, 0, len(analysis.masked), 0)]
        if not mentions:
            sims = self.router.similarities(text)
            # A file came with the message, or the request points at one at hand ("type up my
            # recording"): it is what the request is about, so only tasks that read its kind compete.
            pointed = pointed_kind(text)
            about = [k for _, k in ordered if k == pointed or (pointed == "audio" and k == "video")] or fresh
            if about:
                readers = {n: v for n, v in sims.items() if _reads(n, about[0])}
                sims = readers or sims
            best = max(sims, key=lambda n: sims[n])
            # Without a cue word, a two-word message ("hello", "thanks a lot") is small talk whatever
            # it resembles: "hello" alone is closer to "say hello in a robot voice" than to nothing.
            if not about and (self.lexicon.is_chat(sims[best]) or len(text.split()) < 3):
                return {"tasks": []}
            mentions = [Mention(best, 0, len(analysis.masked), 0)]
        steps: list[_Step] = []
        ctx = _Context(text, analysis, ordered, allow_literal_files, previous_text, mentions,
                       text_file(text, ordered, attached), [r for r in resources if r[0] in attached])
        for m in mentions:
            if m.task == "text-to-speech" and audio_attached and not image_attached and self._speaks_the_file(m, steps, ctx):
                # "read this out to me" with a voice memo: its words are already speech; what the
                # user is missing is what it says, its transcript
                m = Mention("automatic-speech-recognition", m.start, m.end, m.clause)
            if len(steps) >= _MAX_TASKS:
                break
            # "classify the sentiment of: …" brings its own text: no transcript of an older recording
            # a text file put first (attached, or named: "are the lyrics sad?") is what a text step reads
            text_first = bool(ordered) and ordered[0][1] == "text"
            if audio_at_hand and not text_first and not image_first and payload(text) is None and \
                    (self._needs_transcript(m, steps, analysis) or
                     audio_attached and self._speaks_a_file(m, steps, ctx, ["audio", "video"])) and \
                    not self._reads_earlier_text(m, ctx, audio_attached) and \
                    not self._brings_its_own_text(m, ctx, audio_attached):
                bridge = _Step(len(steps) + 1, "automatic-speech-recognition", m)
                if self._wire(bridge, steps, ctx):
                    steps.append(bridge)
            elif image_source and payload(text) is None and text_file(text, ordered, attached) is None and \
                    (self._needs_transcript(m, steps, analysis) or self._speaks_a_file(m, steps, ctx, ["image"])
                     or image_attached and self._speaks_the_file(m, steps, ctx)) and \
                    m.task != "question-answering":
                # "translate this" with a photo of a sign: read the picture's text first; "read this out
                # loud" with one: this message's photo, before the previous answer
                bridge = _Step(len(steps) + 1, "image-to-text", m)
                if self._wire(bridge, steps, ctx):
                    steps.append(bridge)
            if m.task == "text-to-speech" and not any(s.produces("text") for s in steps) and \
                    speaks_a_missing_file(_own_span(m, ctx), [k for _, k in ordered]):
                continue  # "narrate this recording" with no recording at hand
            if self._inside_a_prompt(m, steps, ctx):
                continue  # "an image: sunset over mountains, oil painting style": the style is the prompt's
            step = _Step(len(steps) + 1, m.task, m)
            if self._wire(step, steps, ctx):
                steps.append(step)
        if (each := each_file(text)) is not None:
            # "describe both pictures" with one sent now: the older one is the other
            this_message = each == "attached" and sum(h in attached for h, _ in ordered) >= 2
            steps = _for_every_file(steps, attached if this_message else [h for h, _ in ordered], ordered)
        out: dict[str, Any] = {"tasks": [s.to_json() for s in steps[:_MAX_TASKS]]}
        if runnable is not None:
            missing = sorted({s.task for s in steps[:_MAX_TASKS]} - set(runnable))
            if missing:
                out["unrunnable"] = missing
        return out

    @staticmethod
    def _needs_transcript(mention: Mention, earlier: list[_Step], analysis: Analysis) -> bool:
        """A text-only step with nothing to read, while an audio input lies unused: transcribe it first.

        "Summarize the recording" or "answer 'why?' from the lecture audio" act on what was said.
        """
        task = registry.TASKS[mention.task]
        if task.inputs != ("text",) or mention.task == "text-to-speech":
            return False
        if any(s.output == "text" for s in earlier) or any("audio" in registry.TASKS[s.task].inputs for s in earlier):
            return False
        if mention.task == "question-answering":
            return True  # the quote is the question; the passage is the audio
        cs, ce = analysis.clauses[mention.clause]
        return QUOTE_TOKEN not in analysis.masked[cs:ce]

    def _reads_earlier_text(self, mention: Mention, ctx: _Context, audio_attached: bool) -> bool:
        """A text step whose object is only a pronoun ("translate what you read", "summarize it") reads
        the previous turn's text when there is one and no recording came with this message: an older
        recording lying in the conversation is not what "it" means."""
        if audio_attached or ctx.previous_text is None or registry.TASKS[mention.task].inputs != ("text",):
            return False
        return self.lexicon.framing.content(mention.task, _own_span(mention, ctx)) == ""

    @staticmethod
    def _inside_a_prompt(mention: Mention, earlier: list[_Step], ctx: _Context) -> bool:
        """The style words that name an edit (``mention``) lie inside the prompt an earlier generation
        step got from the request's own words: they describe that picture, not a step of their own.
        Only unquoted requests: with a quote, positions in the masked text differ from the request's."""
        if mention.task != "image-to-image" or ctx.analysis.quotes:
            return False
        words = ctx.analysis.masked[mention.start:mention.end].strip().lower()
        for s in earlier:
            prompt = s.args.get("text", "")
            if registry.TASKS[s.task].output in ("image", "video") and not prompt.startswith(GENERATED_PREFIX) \
                    and prompt != ctx.text and words and words in prompt.lower():
                return True
        return False

    def _brings_its_own_text(self, mention: Mention, ctx: _Context, audio_attached: bool) -> bool:
        """A text step whose own words are its content ("draw me a dragon on gold coins", "how do you
        say thank you in Japanese?") when no recording came with this message and the request names
        none: an older recording in the conversation is not what it is about (issue 13 point 1)."""
        if audio_attached or refers_back(ctx.text) or named_kind(ctx.text) in ("audio", "video"):
            return False
        found = self.lexicon.framing.content(mention.task, _own_span(mention, ctx))
        return bool(found) and found is not None and _SPOKEN.search(found) is None

    def _speaks_the_file(self, mention: Mention, earlier: list[_Step], ctx: _Context) -> bool:
        """Speech whose words are this message's file ("read this out to me", "say what this sign
        says"): nothing quoted, no earlier text step, and the framing leaves only "this" or the thing shown."""
        if mention.task != "text-to-speech" or any(s.produces("text") for s in earlier):
            return False
        cs, ce = ctx.analysis.clauses[mention.clause]
        if QUOTE_TOKEN in ctx.analysis.masked[cs:ce]:
            return False
        return about_attached(self.lexicon.framing.span(mention.task, _own_span(mention, ctx)))

    def _wire(self, step: _Step, earlier: list[_Step], ctx: _Context) -> bool:
        """Fill ``step.args``/``deps``; False when a required file input is nowhere to be found."""
        analysis, text = ctx.analysis, ctx.text
        task = registry.TASKS[step.task]
        prev = earlier[-1] if earlier else None
        # "detect the objects and also estimate the depth": a parallel step reads the same file
        # as the one before it, not that step's output.
        between = analysis.masked[prev.mention.end:step.mention.start] if prev else ""
        parallel = prev is not None and bool(_PARALLEL.search(between))
        for kind in task.inputs:
            if kind == "text":
                continue
            if (named := self._ordinal_file(kind, step, ctx)) is not None:
                step.args[kind] = named  # "detect the objects in the first one and caption the second one"
                continue
            pool = earlier[:-1] if parallel and prev is not None and prev.output == kind else earlier
            source = next((s for s in reversed(pool) if s.output == kind), None)
            if source is not None:
                self._use(step, kind, source)
                continue
            value = self._file(kind, step.mention, analysis, ctx.resources, ctx.allow_literal_files)
            if value is None:
                return False
            step.args[kind] = value
        quote = self._quote(step.mention, analysis) or payload(text)
        if "text" in task.inputs:
            file_task = len(task.inputs) > 1  # e.g. VQA: the text is the question about the file
            if file_task:
                # The question is a literal when one is quoted in the step's clause; otherwise
                # the preceding text step (a transcript, a translation) asks it.
                if quote is None and prev is not None and prev.output == "text":
                    self._use(step, "text", prev)
                elif step.task.endswith("-text-to-image"):
                    step.args["text"] = quote or self.lexicon.framing.content("controlnet", _own_span(
                        step.mention, ctx)) or self.lexicon.framing.content("controlnet", text) or text
                else:
                    step.args["text"] = quote or text
            else:
                source = next((s for s in reversed(earlier) if s.produces("text")), None)
                attached_text = ctx.text_file
                if step.task == "question-answering":
                    # Passage from the earlier step (or an attached text), question from the request.
                    qp = question_and_passage(text) if source is None else None
                    if qp is not None:
                        step.args["text"], step.args["context"] = qp
                    else:
                        step.args["text"] = quote or text
                    if source is not None:
                        self._use(step, "context", source)
                    elif attached_text is not None and qp is None:
                        step.args["context"] = attached_text
                elif quote is not None and source is not None and parallel and \
                        self._quote_in_clause(step.mention, analysis):
                    # "…, and also say 'good morning' out loud": its own literal, not the step before.
                    step.args["text"] = quote
                elif source is not None:
                    self._use(step, "text", source)
                elif attached_text is not None and quote is None:
                    step.args["text"] = attached_text  # "summarize the attached report"
                else:
                    own = quote or self._content(step, ctx) or pick_file("text", ctx.resources)
                    if own is None:
                        return False  # "say it out loud" with nothing said or written before: nothing to read
                    step.args["text"] = own
        elif task.accepts("text"):
            # Optional instruction (image-to-image): the preceding text step, else the request.
            if prev is not None and prev.output == "text":
                self._use(step, "text", prev)
            else:
                step.args["text"] = quote or text
        if task.accepts("context") and "context" not in step.args:
            context = self._context(step, analysis, quote, text)
            if context:
                step.args["context"] = context
        return True

    def _speaks_a_file(self, mention: Mention, earlier: list[_Step], ctx: _Context, kinds: Collection[str]) -> bool:
        """Speech of a file's words ("read this out loud", "narrate this image", "say back what I
        said", ``content.speaks_a_file``) with nothing said in this request yet."""
        if mention.task != "text-to-speech" or ctx.analysis.quotes or names_the_answer(ctx.text) or \
                any(s.produces("text") for s in earlier):
            return False
        span = _own_span(mention, ctx)
        # "turn that first note into speech": an earlier text, not the file (see content.points_back)
        return speaks_a_file(self.lexicon.framing.content("text-to-speech", span), span, kinds) and \
            not points_back(self.lexicon.framing.span("text-to-speech", span) or "")

    @staticmethod
    def _ordinal_file(kind: Kind, step: _Step, ctx: _Context) -> str | None:
        """The file of this message an ordinal in the step's own words names, when the request has
        steps of its own words (the whole request's ordinal is already first in ``ctx.resources``)."""
        span = _own_span(step.mention, ctx)
        if span is ctx.text:
            return None
        fits = ("audio", "video") if kind == "audio" else (kind,)
        chosen = ordinal_file(span, [r for r in ctx.fresh if r[1] in fits])
        return chosen[0] if chosen is not None else None

    @staticmethod
    def _use(step: _Step, key: str, source: _Step) -> None:
        step.args[key] = f"{GENERATED_PREFIX}{source.id}"
        step.deps.append(source.id)

    def _content(self, step: _Step, ctx: _Context) -> str | None:
        """The words a text-only step reads once its framing is stripped (``content`` module); the
        previous turn's text when only a pronoun is left; None when that is wanted and missing."""
        span = _own_span(step.mention, ctx)
        found = self.lexicon.framing.content(step.task, span)
        if found == "":
            # "it": a literal this request quoted earlier, else the previous turn's answer
            return ctx.analysis.quotes[-1] if ctx.analysis.quotes else ctx.previous_text
        if found is None:
            found = clean(span) if span is not ctx.text else None
            if found is not None and len(found.split()) < 2:
                found = None
        return found or ctx.text

    def _file(self, kind: Kind, mention: Mention, analysis: Analysis,
              resources: Sequence[Resource], allow_literal_files: bool) -> str | None:
        handle = pick_file(kind, resources)
        if handle is not None or not allow_literal_files:
            return handle
        named = [(pos, name) for pos, (name, k) in zip(analysis.file_positions, analysis.files, strict=True)
                 if k == kind]
        before = [n for pos, n in named if pos < mention.start]
        return before[-1] if before else (named[0][1] if named else None)

    def _quote(self, mention: Mention, analysis: Analysis) -> str | None:
        """The quoted literal that belongs to a step: in its clause (after it first), else the next one."""
        spots = [m.start() for m in re.finditer(re.escape(QUOTE_TOKEN), analysis.masked)]
        if not spots:
            return None
        cs, ce = analysis.clauses[mention.clause] if analysis.clauses else (0, len(analysis.masked))
        inside = [i for i, p in enumerate(spots) if mention.start <= p < mention.end]  # "say «q» out loud"
        after = [i for i, p in enumerate(spots) if mention.end <= p < ce]
        before = [i for i, p in enumerate(spots) if cs <= p < mention.start]
        later = [i for i, p in enumerate(spots) if p >= mention.end]
        first: list[int] = inside or after
        pick = first[0] if first else before[-1] if before else later[0] if later else None
        return analysis.quotes[pick] if pick is not None and pick < len(analysis.quotes) else None

    @staticmethod
    def _quote_in_clause(mention: Mention, analysis: Analysis) -> bool:
        cs, ce = analysis.clauses[mention.clause] if analysis.clauses else (0, len(analysis.masked))
        return any(cs <= m.start() < ce for m in re.finditer(re.escape(QUOTE_TOKEN), analysis.masked))

    def _context(self, step: _Step, analysis: Analysis, quote: str | None, text: str) -> str | None:
        """The second text of a task: target language, the other sentence, the QA passage."""
        if step.task == "translation":
            return target_language(analysis.masked, step.mention.start)
        if step.task == "sentence-similarity":
            others = [q for q in analysis.quotes if q != step.args.get("text")]
            return others[0] if others else None
        if step.task == "question-answering":
            others = [q for q in analysis.quotes if q != quote]
            return others[0] if others else None
        if step.task == "zero-shot-classification":
            return labels(text)
        return None
