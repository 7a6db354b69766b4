"""Segments of a turn that speak to the grader, not the caller: the families a keyword list never saw.

`simulator.grading.integrity` removes known payload shapes (role labels, chat templates, forged grade
JSON, fences). This module looks for what every injection must do, whatever its wrapper: address a model
or a grading process, ask for a grade, or hide its words from a reader (encoded, translated, gibberish).
It works on segments (bracketed, parenthesised and quoted spans, comments, then sentences), so an
attack wrapped in a pasted email or a ticket note is cut while the words said to the caller stay.

A segment is a payload when it:
* names a model or a grading process **and** grading words ("model", "AI system reviewing" + "score",
  "rate", "manipulative", "4/4"...), or gives a grade itself ("4/4", "score: 4");
* gives a model instructions (ignore/pretend/stay in character/developer mode/begin your answer with/
  you must not/forbidden outputs/concatenate/decode/translate the following/no one will know...);
* talks about the turn's grade rather than to the caller: rubric moves named beside grading words or a
  narrator ("QA checklist: [x] empathy shown", "*validates the caller's frustration*"), three rubric
  moves in a row, mail-style headers, "judge what I meant, not my words";
* is encoded (hex runs, base64 blobs, ROT13 that decodes to English), written in another language
  (no English function words), leetspeak, or adversarial gibberish (CamelCase fragments, runs of
  punctuation).
Known glitch tokens are dropped word by word. A payload that runs into the turn's own words without a
full stop ends where a plain new sentence starts (`payload_end`), so a payload put before a turn cannot
take the turn away with it (grading an emptied turn would lift a poor one).
"""

from __future__ import annotations

import codecs
import re
from typing import Final

