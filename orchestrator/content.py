"""What a planned step reads: the right file and the right words (shared by both zero-LLM planners).

* **The right file** (``order_resources``): the files attached to *this* message come first. An
  earlier artifact of the conversation goes first only when the request refers back to one
  ("the image you made", "that recording", "again"); otherwise it is used only when nothing of
  the needed kind is attached. ``pick_file`` takes the first resource of the kind a step needs;
  a video stands in for audio (its audio track), never the other way round.
* **The right words** (``Framing.content``): a step gets its content, not the request's framing:
  "say hello world out loud" speaks "hello world", "make me a picture of a red car, please"
  prompts "a red car". The patterns are data (``router.yaml``, ``framing``): per task, regular
  expressions whose group ``c`` is the content. When what is left is only a pronoun ("say it out
  loud"), the step reads the previous turn's text output instead (``PREVIOUS_TEXT`` marks it).
  ``question_and_passage`` splits a QA request, ``labels`` finds zero-shot labels.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .types import Kind

Resource = tuple[str, Kind]

# The request points at an earlier file rather than the one it brings.
_BACK_REF = re.compile(
    # "you", chat spellings ("u", "ya") and perfect forms ("you've made", "u had generated")
    r"\b(?:(?:you|u|ya|yu)(?:'ve|ve| have|'d| had)?(?: just)? (?:made|creat(?:e?d)|gene?r\w{0,2}at(?:e?d)|produced|drew|drawn|rendered"
    r"|transcribed|sent|gave|given|returned|edited"
    r"|synthesi[sz]ed|spoke|voiced|painted|cleaned|enhanced|upscaled|maked|came up with|whipped up|cooked up|put together)"
    # "how many people did you draw?"
    r"|(?:did|have|had) (?:you|u) (?:make|draw|create|generate|render|paint|produce|record|say|send)"
    # "the photo i uploaded before": "before" alone is too common ("translate it before …")
    r"|(?:uploaded|sent|attached|shared|posted|recorded|made) (?:(?:you|u|it|them|here) )?(?:before|b4|last time|yesterday)"
    r"|(?:that|those|the (?:previous|last|earlier|same|generated|edited|resulting|old|older|prior|other|original)|your|ur)"
    r" (?:[\w-]+ )?(?:image|picture|photo|pic|drawing|painting|artwork|art|render|sketch|illustration|creation|recording"
    r"|audio|clip|sound|voice|file|video|one|result|output)s?"
    r"|from (?:before|b4|earlier|the last turn|(?:your|ur|the) (?:last|previous|earlier) (?:message|reply|answer|turn|response))|(?:made|generated|created) (?:earlier|before|just now)"
    # "the image above": further up the conversation
    r"|(?:image|picture|photo|pic|one|recording|audio|clip|file) (?:above|up there)"
    r"|earlier|previous(?:ly)?|again)\b",
    re.IGNORECASE,
)

# What is left of a request when it names no content of its own ("say it out loud", "turn that first
# note into speech", "read this out to me"): a pronoun, or a noun phrase that points at an earlier text
# output, with the particles a speech verb leaves behind ("out", "back", "to me").
_TEXT_NOUNS = (r"(?:text|notes?|results?|answers?|outputs?|transcripts?|transcriptions?|captions?|summary|summaries"
               r"|translations?|words|reply|replies|responses?|messages?|lines?|sentences?|paragraphs?|descriptions?"
               r"|ones?|same)")
_PRONOUN = re.compile(
    r"^(?:(?:now|then|and|ok(?:ay)?|please|pls|just|also|so)\s+)*"
    r"(?:it|this|that|them|those|these|(?:both|all)(?: of (?:them|these|those))?"
    r"|(?:the|this|that|those|these|your|my|both)\s+(?:(?:first|1st|second|2nd|third|3rd|last|previous|latest|earlier"
    rf"|same|other|whole|full|two|both)\s+)?{_TEXT_NOUNS}"
    r"|what (?:you|it) (?:just )?(?:said|says|wrote|found|read|told me|answered|transcribed|got|gave me|returned))?"
    r"(?:\s+(?:please|again|too|as well|for me|to me|for us|to us|now|out|back|aloud|out loud|both|all|all of them))*$",
    re.IGNORECASE,
)

# A pronoun span that points back at an earlier output ("that note", "the first one", "what you read")
# rather than at this message's file ("read this out", "say it", "the text").
_POINTS_BACK = re.compile(r"\b(?:that|those|your|what you|what it (?:said|wrote|found|read|told|answered|returned|gave)|first|1st|second|2nd|third|3rd|last|previous|latest"
                          r"|earlier|same|other|transcripts?|transcriptions?|translations?|summary|summaries|answers?"
                          r"|results?|outputs?|reply|replies|responses?|captions?|descriptions?)\b", re.IGNORECASE)

QUOTE_RE = re.compile(
    r"(?<![\w])'(?P<s>(?:[^']|(?<=\w)'(?=\w))*?\S)'(?![\w])|\"(?P<d>[^\"]+)\"|“(?P<c>[^”]+)”|‘(?P<a>[^’]+)’(?![\w])"
)

PREVIOUS_TEXT = "previous:text"  # evaluation's name for the previous turn's text output

_TRAILING = re.compile(r"(?:[\s,;:.!?]+|\s+(?:please|pls|plz|thanks|thank you|for me|if you can|if possible|and|then"
                       r"|and then|so|ok|okay)\b)+$",
                       re.IGNORECASE)
_LEADING = re.compile(r"^(?:[\s,;:]+|(?:the following|following)\s*:?\s*|the (?:words?|phrase|sentence|line)\s*:?\s+(?=\S))+",
                      re.IGNORECASE)
# A request that is a verb and its object ("summarize what you just said"): the object, for the pronoun check.
_VERB_OBJECT = re.compile(r"^\W*(?:(?:please|pls|now|ok|and|then|can you|could you|would you)\s+)*\w+\s+(?P<c>.+?)[\s.!?]*$",
                          re.IGNORECASE)


# A dash or an arrow between the framing and the content reads like a colon ("say this aloud - the
# shop opens at 8", "in french -> my flight was cancelled"); a hyphen inside a word does not.
_SEPARATOR = re.compile(r"\s+(?:-{1,2}>?|=>|[–—→])\s+")


def colon_form(text: str) -> str:
    """``text`` with its first dash or arrow separator written as ": " (see ``_SEPARATOR``)."""
    return _SEPARATOR.sub(": ", text, count=1) if ": " not in text else text


# "caption both photos", "transcribe each recording": one step per file of this message.
EVERY_FILE = re.compile(r"\bboth\b|\b(?:each|every|all)(?: of)? (?:the |these |those |my )?(?:\w+ )?"
                        r"(?:files?|images?|photos?|pictures?|pics?|recordings?|clips?|memos?|videos?|attachments?|ones?)\b"
                        r"|\b(?:the|these|those|my) (?:two|three|2|3) (?:\w+ )?(?:files|images|photos|pictures|pics|recordings"
                        r"|clips|memos|videos|attachments|ones)\b"
                        r"|\b(?:each|every one|all) of (?:these|those|them)\b",  # "read each of these signs"
                        re.IGNORECASE)


# "this one and the earlier recording": the new file and an older one, both.
_THIS_AND_BACK = re.compile(r"\bthis (?:new |fresh |latest )?(?:one|photo|picture|pic|image|recording|clip|memo|file|audio|voice note)\b"
                            r".*\b(?:and|with|to|against|vs|versus)\b",
                            re.IGNORECASE)


# "the depth map of your image and of this photo": an older file named first, then this message's
_BACK_AND_THIS = re.compile(r"\b(?:your|ur|the|that) (?:\w+ )?(?:image|picture|photo|pic|one|recording|audio|clip|memo)"
                            r"(?: (?:you|u) \w+)? and (?:of |also |for |in )?this (?:one|photo|picture|pic|image|recording"
                            r"|clip|memo|file|audio|voice note)\b", re.IGNORECASE)


def each_file(text: str) -> str | None:
    """Whether a file step is wanted once per file: "attached" ("caption both photos": each file of
    this message), "all" ("this one and the earlier recording": older files too), else None."""
    if EVERY_FILE.search(text):
        return "attached"
    both = _THIS_AND_BACK.search(text) or _BACK_AND_THIS.search(text)
    return "all" if both and refers_back(text) else None


# "ignore the older one", "not the one you made": a back-reference ruled out, not pointed at
_NEGATED = re.compile(r"\b(?:not|ignore|ignoring|instead of|rather than|except|skip|forget(?: about)?|never ?mind)\s+(?:\w+\s+){0,2}$",
                      re.IGNORECASE)


# "this one", "this photo": the file of this message, named; "again" then repeats an action on it
_THIS_FILE = re.compile(r"\bthis (?:new |fresh )?(?:one|photo|picture|pic|image|recording|clip|memo|file|audio|voice note"
                        r"|video|screenshot)\b", re.IGNORECASE)


def refers_back(text: str) -> bool:
    """True when the request points at an earlier artifact ("the picture you made", "that recording");
    not for a ruled-out one ("ignore the older one"), nor for "again" beside "this one"."""
    this_file = _THIS_FILE.search(text) is not None
    return any(not _NEGATED.search(text[:m.start()]) and not (this_file and m.group(0).lower() == "again")
               for m in _BACK_REF.finditer(text))


# "the second picture", "the first one": a position among this message's files (of that kind).
_ORDINAL = re.compile(r"(?P<not>\bnot )?\b(?:the )?(?P<n>first|1st|second|2nd|third|3rd|last|other) (?P<noun>one|file|attachment|"
                      r"image|picture|photo|pic|screenshot|recording|audio|clip|memo|voice note|video)s?\b"
                      # bare after "the" ("segment the 1st"): never "last", which is also time ("the last thing you made")
                      r"|(?P<bnot>\bnot )?\bthe (?P<bare>first|1st|second|2nd|third|3rd)\b(?! (?:\w+ )?(?:time|step|thing|turn))",
                      re.IGNORECASE)
_ORDINAL_INDEX = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "last": -1, "other": 1}
_NOUN_KIND: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("image", "picture", "photo", "pic", "screenshot"), ("image",)),
    **dict.fromkeys(("recording", "audio", "clip", "memo", "voice note"), ("audio", "video")),
    "video": ("video",)}


# A noun that names the kind of file the request is about ("describe the screenshot", "what does the
# chart show?", "type up my recording"): with files of several kinds at hand, that kind goes first.
_KIND_NOUN = re.compile(r"\b(?:(?P<image>image|picture|photo|photograph|pic|snap|selfie|screenshot|chart|graph|diagram|figure"
                        r"|drawing|painting|jpe?g|png|pictrue|pitcure|picutre|imgae|iamge|foto|phot"
                        # printed things people photograph to have them read ("the sign, what does it say?")
                        r"|sign|poster|menu|receipt|whiteboard|flyer|billboard)"
                        r"|(?P<audio>recording|audio|memo|voice ?note|voicemail|voice message"
                        r"|speech|sound|clip|lecture|interview|recrding|recodring|audo"
                        r"|song|podcast)|(?P<video>video|vid|movie|footage)|(?P<text>notes|document|doc|file of text"
                        r"|txt|essay|article|transcript|lyrics|minutes|poem|script))s?\b", re.IGNORECASE)


def named_kind(text: str) -> str | None:
    """The file kind the request's first kind noun names ("the screenshot": image), if any."""
    m = _KIND_NOUN.search(text)
    return m.lastgroup if m else None


