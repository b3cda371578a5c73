"""SQuAD-style reading-comprehension JSON (SQuAD 1.1/2.0, KorQuAD 1.0, ...) -> one document per context.

Layout read::

    {"version": "...",
     "data": [{"title": "...",
               "paragraphs": [{"context": "...",
                               "qas": [{"id": "...", "question": "...",
                                        "answers": [{"text": "...", "answer_start": 12}],
                                        "is_impossible": false}]}]}]}

A document is the context followed by its question/answer pairs::

    <context>

    Q: <question 1>
    A: <answer 1>

    Q: <question 2>
    A: <answer 2>

Why the pairs and not the context alone: the contexts are usually Wikipedia paragraphs that a
corpus already has from elsewhere (and dedup will find them); what a reading-comprehension set adds
for pretraining is the questions and their grounded answers next to the passage they refer to.
Users who want bare contexts can drop everything after the first blank line with a mapper, while
the pairs could not be recovered from bare contexts.

The first answer of a question is used (dev sets list several annotators' answers, the first is the
reference). Unanswerable questions (SQuAD 2.0 ``is_impossible``, or no answer text) are left out of
the text, since a question with no answer is not natural text, and counted in ``meta.unanswerable``.

The file is streamed article by article with an incremental decoder, so memory holds one article,
not the file (SQuAD 2.0 train is 40 MB, other sets are larger); an article over ``max_record_bytes``
is quarantined. ``version`` may come after ``data`` (SQuAD does this): then the file is read twice,
once to find the version and once to emit documents.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Iterator

from curate.ingest.base import Bad, Doc, Item, ReadContext
from curate.io.compression import OpenedInput

READ_CHARS = 1 << 20
_NON_WS = re.compile(r"[^ \t\r\n]")
_DECODER = json.JSONDecoder()


class _JsonError(ValueError):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class _JsonStream:
    """A cursor over a JSON text read incrementally; values are decoded one at a time."""

    def __init__(self, stream, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf = ""
        self.pos = 0
        self.dropped = 0  # characters discarded from the front of buf (for error offsets)
        self.eof = False

    @property
    def offset(self) -> int:
        return self.dropped + self.pos

    def fill(self) -> bool:
        if self.eof:
            return False
        if self.pos > READ_CHARS:  # forget what was parsed so memory holds one value
            self.dropped += self.pos
            self.buf = self.buf[self.pos:]
            self.pos = 0
        chunk = self.stream.read(READ_CHARS)
        if not chunk:
            self.buf += self.utf8.decode(b"", final=True)
            self.eof = True
            return False
        self.buf += self.utf8.decode(chunk)
        return True

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end of the file); the cursor moves onto it."""
        while True:
            m = _NON_WS.search(self.buf, self.pos)
            if m:
                self.pos = m.start()
                return self.buf[self.pos]
            self.pos = len(self.buf)
            if not self.fill():
                return ""

    def expect(self, chars: str, where: str) -> str:
        c = self.peek()
        if not c:
            raise _JsonError("malformed_json", f"the file ends inside {where} (truncated?)")
        if c not in chars:
            raise _JsonError("malformed_json", f"expected {' or '.join(repr(x) for x in chars)} in {where} at "
                             f"character {self.offset:,}, found {c!r}")
        self.pos += 1
        return c

    def value(self, what: str) -> tuple[object, int]:
        """Decode the next value; return it with its length in characters."""
        if not self.peek():
            raise _JsonError("malformed_json", f"the file ends before {what} (truncated?)")
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.buf, self.pos)
                if end < len(self.buf) or self.eof:  # a number at the buffer's end may go on
                    start, self.pos = self.pos, end
                    return obj, end - start
            except json.JSONDecodeError as exc:
                # An error at the end of what is buffered (or an open string) may only mean "read more";
                # one further back is a real syntax error.
                incomplete = exc.msg.startswith("Unterminated") or exc.pos >= len(self.buf) - 32
                if not incomplete or self.eof:
                    raise _JsonError("malformed_json", f"{what} at character {self.offset:,}: {exc.msg} at "
                                     f"character {self.dropped + exc.pos:,}"
                                     + (" (the file ends inside it: truncated?)" if incomplete else "")) from None
                if len(self.buf) - self.pos > self.limit:
                    raise _JsonError("record_too_large", f"{what} is over the {self.limit:,}-byte limit "
                                     "(--max-record-mb); its end cannot be found without reading it whole") from None
            self.fill()