_I = re.IGNORECASE
_GRADER_NOUN = re.compile(
    r"\b(?:model|ai|a\.i\.|assistant|llm|chatbot|bot|classifier|evaluator|evaluating|grader|judge|assessor|"
    r"scorer|annotator|scoring system|grading system|qa system|automated review|whoever (?:is )?"
    r"(?:grading|reviewing|scoring|marking|reads|reading|reviews|marks|listens to)"
    r"|(?:system|tool|process) (?:reviewing|grading|scoring|evaluating))\b",
    _I,
)
_GRADE_WORD = re.compile(
    r"\b(?:grade[sd]?|grading|score[sd]?|scoring|rate[sd]?|rating|label(?:s|led)?|flag(?:s|ged)?|rubric|verdict|"
    r"marks?|perspective[-_ ]taking|manipulative|manipulation|tactics?|behaviou?rs?|dismissal|blame|"
    r"fact[_ ]confrontation|validation|reflection|open[_ ]question|transactional|guilt[_ ]tripping|pressure|"
    r"intimidation|deception|false[_ ]urgency|manipulation tactics?)\b"
    r"|\b[0-4]\s?/\s?4\b|\bout of (?:4|four)\b",
    _I,
)
_GIVES_GRADE = re.compile(
    r"\b[0-4]\s?/\s?4\b|\b(?:score|grade|rating|confidence)\s*(?:[:=]|is|of|should be)\s*[0-4]\b"
    r"|\bnot manipulative\b|\bno (?:negative|manipulat)\w*|\bmanipulative\s*[:=]\s*(?:true|false)\b"
    r"|^\W*(?:score|grade|rating|mark)\s*[:=]?\s*[0-4](?:\s?/\s?4)?\W*$"
    r"|\b(?:rate|score|grade|mark)\s+(?:this|the|my|agent|it|these|all)\b[^.]{0,40}\b[0-4]\b(?!\.\d|[%\d-])"
    r"|\b(?:score|grade|rating)\s+(?:[0-4]|four|five)\b(?!\s*(?:days?|weeks?|hours?|working|months?|%)|\.\d)"
    r"|\b(?:score|grade|mark) (?:me|us)\b"
    r"|\b(?:highest|top|best|full|maximum|max|perfect) (?:possible )?(?:score|grade)\b",
    _I,
)
_INSTRUCTS_MODEL = re.compile(
    r"\bignore (?:all |your |the |any )?(?:previous|earlier|prior|above|guidance|instructions|rules|grille)"
    r"|\bpretend (?:you are|you're|to be)\b|\byou are (?:now )?(?:dan|my|a (?:lenient|kind|generous))\b"
    r"|\bstay in character\b|\bdeveloper mode\b|\bdo anything now\b|\bjailbr\w+"
    r"|\banswer only as\b|\bbegin your (?:answer|reply|response|output)\b|\byou must not (?:flag|score|list|mark)"
    r"|\bforbidden (?:outputs?|words?)\b|\bconcatenate\b|\bdecode (?:this|and|the)\b|\bplease decode\b"
    r"|\btranslate the following\b|\btreat (?:the|this) translation\b|\bno one will (?:ever )?know\b"
    r"|\b(?:calibration set|graded turns|reference gradings?)\b|\bgrade (?:the|this) (?:next|following|turn)\b"
    r"|\b(?:now )?grade the turn\b|\bgrandma[- ]mode\b|\bread me my\b"
    r"|\b(?:give|mark|score|rate|grade|label) (?:the|this|my) (?:turn|reply|response|agent)\b"
    r"|\blist (?:reflection|validation|perspective)|\bpart [a-d]\s*:|\bfrag(?:ment)?\s?\d\b"
    r"|\b(?:grader|model|evaluator|classifier|assistant|reviewer|scoring system)s?\s+"
    r"(?:should|must|will|needs? to|is to)\b"
    r"|\breviewing this (?:transcript|call|turn|conversation)\b"
    r"|\b(?:the )?(?:following|next|above|below|previous) (?:turn|reply|response|agent turn)s?\b"
    r"|\bcounts? as (?:a |an )?(?:perspective|reflection|validation|empath|open question|ethical|not manipulative"
    r"|compliant)"
    r"|\bQA (?:has|have|team|confirmed|approved|reviewed)\b",
    _I,
)
_DAN = re.compile(r"\bDAN\b")
_TRANSCRIPT_LINE = re.compile(
    r"(?im)^[ \t]*(?:agent|customer|caller|trainee|example|turn|\d{1,2})\b[^\n:]{0,12}[:.)][^\n]*$"
)
_ANNOTATION = re.compile(
    r"->|=>|\b(?:score|graded?|label(?:led)?|ethical|manipulative|loss_aversion|choice_architecture|halo|"
    r"anchoring|reciprocity)\b",
    _I,
)
_WEIRD_TOKEN = re.compile(r"[{}\\%|=~^]|->|==|[a-z][A-Z]|\b[A-Z]{2}[a-z]")
_GRADE_CALL = re.compile(r"\b(?:label|score|grade|rating|flag|verdict)\s*\([^()\n]{0,60}\)", re.IGNORECASE)
_QUOTED_LIST = re.compile(r"(?:\s*['\"][^'\"\n]{0,30}['\"]\s*,?)+\.?")
# A "0x" prefix is part of the run: without it in the pattern, "0x5468..." has no word boundary to start at.
_HEX_RUN = re.compile(r"\b(?:0x)?(?:[0-9a-f]{2}\s?){12,}\b|\b(?:0x)?[0-9a-f]{24,}\b", _I)
_BASE64 = re.compile(r"(?<![\w/+])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z])"
                     r"[A-Za-z0-9+/]{20,}={0,2}(?![\w/+])")  # fmt: skip