def noun_kind(word: str) -> str | None:
    """The file kind ``word`` names when it is a kind noun and nothing more ("transcript": text)."""
    m = _KIND_NOUN.fullmatch(word.strip())
    return m.lastgroup if m else None


# one word may stand between the determiner and the noun ("that old photo"), never a preposition: "turn
# that into speech" points at no recording
_POINTED = re.compile(r"\b(?:this|that|these|those|my|your|the)\s+(?:(?!(?:into|to|as|in|on|for|of|with|from)\b)[\w-]+\s+)?"
                      + _KIND_NOUN.pattern[2:], re.IGNORECASE)


def pointed_kind(text: str) -> str | None:
    """The kind of a file the request points at with a determiner ("type up my recording", "that
    photo"): with no cue word, such a request is about a file of that kind, even an older one."""
    m = _POINTED.search(text)
    return m.lastgroup if m else None


def order_resources(text: str, resources: Sequence[Resource], attached: Collection[str]) -> list[Resource]:
    """``resources`` (newest first) in the order a step should look at them (see the module docstring);
    a kind noun ("the screenshot") brings files of that kind to the front, and an ordinal ("describe
    the second picture") that file of this message."""
    fresh = [r for r in resources if r[0] in attached]
    older = [r for r in resources if r[0] not in attached]
    back = bool(fresh) and refers_back(text)
    ordered = older + fresh if back else fresh + older
    # the kind the request points at ("a poem about the picture you drew": the picture, not the poem)
    if (kind := pointed_kind(text) or named_kind(text)) is not None:
        fits = ("audio", "video") if kind == "audio" else (kind,)
        first = set(older if back else fresh)
        # within the named kind this message's files still come before older ones (or after, when
        # the request points back), and "the recording" means a recording before a video's sound
        ordered = sorted(ordered, key=lambda r: (r[1] not in fits, r not in first, r[1] != kind))
    chosen = ordinal_file(text, fresh)
    return ordered if chosen is None else [chosen, *(r for r in ordered if r != chosen)]


