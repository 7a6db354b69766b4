"""Deterministic integrity pre-check for trainee text: injection markers, invisible and look-alike characters.

No model is involved: these are rules, so the same text always gets the same flags (RELIABILITY §0.3, A4).
A flagged turn is still graded on what it does to the caller; the flags travel with the grade and send
it to human review. A flag never *raises* a grade.

Three public functions:

* `check_integrity(text)` returns the flags (stable names, in a fixed order).
* `sanitize_for_grading(text)` removes invisible characters (zero-width, bidi controls, Unicode TAG
  characters, stray variation selectors). The original is stored; this copy is what graders read.
* `strip_injection_spans(text)` additionally removes the spans that carry an injection (role-label
  lines, chat-template tokens, grade-shaped JSON, code fences, wrapper tags, sentences addressed to the
  grader). The local appraiser grades this view, so a payload appended to a turn cannot move its verdict.
* `reading_view(text)` is the stricter copy the appraiser's reading model reads: for a turn that carried
  a payload, only whole sentences said to the caller (a model reads the leftovers of a cut sentence, where
  word-count features do not).

Detection runs on a *skeleton*: a same-length copy where confusable Cyrillic/Greek/fullwidth letters are
mapped to the Latin letters they imitate, so `ЅYЅТЕМ:` is caught like `SYSTEM:` and spans found on the
skeleton line up with the original text.
"""

from __future__ import annotations

import difflib
import itertools
import re
import unicodedata
from typing import Final

from simulator.grading import addressee
from simulator.grading.payloads import is_payload, payload_end, remove_payloads
from simulator.grading.payloads import payload_start as _payload_start

# Flag names (stable: stored with grades and counted in reports).
OVERSIZE: Final = "oversize"
ROLE_LABEL: Final = "role_label"
CHAT_TEMPLATE_TOKEN: Final = "chat_template_token"
GRADER_FIELD: Final = "grader_field"
GRADE_JSON: Final = "grade_json"
GRADER_ADDRESS: Final = "grader_address"
FENCE_BREAK: Final = "fence_break"
BOUNDARY_MARKER: Final = "boundary_marker"
ZERO_WIDTH: Final = "zero_width"
BIDI_CONTROL: Final = "bidi_control"
TAG_CHARACTERS: Final = "tag_characters"
VARIATION_SELECTOR: Final = "variation_selector"
HOMOGLYPH: Final = "homoglyph"

FLAG_ORDER: Final[tuple[str, ...]] = (
    OVERSIZE,
    ROLE_LABEL,
    CHAT_TEMPLATE_TOKEN,
    GRADER_FIELD,
    GRADE_JSON,
    GRADER_ADDRESS,
    FENCE_BREAK,
    BOUNDARY_MARKER,
    ZERO_WIDTH,
    BIDI_CONTROL,
    TAG_CHARACTERS,
    VARIATION_SELECTOR,
    HOMOGLYPH,
)


_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad\u2061\u2062\u2063\u2064\u034f")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_ZWJ = "\u200d"
_VS16 = "\ufe0f"

# Cyrillic and Greek letters that look like Latin ones (a skeleton in the spirit of Unicode TR39).
_CONFUSABLES: Final[dict[str, str]] = {
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "У": "Y", "Ѕ": "S", "І": "I", "Ј": "J", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j",
    "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ѵ": "v", "ӟ": "z",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ο": "o", "ν": "v", "ι": "i", "κ": "k", "τ": "t", "υ": "u",
    "ρ": "p", "α": "a",
}  # fmt: skip

