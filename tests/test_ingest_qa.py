"""Q&A ingest: StackExchange Posts.xml threads, the HTML-to-text rules, SQuAD-style JSON.

Only the repo's sample_data is used (sample_data/qa/...); damaged inputs are made in tmp_path.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from pathlib import Path

import pytest

from curate.errors import CurateError
from curate.ingest.readers.html_text import html_to_text
from curate.ingest.readers.stackexchange import parse_tags, site_from_path
from curate.ingest.runner import ingest

from ingest_util import check_accounting, docs, manifest, quarantine

REPO_ROOT = Path(__file__).resolve().parents[1]
COFFEE = REPO_ROOT / "sample_data" / "qa" / "coffee.stackexchange.com" / "Posts.xml"
SQUAD = REPO_ROOT / "sample_data" / "qa" / "squad" / "korean_news_squad.json"
META_KEYS = {"post_id", "score", "answer_count", "accepted_answer_id", "answer_ids", "tags", "view_count", "site",
             "license"}


def _meta(doc: dict) -> dict:
    return json.loads(doc["meta"])


@pytest.fixture(scope="module")
def coffee(tmp_path_factory) -> tuple[Path, dict, list[dict]]:
    out = tmp_path_factory.mktemp("coffee") / "out"
    job = ingest([str(COFFEE)], source="qa", out=out, progress=False)
    return out, job, docs(out)


# --------------------------------------------------------------------------- StackExchange threads

def test_coffee_one_document_per_question(coffee):
    out, job, rows = coffee
    assert job["inputs"][0]["format"] == "stackexchange"  # --format auto
    assert job["counts"] == {"read": 225, "written": 225, "quarantined": 0}
    assert job["skipped"] == {"post_type_4": 20, "post_type_5": 20}  # tag wiki excerpts and tag wikis
    check_accounting(out)
    assert len(rows) == 225 and len({r["id"] for r in rows}) == 225
    first = min(rows, key=lambda r: r["position"])
    assert first["position"] == 0 and first["title"] == "How should I store whole bean coffee?"
    assert first["url"] == "https://coffee.stackexchange.com/questions/1"
    assert first["created"].isoformat().startswith("2015-01-27T20:09:32.720")
    assert first["text"].startswith("How should I store whole bean coffee?\n\nI just got a pound of microroasted")
    m = _meta(first)
    assert m["tags"] == ["storage", "whole-bean"] and m["site"] == "coffee.stackexchange.com"
    assert m["accepted_answer_id"] == 24 and m["view_count"] == 130 and m["score"] == 20
    assert m["answer_ids"] == [24, 1617, 1618]  # score 15, then the two score-2 answers by Id
    assert sum(_meta(r)["answer_count"] for r in rows) == 327  # every answer lands in a thread


def test_thread_answers_by_score_and_accepted_marked(coffee):
    _, _, rows = coffee
    (doc,) = [r for r in rows if _meta(r)["post_id"] == 192]
    text = doc["text"]
    assert _meta(doc)["answer_ids"] == [197, 215, 251, 272]
    labels = re.findall(r"^(?:Accepted answer|Answer)(?: \(score -?\d+\))?$", text, re.M)
    assert labels == ["Answer (score 9)", "Accepted answer (score 5)", "Answer (score 0)", "Answer (score 0)"]
    assert text.index("hot air popcorn popper") < text.index("Accepted answer (score 5)")
    # headings, paragraphs and list items of the accepted answer are on lines of their own
    assert "\n\n# Roasting tips\n\n- Never leave the coffee while roasting" in text
    assert "\n- Cool down your beans quickly after the roasting process, do not leave it on the heat source\n" in text
    assert "\n\n# Pan\n\nThis is one of the extremely minimalistic ways" in text
    assert "<p>" not in text and "&lt;" not in text


def test_meta_has_no_personal_data(coffee):
    _, _, rows = coffee
    raw = COFFEE.read_text(encoding="utf-8-sig")
    user_ids = set(re.findall(r'OwnerUserId="(\d+)"', raw))
    assert user_ids
    for r in rows:
        m = _meta(r)
        assert set(m) == META_KEYS
        assert not any("user" in k.lower() or "owner" in k.lower() or "editor" in k.lower() for k in m)


def test_code_blocks_quotes_and_links_survive(tmp_path):
    body = ("<p>Use this <a href=\"http://x.example/y\">grinder script</a>:</p>\n"
            "<pre class=\"lang-py prettyprint-override\"><code>def grind(g):\n    return g * 2\n\n\nprint(grind(9))\n"
            "</code></pre>\n<blockquote>\n<p>quoted one</p>\n<p>quoted two</p>\n</blockquote>\n"
            "<ol>\n<li>first</li>\n<li>second</li>\n</ol>")
    posts = _posts(
        _row(1, 1, title="Script?", body="<p>How?</p>", accepted=3, tags="|python|grind|",
             extra='ContentLicense="CC BY-SA 4.0" OwnerUserId="17" OwnerDisplayName="Jane Roe" '),
        _row(2, 2, parent=1, score=1, body="<p>low</p>"),
        _row(3, 2, parent=1, score=7, body=body),
    )
    out = _ingest_posts(tmp_path, posts)
    (doc,) = docs(out)
    assert doc["text"] == (
        "Script?\n\nHow?\n\nAccepted answer (score 7)\n\nUse this grinder script:\n\n"
        "```py\ndef grind(g):\n    return g * 2\n\n\nprint(grind(9))\n```\n\n"
        "> quoted one\n>\n> quoted two\n\n1. first\n2. second\n\nAnswer (score 1)\n\nlow")
    assert _meta(doc)["tags"] == ["python", "grind"] and _meta(doc)["license"] == "CC BY-SA 4.0"
    assert "Jane Roe" not in json.dumps(doc, default=str) and set(_meta(doc)) == META_KEYS


# --------------------------------------------------------------------------- HTML to text

@pytest.mark.parametrize("html, text", [
    ("<p>one\ntwo</p>\n\n<p>three <strong>bold</strong> <em>em</em></p>", "one two\n\nthree bold em"),
    ("<ul><li>a</li><li>b <code>x=1</code></li></ul>", "- a\n- b `x=1`"),
    ("<ol start=\"3\"><li><p>p1</p><p>p2</p></li><li>four<ul><li>nested</li></ul></li></ol>",
     "3. p1\n   p2\n4. four\n   - nested"),
    ("<pre><code>  indented\n\tTab &lt;b&gt;\n</code></pre>", "```\n  indented\n\tTab <b>\n```"),
    ("<pre>a = 1<br>b = 2</pre>", "```\na = 1\nb = 2\n```"),
    ("<h2>Title</h2><p>body</p><hr><p>after</p>", "## Title\n\nbody\n\nafter"),
    ("<blockquote><p>q</p></blockquote>", "> q"),
    ("<p>line<br>break</p>", "line\nbreak"),
    ("<p>see <a href=\"http://e.example\">the docs</a> <img src=\"i.png\" alt=\"enter image description here\"></p>",
     "see the docs"),
    ("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>", "a | b\n1 | 2"),
    ("plain &amp; simple", "plain & simple"),
    ("", ""),
    ("<div>" * 400 + "deep" + "</div>" * 400, "deep"),
])
def test_html_to_text(html, text):
    assert html_to_text(html) == text


def test_site_and_tags_helpers():
    assert site_from_path("/d/coffee.stackexchange.com/Posts.xml") == "coffee.stackexchange.com"
    assert site_from_path("/d/stackoverflow.com-Posts/Posts.xml") == "stackoverflow.com"
    assert site_from_path("/d/ru.stackoverflow.com/Posts.xml") == "ru.stackoverflow.com"
    assert site_from_path("/d/dumps/Posts.xml") is None
    assert parse_tags("<a><b-c>") == ["a", "b-c"] and parse_tags("|a|b-c|") == ["a", "b-c"]
    assert parse_tags(None) == [] and parse_tags("") == []


# --------------------------------------------------------------------------- damaged and odd dumps

def _row(post_id, post_type, parent=None, score=0, title=None, body="<p>x</p>", accepted=None, tags=None,
         extra="") -> str:
    from xml.sax.saxutils import quoteattr

    attrs = [f'Id="{post_id}"' if post_id is not None else "", f'PostTypeId="{post_type}"']
    if parent is not None:
        attrs.append(f'ParentId="{parent}"')
    if accepted is not None:
        attrs.append(f'AcceptedAnswerId="{accepted}"')
    attrs += ['CreationDate="2020-05-01T10:00:00.000"', f'Score="{score}"', f"Body={quoteattr(body)}"]
    if title is not None:
        attrs.append(f"Title={quoteattr(title)}")
    if tags is not None:
        attrs.append(f"Tags={quoteattr(tags)}")
    return "  <row " + " ".join(a for a in attrs if a) + f" {extra}/>\n"


def _posts(*rows: str, prolog: str = "") -> str:
    return '<?xml version="1.0" encoding="utf-8"?>\n' + prolog + "<posts>\n" + "".join(rows) + "</posts>\n"


def _ingest_posts(tmp_path: Path, xml: str | bytes, folder: str = "tea.stackexchange.com", name: str = "Posts.xml",
                  **kw) -> Path:
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    out = tmp_path / "out"
    ingest([str(path)], source="qa", out=out, progress=False, **kw)
    check_accounting(out)
    return out


def test_skips_orphans_bad_rows_and_duplicates(tmp_path):
    posts = _posts(
        _row(1, 1, title="Lonely question"),                  # no answers: still a document
        _row(None, 1, title="no id"),                         # malformed
        _row(3, 2, parent=99),                                # orphan answer
        _row(4, 5, body="<p>tag wiki</p>"),                   # skipped by type
        _row(5, 7),                                           # skipped by type
        _row(6, 1, title="Second", score="lots"),             # malformed Score
        _row(7, 1, title="Third"),
        _row(8, 2, parent=7, score=3),
        _row(8, 2, parent=7, score=5),                        # duplicate Id: quarantined, not counted twice
        _row(9, 2, parent=6),                                 # its question was malformed: orphan
    )
    out = _ingest_posts(tmp_path, posts, folder="plain", name="Posts.xml.gz")
    m = manifest(out)
    job = next(iter(m["jobs"].values()))
    assert job["inputs"][0]["format"] == "stackexchange" and job["inputs"][0]["compression"] == "gzip"
    assert job["skipped"] == {"orphan_answer": 2, "post_type_5": 1, "post_type_7": 1}
    assert job["counts"] == {"read": 5, "written": 2, "quarantined": 3}
    rows = sorted(docs(out), key=lambda r: r["position"])
    assert [r["position"] for r in rows] == [0, 6]  # row ordinals of the questions
    assert rows[0]["text"] == "Lonely question\n\nx" and _meta(rows[0])["answer_count"] == 0
    assert rows[0]["url"] is None and _meta(rows[0])["site"] is None  # no site in the path
    assert _meta(rows[1])["answer_ids"] == [8]
    errors = {(q["error_type"], q["position"]) for q in quarantine(out)}
    assert errors == {("malformed_record", 1), ("malformed_record", 5), ("malformed_record", 8)}
    messages = " ".join(q["error"] for q in quarantine(out))
    assert "Id is missing" in messages and "Score is not an integer" in messages and "already appeared" in messages


def test_truncated_posts_keeps_threads_before_the_cut(tmp_path):
    raw = COFFEE.read_bytes()
    rows = [m.start() for m in re.finditer(rb"<row ", raw)]
    cut = rows[300] + 120  # in the middle of row 301
    data = raw[:cut]
    questions_before = len(re.findall(rb'<row [^>]*PostTypeId="1"[^>]*/>', data))
    out = _ingest_posts(tmp_path, data, folder="coffee.stackexchange.com")
    assert len(docs(out)) == questions_before > 50
    (bad,) = quarantine(out)
    assert bad["error_type"] == "malformed_xml"
    assert re.search(r"XML error at line \d+: .*300 rows before it were read", bad["error"])


def test_external_entity_is_refused_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4711", encoding="utf-8")
    prolog = f'<!DOCTYPE posts [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
    posts = _posts(_row(1, 1, title="Steal &xxe;", body="&xxe;"), prolog=prolog)
    posts = posts.replace('Body="&amp;xxe;"', 'Body="&xxe;"')  # an entity reference, not escaped text
    out = _ingest_posts(tmp_path, posts, folder="coffee.stackexchange.com")
    assert docs(out) == []
    (bad,) = quarantine(out)
    assert bad["error_type"] == "xml_entities" and "never expands entities" in bad["error"]
    for path in out.rglob("*"):
        if path.is_file():
            assert b"TOP-SECRET-4711" not in path.read_bytes(), path


def test_entity_expansion_bomb_is_refused(tmp_path):
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    posts = _posts(_row(1, 1, title="&l9;"), prolog=f"<!DOCTYPE posts [{lol}]>\n").replace("&amp;l9;", "&l9;")
    out = _ingest_posts(tmp_path, posts)
    assert docs(out) == [] and [q["error_type"] for q in quarantine(out)] == ["xml_entities"]


def test_duckdb_memory_limit_and_temp_dir(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    monkeypatch.setenv("CURATE_TMPDIR", str(scratch))
    monkeypatch.setenv("CURATE_DUCKDB_MEMORY_LIMIT", "16MB")  # the grouping runs within it
    out = tmp_path / "ok"
    job = ingest([str(COFFEE)], source="qa", out=out, progress=False)
    assert job["counts"]["written"] == 225
    assert list(scratch.iterdir()) == []  # temporary chunks and spill files are removed
    monkeypatch.setenv("CURATE_DUCKDB_MEMORY_LIMIT", "1MB")  # the limit reaches DuckDB: too small fails clearly
    with pytest.raises(CurateError, match="CURATE_DUCKDB_MEMORY_LIMIT"):
        ingest([str(COFFEE)], source="qa", out=tmp_path / "tiny", progress=False)
    assert list(scratch.iterdir()) == []
    monkeypatch.setenv("CURATE_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(CurateError, match="expected a size"):
        ingest([str(COFFEE)], source="qa", out=tmp_path / "bad", progress=False)


# --------------------------------------------------------------------------- SQuAD

def test_squad_sample_one_document_per_context(tmp_path):
    out = tmp_path / "out"
    job = ingest([str(SQUAD)], source="qa", out=out, progress=False)
    check_accounting(out)
    assert job["inputs"][0]["format"] == "squad"
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    contexts = [(a, p) for a in data["data"] for p in a["paragraphs"]]
    assert job["counts"] == {"read": len(contexts), "written": len(contexts), "quarantined": 0} and len(contexts) == 30
    rows = sorted(docs(out), key=lambda r: r["position"])
    for row, (article, paragraph) in zip(rows, contexts):
        m = _meta(row)
        assert row["title"] == article["title"]
        assert row["text"].startswith(paragraph["context"] + "\n\nQ: ")
        answerable = [q for q in paragraph["qas"] if not q["is_impossible"]]
        assert row["text"].count("\nQ: ") + row["text"].startswith("Q: ") == len(answerable)
        for q in answerable:
            assert f"Q: {q['question']}\nA: {q['answers'][0]['text']}" in row["text"]
        assert m["qa_ids"] == [q["id"] for q in paragraph["qas"]]
        assert m["unanswerable"] == len(paragraph["qas"]) - len(answerable)
        assert "synthetic" in m["version"] or "machine-made" in m["version"]


def test_squad_sample_is_honest_and_reproducible():
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    assert "not human-written" in data["version"]
    for article in data["data"]:
        for p in article["paragraphs"]:
            for q in p["qas"]:
                for a in q["answers"]:
                    assert p["context"][a["answer_start"]:a["answer_start"] + len(a["text"])] == a["text"]
    spec = importlib.util.spec_from_file_location("make_sample_squad", REPO_ROOT / "scripts" / "make_sample_squad.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.build() == data  # the committed sample is exactly what the script makes


def test_squad_data_before_version_and_damage(tmp_path):
    article = {"title": "T", "paragraphs": [
        {"context": "Seoul is the capital of Korea.", "qas": [
            {"id": "q1", "question": "What is the capital?", "answers": [{"text": "Seoul", "answer_start": 0}]},
            {"id": "q2", "question": "What is the moon made of?", "answers": [], "is_impossible": True}]},
        "not a paragraph"]}
    body = json.dumps({"data": [article, 7, article], "version": "v2.0"})  # SQuAD puts version last
    path = tmp_path / "in" / "train.json.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(body.encode()))
    out = tmp_path / "out"
    job = ingest([str(path)], source="qa", out=out, progress=False)
    check_accounting(out)
    assert job["inputs"][0]["format"] == "squad"
    assert job["counts"] == {"read": 5, "written": 2, "quarantined": 3}
    rows = sorted(docs(out), key=lambda r: r["position"])
    assert rows[0]["text"] == "Seoul is the capital of Korea.\n\nQ: What is the capital?\nA: Seoul"
    assert _meta(rows[0]) == {"article_index": 0, "paragraph_index": 0, "qa_ids": ["q1", "q2"], "qa_count": 2,
                              "unanswerable": 1, "version": "v2.0"}
    assert [q["error_type"] for q in quarantine(out)] == ["malformed_record"] * 3

    cut = tmp_path / "cut" / "dev.json"  # truncated inside the second article
    cut.parent.mkdir()
    text = json.dumps({"version": "v1", "data": [article, article]}, ensure_ascii=False)
    cut.write_text(text[:len(text) - 40], encoding="utf-8")
    out2 = tmp_path / "out2"
    ingest([str(cut)], source="qa", out=out2, progress=False)
    check_accounting(out2)
    assert len(docs(out2)) == 1 and _meta(docs(out2)[0])["version"] == "v1"
    bad = [q for q in quarantine(out2) if q["error_type"] == "malformed_json"]
    assert len(bad) == 1 and "article 1" in bad[0]["error"] and "truncated" in bad[0]["error"]


def test_squad_article_over_the_record_limit(tmp_path):
    from curate.ingest.base import ReaderOptions

    big = {"title": "big", "paragraphs": [{"context": "x" * 5000, "qas": []}]}
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"version": "v", "data": [{"title": "s", "paragraphs": [{"context": "ok", "qas": []}]},
                                                        big]}), encoding="utf-8")
    out = tmp_path / "out"
    ingest([str(path)], source="qa", out=out, fmt="squad", options=ReaderOptions(max_record_bytes=1000),
           progress=False)
    check_accounting(out)
    assert [d["text"] for d in docs(out)] == ["ok"]
    assert [q["error_type"] for q in quarantine(out)] == ["record_too_large"]


def test_format_auto_tells_stackexchange_and_squad_apart(tmp_path):
    job = ingest([str(COFFEE), str(SQUAD)], source="qa", out=tmp_path / "out", progress=False)
    assert {i["input_file"]: i["format"] for i in job["inputs"]} == {"Posts.xml": "stackexchange",
                                                                    "korean_news_squad.json": "squad"}
    assert job["counts"]["written"] == 225 + 30


def test_other_dump_files_are_not_read_as_posts(tmp_path):
    comments = ('<?xml version="1.0" encoding="utf-8"?>\n<comments>\n  <row Id="1" PostId="1" Text="hi" />\n'
                "</comments>\n")
    out = _ingest_posts(tmp_path, comments, name="Comments.xml", fmt="stackexchange")
    assert docs(out) == [] and [q["error_type"] for q in quarantine(out)] == ["unknown_layout"]


def test_oversized_body_is_quarantined(tmp_path):
    from curate.ingest.base import ReaderOptions

    posts = _posts(_row(1, 1, title="Q", body="<p>" + "big " * 1000 + "</p>"), _row(2, 1, title="small"),
                   _row(3, 2, parent=2, score=1, body="<p>" + "big " * 1000 + "</p>"))
    out = _ingest_posts(tmp_path, posts, options=ReaderOptions(max_record_bytes=2000))
    (doc,) = docs(out)
    assert doc["text"] == "small\n\nx" and _meta(doc)["answer_count"] == 0
    assert [(q["error_type"], q["position"]) for q in quarantine(out)] == [("record_too_large", 0),
                                                                          ("record_too_large", 2)]


def test_squad_syntax_error_mid_file(tmp_path):
    good = json.dumps({"title": "a", "paragraphs": [{"context": "c", "qas": []}]})
    path = tmp_path / "bad.json"
    filler = json.dumps({"title": "f", "paragraphs": [{"context": "y" * 200_000, "qas": []}]})
    path.write_text('{"version": "v", "data": [' + good + ', {"title": "b" "paragraphs": []}, '
                    + ", ".join([filler] * 8) + "]}", encoding="utf-8")  # ~1.6 MB: more than one read
    out = tmp_path / "out"
    ingest([str(path)], source="qa", out=out, progress=False)
    check_accounting(out)
    assert [d["text"] for d in docs(out)] == ["c"]
    (bad,) = quarantine(out)
    assert bad["error_type"] == "malformed_json" and "article 1" in bad["error"] and "Expecting" in bad["error"]
    assert "truncated" not in bad["error"]