def ordinal_file(text: str, fresh: Sequence[Resource]) -> Resource | None:
    """The file of this message an ordinal names ("the second picture", "the 1st", "the other one"
    of two), among this message's files of the noun's kind; an ordinal after "not" ("not the
    first") only rules its file out."""
    for m in _ORDINAL.finditer(text):
        noun = m.group("noun")
        kinds = _NOUN_KIND.get(noun.lower()) if noun else None
        among = [r for r in fresh if kinds is None or r[1] in kinds]
        word = (m.group("n") or m.group("bare")).lower()
        if len(among) < 2 or (word == "other" and len(among) != 2):
            continue
        index = _ORDINAL_INDEX[word]
        if index >= len(among):
            continue
        if m.group("not") or m.group("bnot"):
            if len(among) == 2:
                return among[1 - index if index >= 0 else 0]
            continue
        return among[index]
    return None


def text_file(text: str, ordered: Sequence[Resource], attached: Collection[str]) -> str | None:
    """The text file a text step reads instead of the request's words: this message's, or an older
    one the request points at ("summarize the notes", "translate the file you made"). An older text
    file is not read for a request that brings its own words ("say good morning out loud")."""
    handle = pick_file("text", ordered)
    named = named_kind(text) == "text" or bool(_FILE_WORD.search(text))
    if handle is not None and names_the_answer(text) and not named:
        return None  # "translate your answer" beside a text file: the answer
    if handle is None or handle in attached or refers_back(text) or named:
        return handle
    return None