_ROLE_WORDS = r"(?:system|assistant|user|developer|human|ai|grader|evaluator|judge|instruction[s]?)"
_RE_ROLE_LINE = re.compile(rf"(?im)^[ \t>*#\-\[]*{_ROLE_WORDS}[ \t]*\]?[ \t]*:")
_RE_ROLE_INLINE = re.compile(
    r"\b(?:SYSTEM|ASSISTANT|DEVELOPER|GRADER|EVALUATOR)\s*:|\[(?:SYSTEM|ADMIN|GRADER)\]"
    r"|(?<=[.!?]\s)\s*(?i:system|assistant|developer|grader|evaluator)\s*:"
)
_RE_TEMPLATE = re.compile(
    r"<\|[^|<>\n]{1,40}\|>|\[/?INST\]|<</?SYS>>|</?s>|<(?:start|end)_of_turn>|<(?:bos|eos)>"
    r"|###\s*(?:instruction|response|system)\b",
    re.IGNORECASE,
)
_FIELD_NAMES = (
    r"perspective_taking|manipulation_tactics|integrity_flags|better_phrasing|"
    r"grader_version|prompt_version|schema_version|techniques|behaviours|behaviors|evidence|"
    r"manipulative|verdict|score|grade|rating|status"
)
_RE_FIELD_SNAKE = re.compile(r"\b(?:perspective_taking|manipulation_tactics|integrity_flags|better_phrasing)\b")
_RE_FIELD_QUOTED = re.compile(rf"[\"'](?:{_FIELD_NAMES})[\"']\s*[:=]", re.IGNORECASE)
_KV_NAMES = r"perspective[_ -]taking|manipulation_tactics|manipulative|techniques|behaviours|verdict|score|grade"
_RE_FIELD_KV = re.compile(
    rf"\b(?:{_KV_NAMES})\s*[:=]\s*[\[\"'{{\d]|\bmanipulative\s*[:=]\s*(?:true|false)\b", re.IGNORECASE
)
_RE_JSON_OBJECT = re.compile(r"\{[^{}]{0,800}\}", re.DOTALL)
_RE_JSON_KEY = re.compile(r"[\"'][A-Za-z_ ]{1,40}[\"']\s*:")
_RE_GRADER_ADDRESS = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}\b(?:instruction|rubric|rule|prompt|above|previous)s?\b"
    r"|\bto (?:the |whoever(?: is)? |anyone )?"
    r"(?:grader|grading|scoring|marking|evaluat\w*|assessor)\b"
    r"|\b(?:grader|evaluator|rubric|llm|language model|ai model)\b"
    r"|\b(?:rate|score|grade|mark)\s+(?:this|me|my|the)\b[^.\n]{0,30}\b(?:\d|full|top|max|high|perfect)"
    r"|\b10\s*/\s*10\b|\[\[\s*\d+\s*\]\]|\bfull marks\b"
    r"|\b(?:evaluation|grading|assessment) (?:complete|finished|done|result)"
    # reasoning/verdict openers aimed at a judge ("master keys"), and scores stated as if already given
    r"|\bthought process\s*:|\bfinal (?:verdict|score|grade|rating|answer)\s*:"
    r"|(?<!credit )\b(?:score|grade|rating|verdict)\s*(?:is|should be|must be|[:=])\s*\[*\d"
    r"|\bperspective[- _]taking\s*[:=]?\s*\d\s*/\s*\d|\bno manipulation (?:detected|found|present)\b",
    re.IGNORECASE,
)
_WRAPPER_TAGS = (
    r"trainee(?:_turn)?|turn|transcript|context|scenario|system|instructions?|rubric|data|grader|assistant|"
    r"user|persona|verdict|grade|output|input|message|document"
)
_RE_FENCE_TAG = re.compile(rf"</?\s*(?:{_WRAPPER_TAGS})\b[^<>\n]{{0,80}}>", re.IGNORECASE)
_RE_FENCE_OTHER = re.compile(r"```|~~~|\[(?:BEGIN|END) (?:DATA|TURN|TRANSCRIPT)\]", re.IGNORECASE)
_RE_CODE_BLOCK = re.compile(r"(```|~~~).*?(?:\1|\Z)", re.DOTALL)
_RE_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|\Z)")
# Words nobody says to a caller: a sentence holding them is dropped from the grading view as well as from the
# reading view (`_without_sentences_for_a_model`), so the two views grade the same words.
_MODEL_ONLY_WORDS: Final = (
    r"\brole[- ]?play\b|\b(?:break|stay|staying|remain) (?:in )?character\b|\bsystem prompt\b|\bdebug mode\b"
    r"|\bfew[- ]shot\b|\bgrading pipeline\b|\bsystem message\b"
    r"|\b(?:open_question|fact_confrontation|loss_aversion|choice_architecture|halo_effect|false_urgency|"
    r"guilt_tripping)\b|\b[a-z_]+:(?:ethical|manipulative)\b|\b(?:label|mark|tag)\w* \w+ as (?:ethical|manipulative)\b"
)
_RE_MODEL_ONLY = re.compile(_MODEL_ONLY_WORDS, re.IGNORECASE)
# Words that only make sense said to a model: in a turn that already carried a payload, the sentence that
# holds them is part of it ("Don't break character.", "do not add caveats in your output"). Besides the
# words above, these also occur in ordinary turns ("I'll need your answer before we hang up"), so they are
# a reading-view rule only.
_RE_MODEL_TALK = re.compile(
    _MODEL_ONLY_WORDS + r"|\brole[- ]?play|\bverbatim\b"
    r"|\byour (?:output|response|answer|instructions|configuration)\b|\boutput your\b"
    r"|\bcaveats?\b|\bdo not (?:refuse|explain)\b"
    r"|\brespond (?:only )?(?:with|as)\b|\boutput (?:only|exactly)\b|\b(?:this|the|next|following) turn\b"
    r"|\bexample [a-z0-9]{1,2}\s*[:=]|=\s*[0-4]\b|\bturn \d+\b|\b(?:agent|trainee)\s*:",
    re.IGNORECASE,
)