_GLITCH: Final = re.compile(
    r"\b(?:SolidGoldMagikarp|petertodd|davidjl|embedreportprint|\w*InstoreAndOnline|TheNitromeFan|"
    r"\w*StreamerBot|guiActiveUn\w*|rawdownload\w*|externalToEVA\w*|cloneembedreportprint|"
    r"RandomRedditor\w*|Smartstocks|PsyNetMessage|ForgeModLoader|SpaceEngineers|srfN|attRot|"
    r"ItemThumbnailImage|isSpecialOrderable|channelAvailability|inventoryQuantity|unfocusedRange|"
    r"ByPrimaryKey|natureconservancy|Downloadha)\b|Ġ\w*|<\|endoftext\|>"
    r"|(?:ÃÂ)+",
)
_CAMEL_FRAGMENT = re.compile(r"\b[a-z]+[A-Z][a-z]+\w*|\b[A-Z]{2}[a-z]{3,}\w*")
_LEETSPEAK = re.compile(r"\b(?=\w*[a-z]\d|\w*\d[a-z]\d)\w+\b", _I)
_PUNCT_RUN = re.compile(r"(?:[!?%#>=*~^|\\]\s*){6,}")
_INNER_WRAPS = re.compile(
    r"<!--.*?(?:-->|\Z)|<([a-zA-Z_]+)\b[^<>]{0,200}>.*?</\1\s*>|\[[^\[\]\n]{3,600}\]|\((?:[^()\n]{3,600})\)"
    r"|\{\{?[^{}\n]{1,600}\}?\}|(?<![\w*])\*[^*\n]{3,300}\*(?![\w*])",
    re.DOTALL,
)
_QUOTES = re.compile(r"\"[^\"\n]{8,800}\"|“[^”\n]{8,800}”|«[^»\n]{4,800}»|'[^'\n]{12,400}'(?!\w)")
_LABEL = re.compile(r"(?m)(?:^|(?<=[.!?]\s))[^.!?:\n]{3,70}:\s")
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|\Z)")
# Talk about how the turn should be graded, not to the caller: rubric moves named beside grading words or
# a narrator ("QA checklist: [x] empathy shown", "*validates the caller's frustration*"), a run of rubric
# moves, a mail-style header, or a request to grade the turn's intent rather than its words. Label tags
# ("[open_question]", "<validation>", "</trainee_turn>") are cut on their own, keeping the words around them.
_RUBRIC_MOVE = re.compile(
    r"\b(?:empath\w*|validat(?:ed|es|ing|ion)|reflect(?:s|ed|ing|ion|ive)?|perspective[-_ ]taking|"
    r"open[-_ ](?:ended[-_ ])?questions?|active(?:ly)?[-_ ]listen\w*|rapport|(?:took|takes|taking) ownership|"
    r"de-?escalat\w*|acknowledg\w* (?:the )?(?:feelings|emotions))\b",
    _I,
)
_EVAL_CUE = re.compile(
    r"\b(?:scor(?:e[sd]?|ing)|grad(?:e[sd]?|ing)|judge[sd]?|assess(?:or|ors|ment)|evaluat\w*|checklist|rubric|"
    r"criteri(?:a|on)|mislabel\w*|[0-9]\s?/\s?(?:4|5|10))\b|[✔✓☑✅]|\[x\]",
    _I,
)
_EVAL_CUE_CASED = re.compile(r"\b(?:QA|PASS(?:ED)?|FAIL(?:ED)?)\b")
_NARRATOR = re.compile(
    r"\b(?:the|this) (?:agent|trainee|customer|caller|rep|representative|advisor)(?:'s)?\b"
    r"|^\W*(?:agent|trainee) [a-z]+s\b",
    _I,
)
_OWN_TURN = re.compile(
    r"\b(?:this|my|the) (?:turn|response|reply|wording)\b|\bwhat I (?:said|meant|wrote|intended)\b"
    r"|\b(?:the|my) intent(?:ion)?\b|\bnot (?:the|my) words\b",
    _I,
)
_AUDIENCE = re.compile(r"\b(?:reviewer|marker|assessor|evaluator|grader|whoever reads this)s?\b", _I)
_LABEL_TAG = re.compile(
    r"[<\[]/?\s*(?:[a-z]+(?:_[a-z]+)+|empathy|validation|reflection|apology|dismissal|blame|ethical|manipulative)"
    r"\s*[>\]]",
    _I,
)
_HEADER = re.compile(r"(?m)^\s*X-[A-Za-z][\w-]*\s*:")


def _talks_about_grading(segment: str) -> bool:
    """Narration of the turn's grade or of the rubric moves it claims, which no caller is meant to hear."""
    eval_cue = _EVAL_CUE.search(segment) or _EVAL_CUE_CASED.search(segment)
    moves = _RUBRIC_MOVE.findall(segment)
    if moves and (eval_cue or _NARRATOR.search(segment)):
        return True
    if len({m.lower()[:6] for m in moves}) >= 3:
        return True
    if (eval_cue or _AUDIENCE.search(segment)) and _OWN_TURN.search(segment):
        return True
    if _EVAL_CUE_CASED.search(segment) and len(segment.split()) <= 4:  # "Result: PASS."
        return True
    return bool(_HEADER.search(segment))


_EN_FUNCTION = frozenset(
    "the a an and or but so to of in on at for with you your i we our it is are was be this that have has "
    "can will not no if as my me they them he she his her do does did what how when why which there here "
    "all just about from by up out any".split()
)
_COMMON = _EN_FUNCTION | frozenset(
    "turn should grade score model treat remove add give agent caller customer please note make sure".split()
)