def _events(js: _JsonStream) -> Iterator[tuple]:
    """Yield ``("key", name, value)`` for top-level members and ``("article", index, obj)`` for
    each element of the top-level ``data`` array (``("too_large", index, chars)`` for one over the
    limit), in file order."""
    if js.peek() == "\ufeff":
        js.pos += 1
    js.expect("{", "the top level (a SQuAD file is one JSON object)")
    if js.peek() == "}":
        js.pos += 1
        return
    while True:
        key, _ = js.value("a top-level key")
        if not isinstance(key, str):
            raise _JsonError("malformed_json", f"top-level key at character {js.offset:,} is not a string")
        js.expect(":", f"top-level member {key!r}")
        if key == "data":
            js.expect("[", "the value of \"data\" (a SQuAD file's data is an array of articles)")
            index = 0
            if js.peek() == "]":
                js.pos += 1
            else:
                while True:
                    article, size = js.value(f"article {index}")
                    if size > js.limit:  # decoded (so its end is known) but too large: skip just this one
                        yield ("too_large", index, size)
                    else:
                        yield ("article", index, article)
                    index += 1
                    if js.expect(",]", "the data array") == "]":
                        break
        else:
            yield ("key", key, js.value(f"the value of {key!r}")[0])
        if js.expect(",}", "the top-level object") == "}":
            return


def _find_version(ctx: ReadContext) -> object:
    """Scan the file for the top-level ``version`` (stops as soon as it is seen).

    Opens its own stream so the runner's progress accounting (``ctx.opened``) keeps following the
    emitting pass.
    """
    try:
        with OpenedInput(ctx.path, ctx.compression) as opened:
            for event in _events(_JsonStream(opened.stream, ctx.options.max_record_bytes)):
                if event[0] == "key" and event[1] == "version":
                    return event[2]
    except Exception:  # malformed JSON, bad UTF-8, broken stream: the emitting pass reports it
        pass
    return None


def _paragraph(article: dict, paragraph: object, a: int, p: int, version: object, position: int) -> Doc | Bad:
    where = f"article {a} paragraph {p}"
    if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
        return Bad("malformed_record", f"{where}: not an object with a string \"context\"", position, None)
    qas = paragraph.get("qas") or []
    if not isinstance(qas, list):
        return Bad("malformed_record", f"{where}: \"qas\" is not a list", position, None)
    pairs: list[str] = []
    qa_ids: list = []
    unanswerable = 0
    for k, qa in enumerate(qas):
        if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
            return Bad("malformed_record", f"{where}: question {k} has no string \"question\"", position, None)
        qa_ids.append(qa.get("id"))
        answers = qa.get("answers") if isinstance(qa.get("answers"), list) else []
        texts = [x["text"] for x in answers
                 if isinstance(x, dict) and isinstance(x.get("text"), str) and x["text"].strip()]
        if qa.get("is_impossible") or not texts:
            unanswerable += 1
            continue
        question = " ".join(qa["question"].split())
        answer = " ".join(texts[0].split())
        pairs.append(f"Q: {question}\nA: {answer}")
    context = paragraph["context"].strip()
    text = "\n\n".join([context, *pairs]) if context else "\n\n".join(pairs)
    title = article.get("title")
    meta = {"article_index": a, "paragraph_index": p, "qa_ids": qa_ids, "qa_count": len(qa_ids),
            "unanswerable": unanswerable, "version": version}
    return Doc(text=text, title=title if isinstance(title, str) else None, meta=meta, position=position)


def read_squad(ctx: ReadContext) -> Iterator[Item]:
    """One document per paragraph (context + its Q/A pairs); see the module docstring."""
    version = None
    version_known = False
    position = 0
    with ctx.open() as opened:
        js = _JsonStream(opened.stream, ctx.options.max_record_bytes)
        try:
            for event in _events(js):
                if event[0] == "key":
                    if event[1] == "version":
                        version, version_known = event[2], True
                    continue
                if event[0] == "too_large":
                    yield Bad("record_too_large", f"article {event[1]} is {event[2]:,} characters, over the "
                              f"{ctx.options.max_record_bytes:,}-byte limit (--max-record-mb)", position, None)
                    position += 1
                    continue
                _, a, article = event
                if not version_known:  # "data" before "version": look ahead once, then go on
                    version, version_known = _find_version(ctx), True
                if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
                    yield Bad("malformed_record", f"article {a}: not an object with a \"paragraphs\" list",
                              position, None)
                    position += 1
                    continue
                for p, paragraph in enumerate(article["paragraphs"]):
                    yield _paragraph(article, paragraph, a, p, version, position)
                    position += 1
        except _JsonError as exc:
            yield Bad(exc.error_type, f"{exc}; {position:,} paragraphs before it were read, the rest of the file "
                      "could not be", None, None)
        except UnicodeDecodeError as exc:
            yield Bad("invalid_utf8", f"invalid UTF-8 after character {js.offset:,} ({exc.reason}); "
                      f"{position:,} paragraphs before it were read, the rest of the file could not be", None, None)