def _is_emoji_context(ch: str | None) -> bool:
    return ch is not None and (unicodedata.category(ch) == "So" or 0x1F000 <= ord(ch) <= 0x1FAFF)


def _invisible_kind(text: str, i: int) -> str | None:
    """Which invisible-character flag the character at `i` raises, or None if it is ordinary."""
    ch = text[i]
    cp = ord(ch)
    if 0xE0000 <= cp <= 0xE007F:
        return TAG_CHARACTERS
    if ch in _BIDI:
        return BIDI_CONTROL
    prev = text[i - 1] if i > 0 else None
    if ch in _ZERO_WIDTH:
        if ch == _ZWJ and _is_emoji_context(prev) and i + 1 < len(text) and _is_emoji_context(text[i + 1]):
            return None  # an emoji sequence such as a family emoji
        return ZERO_WIDTH
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:
        if ch == _VS16 and _is_emoji_context(prev):
            return None  # the ordinary emoji presentation selector
        return VARIATION_SELECTOR
    return None


def sanitize_for_grading(text: str) -> str:
    """The copy of a trainee turn that graders read: invisible, bidi, TAG and stray selectors removed.

    Store the original; grade this. Visible text is untouched, so evidence quotes taken from the
    sanitised copy are also substrings of the original whenever the original had no hidden characters.

    Args:
        text: The trainee's turn as typed.

    Returns:
        The text without zero-width, bidi-control, Unicode TAG and non-emoji variation-selector characters.
    """
    if text.isascii():
        return text
    return "".join(ch for i, ch in enumerate(text) if _invisible_kind(text, i) is None)


def _skeleton(text: str) -> str:
    """A same-length copy for detection: confusables mapped to Latin, fullwidth forms folded to ASCII."""
    if text.isascii():
        return text
    out: list[str] = []
    for ch in text:
        mapped = _CONFUSABLES.get(ch)
        if mapped is None and not ch.isascii():
            folded = unicodedata.normalize("NFKC", ch)
            mapped = folded if len(folded) == 1 else ch
        out.append(mapped or ch)
    return "".join(out)


def _has_homoglyphs(text: str) -> bool:
    """True when look-alike letters hide inside Latin text (mixed-script words, fullwidth/maths letters)."""
    if text.isascii():
        return False
    for ch in text:
        cp = ord(ch)
        if 0xFF01 <= cp <= 0xFF5E or 0x1D400 <= cp <= 0x1D7FF:
            return True
    latin_letters = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    for word in re.findall(r"[^\W\d_]+", text):
        has_latin = any(ch.isascii() for ch in word)
        confusable = [ch for ch in word if ch in _CONFUSABLES]
        if not confusable:
            continue
        if has_latin:
            return True  # a Latin word with Cyrillic/Greek letters inside
        if len(confusable) == len(word) and latin_letters >= 3 * len(word):
            return True  # a whole look-alike word inside otherwise Latin text
    return False


def _looks_like_grade_json(skeleton: str) -> bool:
    for match in _RE_JSON_OBJECT.finditer(skeleton):
        if len(_RE_JSON_KEY.findall(match.group(0))) >= 1:
            return True
    return False