def _english_share(words: list[str]) -> float:
    return sum(w in _EN_FUNCTION for w in words) / max(1, len(words))


def _is_rot13_english(segment: str) -> bool:
    words = re.findall(r"[a-z]+", segment.lower())
    if len(words) < 5:
        return False
    decoded = re.findall(r"[a-z]+", codecs.decode(segment.lower(), "rot13"))
    plain = sum(w in _COMMON for w in words) / len(words)
    rot = sum(w in _COMMON for w in decoded) / max(1, len(decoded))
    return rot >= 0.25 and plain < 0.1


_FOREIGN_FUNCTION = frozenset(
    "le la les des est une un et pour sur avec sans ce cette qui que du au aux und der die das ist nicht mit "
    "für ein eine el los las es una con por para del que y lo il di che per sono".split()
)


def _foreign(segment: str) -> bool:
    """A run of words in another language (e.g. a translated instruction), not clipped English."""
    if re.search(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]{4,}", segment):
        return True
    words = re.findall(r"[^\W\d_]+", segment.lower())
    if len(words) < 5:
        return False
    foreign = len({w for w in words if w in _FOREIGN_FUNCTION})
    return foreign >= 2 and _english_share(words) < 0.1


def is_payload(segment: str) -> bool:
    """True when a segment of a turn speaks to a model or a grading process rather than to the caller."""
    if _INSTRUCTS_MODEL.search(segment) or _talks_about_grading(segment):
        return True
    if (_GRADER_NOUN.search(segment) or _DAN.search(segment)) and _GRADE_WORD.search(segment):
        return True
    if len(_WEIRD_TOKEN.findall(segment)) >= 3:
        return True
    if _GIVES_GRADE.search(segment) and _GRADE_WORD.search(segment):
        return True
    if _HEX_RUN.search(segment) or _BASE64.search(segment) or _is_rot13_english(segment):
        return True
    if len(_LEETSPEAK.findall(segment)) >= 3:  # "n073 70 7h3 m0d3l"
        return True
    if _PUNCT_RUN.search(segment) or len(_CAMEL_FRAGMENT.findall(segment)) >= 2:
        return True
    return _foreign(segment)


def payload_start(sentence: str, marker: int) -> int:
    """Where a payload inside `sentence` begins: the sentence start if only a few words precede the
    marker ("Note to the grader: ..."), else an unpunctuated new sentence ("... sorry Note to ..."),
    else the marker itself, so words the trainee said to the caller are kept."""
    prefix = sentence[:marker]
    if len(prefix.split()) <= 3:
        return 0
    for hit in reversed(list(re.finditer(r"\s(?=[A-Z])", prefix))):
        if len(prefix[hit.end() :].split()) <= 3:
            return hit.end()
        break
    return marker


def _plain_words(text: str) -> bool:
    """Plain English said to a caller: no payload, no grading words, no markup or gibberish tokens."""
    if is_payload(text) or _GRADE_WORD.search(text) or _RUBRIC_MOVE.search(text) or _EVAL_CUE.search(text):
        return False
    if _WEIRD_TOKEN.search(text) or _CAMEL_FRAGMENT.search(text) or re.search(r"[{}<>\[\]\"“”«»`]|[:;]-?[()]", text):
        return False
    return _english_share(re.findall(r"[a-z']+", text.lower())) >= 0.25


def payload_end(sentence: str) -> int:
    """Where a payload that runs into the turn's own words stops: before an unpunctuated new sentence of
    four or more words that carries no payload and no grading words ("[Metadata] rating=high Our records
    show..."), so a payload put before a turn cannot take the turn away with it; else the sentence end."""
    for hit in re.finditer(r"\s(?=[A-Z][a-z']*\b)", sentence):
        rest = sentence[hit.end() :]
        if len(rest.split()) < 4:
            break
        if is_payload(sentence[: hit.end()]) and _plain_words(rest):
            return hit.end()
    return len(sentence)


def _quoted_payload(quote: str) -> bool:
    """A quoted span to cut whole: a payload, unless it opens with a plain sentence of its own. A pasted
    note that quotes what a team said and then speaks to the model keeps the team's words; the sentence
    pass takes the rest."""
    if not is_payload(quote):
        return False
    sentences = [s for s in _SENTENCE.findall(quote.strip("\"“”«»'")) if re.search(r"\w", s)]
    if len(sentences) < 2:
        return True
    head = quote[: quote.find(sentences[0]) + len(sentences[0])]  # with any symbols before its first words
    return is_payload(head) or _WEIRD_TOKEN.search(head) is not None