_FILE_WORD = re.compile(r"\b(?:file|attachment|document|doc|report|txt|csv)s?\b", re.IGNORECASE)


def pick_file(kind: Kind, resources: Sequence[Resource]) -> str | None:
    """The first resource of ``kind``; for audio, a video's audio track when no audio is at hand."""
    fits = ("audio", "video") if kind == "audio" else (kind,)
    return next((h for h, k in resources if k in fits), None)


def has_kind(kind: Kind, kinds: Collection[str]) -> bool:
    return kind in kinds or (kind == "audio" and "video" in kinds)


def _strip_symbols(text: str) -> str:
    # emoji and other pictographs after the content ("… in snow pls 🐶") are tone, not words to use
    end = len(text)
    while end and (unicodedata.category(text[end - 1]) in ("So", "Sk", "Cf", "Mn") or text[end - 1].isspace()):
        end -= 1
    return text[:end]


def clean(span: str) -> str:
    """Trim politeness, punctuation, emoji and a leading "the following:" from an extracted span."""
    out = _LEADING.sub("", span.strip())
    previous = None
    while previous != out:
        previous = out
        out = _TRAILING.sub("", _strip_symbols(out)).strip()
    return out.strip(" \"'“”‘’")


# "your answer", "what you just said": the previous turn's text by name, never a file of this message
_ANSWER_REF = re.compile(r"\b(?:your|the (?:last|previous|latest))\s+(?:\w+\s+)?(?:answer|reply|response|message|result|output"
                         r"|summary|translation|transcript(?:ion)?|caption|text)\b|\bwhat (?:you|it) (?:just )?(?:said|says|wrote|"
                         r"found|read|told me|answered)\b|\byou (?:just )?(?:said|wrote|answered|replied)\b", re.IGNORECASE)