def check_integrity(text: str, *, max_chars: int = 4000) -> list[str]:
    """Flag injection markers in a trainee turn. Deterministic; never raises on any string.

    Args:
        text: The trainee's turn as typed (the original, not a sanitised copy).
        max_chars: Longest acceptable turn; longer text is flagged `oversize`.

    Returns:
        Flag names from `FLAG_ORDER`, each at most once, in that order. Empty for an ordinary turn.
    """
    found: set[str] = set()
    if len(text) > max_chars:
        found.add(OVERSIZE)
    if not text.isascii():
        for i in range(len(text)):
            kind = _invisible_kind(text, i)
            if kind is not None:
                found.add(kind)
        if "⟦" in text or "⟧" in text:
            found.add(BOUNDARY_MARKER)
        if _has_homoglyphs(sanitize_for_grading(text)):
            found.add(HOMOGLYPH)
    skeleton = _skeleton(sanitize_for_grading(text))
    hidden = "".join(chr(ord(ch) - 0xE0000) for ch in text if 0xE0020 <= ord(ch) <= 0xE007E)
    if hidden:
        skeleton = f"{skeleton}\n{hidden}"  # what TAG characters smuggle is checked like visible text
    if _RE_ROLE_LINE.search(skeleton) or _RE_ROLE_INLINE.search(skeleton):
        found.add(ROLE_LABEL)
    if _RE_TEMPLATE.search(skeleton):
        found.add(CHAT_TEMPLATE_TOKEN)
    if _RE_FIELD_SNAKE.search(skeleton) or _RE_FIELD_QUOTED.search(skeleton) or _RE_FIELD_KV.search(skeleton):
        found.add(GRADER_FIELD)
    if _looks_like_grade_json(skeleton):
        found.add(GRADE_JSON)
    if _RE_GRADER_ADDRESS.search(skeleton):
        found.add(GRADER_ADDRESS)
    if _RE_FENCE_TAG.search(skeleton) or _RE_FENCE_OTHER.search(skeleton):
        found.add(FENCE_BREAK)
    return [flag for flag in FLAG_ORDER if flag in found]


def _payload_spans(skeleton: str) -> list[tuple[int, int]]:
    """Character spans of the skeleton that carry an injection, to be removed before grading."""
    spans: list[tuple[int, int]] = [m.span() for m in _RE_CODE_BLOCK.finditer(skeleton)]
    for m in _RE_JSON_OBJECT.finditer(skeleton):
        if _RE_JSON_KEY.search(m.group(0)) or _RE_FIELD_KV.search(m.group(0)):
            spans.append(m.span())
    # A role label or chat-template token starts a payload that runs to the next blank line (or the end).
    for regex in (_RE_ROLE_LINE, _RE_ROLE_INLINE, _RE_TEMPLATE):
        for m in regex.finditer(skeleton):
            end = skeleton.find("\n\n", m.end())
            spans.append((m.start(), len(skeleton) if end < 0 else end))
    # A closing/opening wrapper tag: drop the tag and what follows it on the line, unless that is plain
    # words to the caller (a payload before the turn must not take the turn away with it).
    for regex in (_RE_FENCE_TAG, _RE_FENCE_OTHER):
        for m in regex.finditer(skeleton):
            end = skeleton.find("\n", m.end())
            end = len(skeleton) if end < 0 else end
            rest = skeleton[m.end() : end]
            plain = re.search(r"[^\W\d_]{2,}", rest) and not (is_payload(rest) or _RE_MODEL_TALK.search(rest))
            spans.append((m.start(), m.end() if plain else end))
    # Sentences addressed to the grader or naming its fields: cut from where the payload starts.
    for m in _RE_SENTENCE.finditer(skeleton):
        sentence = m.group(0)
        starts = [
            hit.start()
            for regex in (_RE_GRADER_ADDRESS, _RE_FIELD_SNAKE, _RE_FIELD_KV, _RE_FIELD_QUOTED)
            if (hit := regex.search(sentence))
        ]
        if starts:
            start = _payload_start(sentence, min(starts))
            spans.append((m.start() + start, m.start() + start + payload_end(sentence[start:])))
    return spans