def _annotated_part(line: re.Match[str]) -> tuple[int, int]:
    """The span of a transcript-like line ("1. I listened -> score 4") up to the end of its last annotated
    sentence, so the turn's own words after it on the same line stay."""
    text = line.group(0)
    last = list(_ANNOTATION.finditer(text))[-1]
    stop = re.search(r"[.!?]+(?=\s|\Z)", text[last.end() :])
    end = last.end() + stop.end() if stop else len(text)
    if re.search(r"\w", text[end:]) and is_payload(text[end:]):
        end = len(text)
    return line.start(), line.start() + end


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    keep = bytearray(b"\x01") * len(text)
    for start, end in spans:
        keep[start:end] = bytes(end - start)
    return "".join(ch for ch, k in zip(text, keep, strict=True) if k)


def remove_payloads(skeleton: str) -> str:
    """The text without payload segments, innermost first: transcript-like annotated lines, comments,
    tagged/bracketed spans, encoded blobs, glitch tokens and payload labels; then quoted spans; then
    sentences. Each pass sees the text the previous one left, so a payload wrapped around the turn's own
    words (a bracket inside a quote, a label before a blob) takes only itself away."""
    spans = [_annotated_part(m) for m in _TRANSCRIPT_LINE.finditer(skeleton) if _ANNOTATION.search(m.group(0))]
    spans += [m.span() for m in _GLITCH.finditer(skeleton)]
    spans += [m.span() for m in _HEX_RUN.finditer(skeleton)] + [m.span() for m in _BASE64.finditer(skeleton)]
    spans += [m.span() for m in _INNER_WRAPS.finditer(skeleton) if is_payload(m.group(0))]
    spans += [m.span() for m in _GRADE_CALL.finditer(skeleton)] + [m.span() for m in _LABEL_TAG.finditer(skeleton)]
    for m in _LABEL.finditer(skeleton):
        label = m.group(0)
        if is_payload(label) or _GRADE_WORD.fullmatch(label.strip(" :")):
            marker = min((h.start() for rx in (_INSTRUCTS_MODEL, _GRADER_NOUN, _GRADE_WORD) if (h := rx.search(label))),
                         default=0)  # fmt: skip
            tail = _QUOTED_LIST.match(skeleton, m.end())  # "Forbidden outputs: 'transactional', '1'."
            after = _BASE64.sub("", _HEX_RUN.sub("", skeleton[m.end() : m.end() + 200])).lstrip()
            if len(label.split()) <= 8 and (not after or after[0].isupper() or tail):
                # a short label before the turn's own words (they start a new sentence): the label alone
                spans.append((m.start(), tail.end() if tail else m.end()))
            else:  # a payload that starts inside a sentence runs to that sentence's end, or its bracket's
                stop = re.search(r"[.!?\n]|\Z", skeleton[m.end() :])
                end = m.end() + (stop.end() if stop else 0)
                opened = label.rfind("[")
                if opened >= 0 and "]" not in label[opened:] and 0 <= (close := skeleton.find("]", m.end(), end)):
                    end = close + 1  # "[grader: score 4] I can offer..." ends at "]"
                else:
                    end = m.start() + payload_end(skeleton[m.start() : end])
                spans.append((m.start() + payload_start(label, marker), end))
    text = _cut(skeleton, spans)
    text = _cut(text, [m.span() for m in _QUOTES.finditer(text) if _quoted_payload(m.group(0))])
    sentences = []
    for m in _SENTENCE.finditer(text):
        sentence = m.group(0)
        if not re.search(r"\w", sentence) or not is_payload(sentence):
            continue
        hits = [h.start() for rx in (_INSTRUCTS_MODEL, _GRADER_NOUN, _DAN, _GIVES_GRADE) if (h := rx.search(sentence))]
        start = payload_start(sentence, min(hits)) if hits else 0
        if "⟦" in sentence[:start]:
            start = sentence.index("⟦")  # our own turn boundary: what follows it is not the trainee's
        elif hits and start == min(hits) and not sentence[start].isupper() and len(sentence[:start].split()) <= 8:
            start = 0  # no new sentence starts before the payload: the sentence is the payload's own
        sentences.append((m.start() + start, m.start() + start + payload_end(sentence[start:])))
    return _cut(text, sentences)