# Speech whose words are a file's: "tell me out loud what you see", "say back what I said".
_ABOUT_FILE = re.compile(r"\bwhat (?:you|u) (?:can )?(?:see|hear)\b|\bwhat (?:i|we|they|he|she|it|this \w+) (?:said|say|says|sings?|sang"
                         r"|wrote|write|shows?)\b", re.IGNORECASE)


def speaks_a_file(content: str | None, span: str, kinds: Collection[str]) -> bool:
    """Whether speech's words are to be read from a file (of ``kinds``) first: only a pronoun is
    left ("read this out loud"), or the words point at the file ("narrate this image", "say back
    what I said"). ``content`` is what the framing left (None: not recognised, ``span`` is read)."""
    if content == "":
        return True
    words = span if content is None else content
    kind = pointed_kind(words)
    return (kind is not None and has_kind(kind, kinds)) or bool(_ABOUT_FILE.search(words))  # type: ignore[arg-type]


def speaks_a_missing_file(text: str, kinds: Collection[str]) -> bool:
    """Speech of a file that is not at hand ("narrate this recording" with only a picture): there is
    nothing to speak; the request's own words are not what it asks to hear."""
    if QUOTE_RE.search(text) or ": " in colon_form(text):
        return False  # "voice over for my video: welcome to our channel" brings its words
    kind = pointed_kind(text)
    return kind in ("image", "audio", "video") and not has_kind(kind, kinds)  # type: ignore[arg-type]


def names_the_answer(text: str) -> bool:
    """True when the request names the previous answer ("read your answer aloud")."""
    return bool(_ANSWER_REF.search(text))


def is_pronoun(span: str) -> bool:
    return not span.strip() or bool(_PRONOUN.match(span.strip(" .!?,")))


def points_back(span: str) -> bool:
    """Whether a pronoun span names an earlier output ("that note", "the first one", "what you read")
    rather than what this message brings ("read this out", "say it", "the text")."""
    return bool(_POINTS_BACK.search(span))


# "this sign", "the note", "my screenshot": a thing this message's picture shows, named instead of a pronoun.
_SHOWN_THING = re.compile(
    r"^(?:(?:now|then|and|ok(?:ay)?|please|pls|just|so)\s+)*(?:this|these|the|my|attached)\s+(?:[\w-]+\s+){0,2}?"
    r"(?:image|picture|photo|pic|screenshot|snap|sign|note|page|label|menu|card|poster|letter|board|notice|receipt"
    r"|document|scan|text|writing|words|caption|handwriting|slide|whiteboard|flyer|ticket|recipe)s?"
    r"(?:\s+(?:please|for me|to me|for us|to us|now|out|back|aloud|out loud))*$", re.IGNORECASE)