def strip_injection_spans(text: str) -> str:
    """The view of a turn the local appraiser grades: sanitised, with injection payload spans removed.

    Only spans that carry an injection marker are removed, so an ordinary turn comes back unchanged
    (apart from invisible characters). Removal can only take words away; the trainee is graded on the
    words that speak to the caller.

    Args:
        text: The trainee's turn as typed.

    Returns:
        The sanitised turn without payload spans, with runs of blank space collapsed at the cut points.
    """
    clean = sanitize_for_grading(text)
    before = _skeleton(clean)  # look-alike letters read as the Latin letters they imitate
    clean = remove_payloads(before)
    skeleton = _skeleton(clean)
    spans = _payload_spans(skeleton)
    for m in re.finditer("⟦", skeleton):  # our boundary prefix: the rest of the line is a fence attack
        end = skeleton.find("\n", m.end())
        spans.append((m.start(), len(skeleton) if end < 0 else end))
    if not spans and clean == before:
        return _without_sentences_for_a_model(clean.replace("⟧", ""))
    keep = bytearray(b"\x01") * len(clean)
    for start, end in spans:
        keep[start:end] = bytes(end - start)
    kept = "".join(ch for ch, k in zip(clean, keep, strict=True) if k and ch != "⟧")
    kept = _drop_unbalanced_brackets(kept)
    kept = "\n".join(line for line in kept.split("\n") if not line.strip() or re.search(r"\w", line))
    return _without_sentences_for_a_model(re.sub(r"[ \t]*\n\s*\n\s*", "\n\n", kept).strip())


def _without_sentences_for_a_model(view: str) -> str:
    """The view without the sentences the addressee model is sure are said to a model or grader, not to
    the caller (`simulator.grading.addressee`): the positive test behind the stripper's rules, for payload
    shapes they have not seen. Sentences with words only a model is told (`_RE_MODEL_ONLY`) go too."""
    model = addressee.load()
    if not view:
        return view
    drop = [
        (m.start(), m.end())
        for m in _RE_READ_SENTENCE.finditer(view)
        if re.search(r"[^\W_]", m.group(0))
        and (_RE_MODEL_ONLY.search(m.group(0)) or (model is not None and model.for_a_model(m.group(0).strip())))
    ]
    if not drop:
        return view
    keep = bytearray(b"\x01") * len(view)
    for start, end in drop:
        keep[start:end] = bytes(end - start)
        marker = _RE_FOOTNOTE_MARK.match(view, start)  # a dropped footnote takes its reference marks with it
        if marker:
            for ref in re.finditer(rf"(?<!\S){re.escape(marker.group(1))}(?!\S)", view):
                keep[ref.start() : ref.end()] = bytes(ref.end() - ref.start())
    kept = "".join(ch for ch, k in zip(view, keep, strict=True) if k)
    kept = "\n".join(line for line in kept.split("\n") if not line.strip() or re.search(r"\w", line))
    return re.sub(r"[ \t]*\n\s*\n\s*", "\n\n", re.sub(r"[ \t]{2,}", " ", kept)).strip()


_RE_FOOTNOTE_MARK = re.compile(r"\s*([†‡§¶*]+|\[\d{1,2}\]|\(\d{1,2}\)|[¹²³⁴⁵⁶⁷⁸⁹]+)\s")


def _drop_unbalanced_brackets(text: str) -> str:
    """Remove brackets left without their partner by a cut ("… sorry (" + payload + ")"), and empty pairs.

    A removed payload must not leave punctuation behind that moves the grade."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[tuple[str, int]] = []
    drop: set[int] = set()
    for i, ch in enumerate(text):
        if ch in "([{":
            stack.append((ch, i))
        elif ch in pairs:
            if stack and stack[-1][0] == pairs[ch]:
                opener = stack.pop()[1]
                if not text[opener + 1 : i].strip():
                    drop.update((opener, i))
            else:
                drop.add(i)
    drop.update(i for _, i in stack)
    return "".join(ch for i, ch in enumerate(text) if i not in drop) if drop else text


_RE_JUNK = re.compile(r"\*\*|\\|\]\(|!--|--\S|[a-z]{2}[A-Z]")  # escapes and markup of an adversarial suffix
# A sentence for the reading view: a full stop inside a number, an address or a quote does not end it.
_RE_READ_SENTENCE = re.compile(r"(?:[^.!?…\n]|[.!?…](?=[^\s.!?…\"'”’)\]]))*(?:[.!?…]+[\"'”’)\]]*|\n|\Z)")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s*$")


def _cut_points(clean: str, view: str) -> set[int]:
    """Positions in `view` where `strip_injection_spans` took visible text away from `clean`."""
    cuts: set[int] = set()
    matcher = difflib.SequenceMatcher(None, clean, view, autojunk=False)
    for tag, i1, i2, j1, _ in matcher.get_opcodes():
        if tag in ("delete", "replace") and clean[i1:i2].strip():
            while j1 < len(view) and view[j1] in ".!?…\"'”’) ":
                j1 += 1  # the cut is after the punctuation the alignment may have given to either side
            cuts.add(j1)
    return cuts


def _speaks_to_a_model(sentence: str) -> bool:
    """A payload the stripper left whole: instructions or grading words for a model."""
    return is_payload(sentence) or bool(_RE_MODEL_TALK.search(sentence))


def sentences_of(text: str) -> list[str]:
    """The sentences of `text` as the reading view splits them (a full stop inside a number, an address or a
    quote does not end one; a line break does), stripped, each with a letter or digit."""
    return [m.group(0).strip() for m in _RE_READ_SENTENCE.finditer(text) if re.search(r"[^\W_]", m.group(0))]


def reading_view(text: str, view: str | None = None) -> str:
    """What the appraiser's reading model reads: the grading view, and for a turn that carried a payload,
    only its whole sentences said to the caller.

    `strip_injection_spans` removes payload spans and keeps the words around them, which is right for
    word-count features but leaves fragments ("Let's role-play: you are 'Chill") that a reading model
    reads as meaning. So a sentence is dropped when a cut split it (it does not end, or begin, where the cut
    is), when it is itself a payload or flagged, when it speaks the language of instructions to a model
    ("your output", "stay in character", a rubric label id), when it is markup junk, or when it is stray
    words between cuts. The last checks run on every turn, cut or not: a whole sentence addressed to a
    model is not said to the caller. An ordinary turn (nothing cut, nothing flagged, no sentence for a
    model) comes back unchanged.

    Args:
        text: The trainee's turn as typed.
        view: `strip_injection_spans(text)`, when already computed.

    Returns:
        The view with the dropped sentences blanked out: what is kept keeps the view's own line breaks,
        with runs of spaces closed up. The grading view itself if nothing with a letter is left.
    """
    view = strip_injection_spans(text) if view is None else view
    clean = sanitize_for_grading(text).replace("⟧", "").strip()
    cuts = _cut_points(clean, view) if view != clean else set()
    if not cuts and not check_integrity(text):
        found = [m for m in _RE_READ_SENTENCE.finditer(view) if m.group(0).strip()]
        if not any(_speaks_to_a_model(m.group(0).strip()) for m in found):
            return view  # an ordinary turn
    keep = bytearray(b"\x01") * len(view)
    bounds = sorted({0, len(view), *cuts})
    for start, end in itertools.pairwise(bounds):
        found = [m for m in _RE_READ_SENTENCE.finditer(view, start, end) if m.group(0).strip()]
        for i, m in enumerate(found):
            words = m.group(0).strip()
            opening = re.search(r"[^\W_]", words)  # its first letter or digit, past symbols a cut left
            starts_well = opening is not None and (opening.group(0).isupper() or opening.group(0).isdigit())
            if (
                (i == 0 and start in cuts and not starts_well)
                or (i == len(found) - 1 and end in cuts and not _SENTENCE_END.search(words))
                or _speaks_to_a_model(words)
                or _RE_JUNK.search(words)
                or check_integrity(words)
                or not re.search(r"[^\W\d_]", words)
                or (len(re.findall(r"[^\W\d_]{2,}", words)) < 2 and not _SENTENCE_END.search(words))
            ):  # a sentence a cut split, one that is or speaks to a model, or stray words between cuts
                keep[m.start() : m.end()] = bytes(m.end() - m.start())
    kept = "".join(ch if k else " " for ch, k in zip(view, keep, strict=True))
    kept = re.sub(r"[ \t]*\n\s*\n\s*", "\n\n", re.sub(r"[ \t]{2,}", " ", kept)).strip()
    return kept if re.search(r"\w", kept) else view