# "what this says", "what's written here", "what it reads": the words of the thing at hand.
_WHAT_IT_SAYS = re.compile(r"^what(?:'s| is)?\s+(?:(?:this|it|the \w+)\s+(?:says?|reads?)|written(?:\s+(?:here|on (?:it|this|there)))?)"
                           r"(?:\s+(?:please|for me|to me|here|out|aloud|out loud))*$", re.IGNORECASE)


def about_attached(span: str | None) -> bool:
    """Whether what the framing left ("this out", "it", "this sign") is this message's file rather
    than words to use or an earlier output ("that first note", "what you read")."""
    if span is None:
        return False
    span = span.strip(" .!?,")
    return (is_pronoun(span) or bool(_SHOWN_THING.match(span) or _WHAT_IT_SAYS.match(span))) and not points_back(span)


_TEXT_ORDINAL = re.compile(rf"\b(?P<n>first|1st|second|2nd|third|3rd|last) (?:\w+ )?{_TEXT_NOUNS}\b", re.IGNORECASE)
_ALL_OF_THEM = re.compile(r"\b(?:them|both|all|(?:those|these|the) (?:two |three )?(?:notes|texts|results|answers|outputs"
                          r"|transcripts|captions|lines|messages|translations|ones))\b", re.IGNORECASE)


def earlier_text(request: str, texts: Sequence[str]) -> str | None:
    """The earlier text output a reference means: the one its ordinal names ("that first note": the
    first), all of them for a plural ("read them both out"), else the last one (None: there are none)."""
    if not texts:
        return None
    if (m := _TEXT_ORDINAL.search(request)) is not None:
        index = _ORDINAL_INDEX[m.group("n").lower()]
        return texts[index] if -len(texts) <= index < len(texts) else None
    if _ALL_OF_THEM.search(request) and len(texts) > 1:
        return "\n".join(texts)
    return texts[-1]


# The bare name of what a generator makes anyway ("a photo of …") is framing, not prompt (the payload
# convention of bench/RESULTS.md); a word that sets the look ("a realistic photo of") keeps it.
_BARE_KIND = re.compile(r"^(?:an?|the)\s+(?:(?:quick|short|little|small|simple|nice|cool|new|brief)\s+)*"
                        r"(?:picture|image|pic|photo|photograph)s?\s+(?:of|showing|depicting|featuring)\s+(?=\S)",
                        re.IGNORECASE)
_PROMPT_TASKS = ("text-to-image", "controlnet")


class Framing:
    """Per-task framing patterns from ``router.yaml`` (``framing``: task → list of regexes with group ``c``)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.patterns: dict[str, list[re.Pattern[str]]] = {
            task: [re.compile(p, re.IGNORECASE) for p in pats] for task, pats in (data or {}).items()}

    def content(self, task: str, text: str) -> str | None:
        """The content ``text`` gives ``task`` once the framing is stripped; "" when only a pronoun is
        left (the step should read an earlier output); None when no pattern recognises the framing."""
        span = self.span(task, text)
        if span is None:
            return None
        return "" if is_pronoun(span) else span

    def span(self, task: str, text: str) -> str | None:
        """What the framing leaves, pronouns kept ("this out" in "read this out to me"); None when no
        pattern recognises the framing."""
        text = colon_form(text)
        for pat in self.patterns.get(task, ()):
            m = pat.search(text)
            if m is None:
                continue
            span = clean(m.group("c"))
            head, sep, tail = span.partition(": ")
            if sep and len(head.split()) <= 6 and "=" not in head and task != "tabular-classification":
                span = clean(tail)  # "translation to french of: the kitchen is closed"
            if task in _PROMPT_TASKS:
                span = _BARE_KIND.sub("", span, count=1)
            return span
        m = _VERB_OBJECT.match(text)
        return clean(m.group("c")) if m is not None and is_pronoun(clean(m.group("c"))) else None


_QUESTION_LABEL = re.compile(r"^\W*(?:and |so |then )?(?:question|q|answer(?: this)?|tell me)?\s*[:,-]?\s*", re.IGNORECASE)
_FRAME_BEFORE = re.compile(r"^(?:please )?(?:read (?:this|it)|look at (?:this|it))(?: and)?\s+|(?:\s*(?:using|from|in|based on|"
                           r"given|according to) (?:this|the|that) (?:text|passage|paragraph|context))?\s*[:,]?\s*$",
                           re.IGNORECASE)
_WH = re.compile(r"\b(?:who|what|when|where|which|why|how|is|are|does|do|did|can|was|were)\b", re.IGNORECASE)


def question_and_passage(text: str) -> tuple[str, str] | None:
    """A QA request's question and passage: with two quoted literals, the one asked ("?", or after
    "question") and the other; with one, the quote is the passage and the question is the request's
    own words after it (else before it), framing removed. None without a quote."""
    found = [m for m in QUOTE_RE.finditer(text)]
    if not found:
        return None
    inner = [next(g for g in m.groups() if g is not None) for m in found]
    if len(found) >= 2:
        a, b = inner[0], inner[1]
        asked_b = b.rstrip().endswith("?") or re.search(r"\bquestion\W*$", text[found[0].end():found[1].start()], re.I)
        asked_a = a.rstrip().endswith("?") or re.search(r"\bquestion\W*$", text[:found[0].start()], re.I)
        q, ctx = (b, a) if asked_b and not asked_a else (a, b)
        return clean(q), clean(ctx)
    m = found[0]
    after = _QUESTION_LABEL.sub("", text[m.end():]).strip()
    before = text[:m.start()]
    if after and ("?" in after or _WH.search(after)):
        question = after
    else:
        question = _FRAME_BEFORE.sub("", before.strip()).strip()
        question = re.sub(r"^(?:answer|question)\s*:?\s*", "", question, flags=re.IGNORECASE)
    return clean(question), clean(inner[0])


_LABEL_KEY = re.compile(r"\b(?:about|as|into|under|to|of|with|between|fits?|is it|a|an|is|be|categories|labels|topics?|classes)\b",
                        re.IGNORECASE)


def labels(text: str) -> str | None:
    """Zero-shot labels listed in a request ("… about sports, politics or business?") as "a, b, c"."""
    rest = re.sub(r"\s*/\s*(?=[^\W\d])", ", ", QUOTE_RE.sub(" | ", text))  # "sports / music / politics"
    if bracketed := re.search(r"\(([^()]*(?:,|\bor\b)[^()]*)\)", rest):
        rest = bracketed.group(1)  # "pick one label (sports, music, politics) for …"
    segments = [seg for seg in re.split(r"[|:?!;]", rest) if " or " in f" {seg} " or seg.count(",") >= 2]
    if not segments:
        return None
    parts = re.split(r",|\bor\b", segments[-1])
    # The first item carries the words before the list ("… about sports"): keep what follows them.
    keys = list(_LABEL_KEY.finditer(parts[0]))
    if keys and parts[0][keys[-1].end():].strip():
        parts[0] = parts[0][keys[-1].end():]
    elif keys and len(parts) > 2 and parts[0].strip().lower().endswith(keys[-1].group(0).lower()):
        parts = parts[1:]  # "what is this essay about, sports or politics?": the question ends before the list
    parts = [re.sub(r"^(?:an?|the)\s+", "", p.strip(" .'\"")) for p in parts]
    parts = [p for p in parts if p]
    return ", ".join(parts) if len(parts) >= 2 else None
