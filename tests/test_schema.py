"""Data contracts: documents and quarantine Parquet follow schemas/*.json, manifest.json follows
schemas/ingest_manifest.schema.json, ids are unique, derived as documented and stable across runs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.ingest import ReaderOptions, ingest, make_id
from curate.resources import resource_dir
from curate.schema import arrow_schema, load_contract, validate_table
from ingest_util import check_accounting, docs, manifest


@pytest.fixture(scope="module")
def raw(tmp_path_factory, sample_data) -> Path:
    """News (text) and reviews (zstd JSONL) in one DIR, with one bad file for the quarantine."""
    out = tmp_path_factory.mktemp("raw")
    ingest([str(sample_data / "news")], source="news", out=out, options=ReaderOptions(lang="ko"), progress=False)
    ingest([str(sample_data / "reviews")], source="reviews", out=out, progress=False)
    bad = tmp_path_factory.mktemp("bad") / "bad.jsonl"
    bad.write_bytes(b'{"text": "ok"}\n{"text": \xff}\n')
    ingest([str(bad)], source="misc", out=out, progress=False)
    return out


def test_contract_files_are_well_formed():
    folder = resource_dir("schemas")
    for name in ("document", "quarantine"):
        contract = load_contract(name)
        assert contract["name"] == name and contract["version"] >= 1
        schema = arrow_schema(name)
        assert [f.name for f in schema] == [f["name"] for f in contract["fields"]]
        assert all(f["description"] for f in contract["fields"])
    jsonschema.Draft202012Validator.check_schema(json.loads((folder / "ingest_manifest.schema.json").read_text()))


def test_document_files_follow_the_contract(raw):
    files = sorted((raw / "documents").glob("*.parquet"))
    assert files
    expected = arrow_schema("document")
    for path in files:
        t = pq.read_table(path)
        validate_table(t, "document")
        assert t.schema.remove_metadata().equals(expected.remove_metadata())
        assert pq.ParquetFile(path).schema_arrow.metadata[b"curate.contract"] == b"document"
        for column in ("id", "source", "text", "meta", "input_file", "position"):
            assert t.column(column).null_count == 0, (path.name, column)
        for meta in t.column("meta").to_pylist():
            assert isinstance(json.loads(meta), dict)


def test_quarantine_files_follow_the_contract(raw):
    files = sorted((raw / "quarantine").glob("*.parquet"))
    assert len(files) == 1
    t = pq.read_table(files[0])
    validate_table(t, "quarantine")
    assert t.to_pylist()[0]["error_type"] == "invalid_utf8"


def test_validate_table_rejects_what_breaks_the_contract():
    good = pa.table({f.name: pa.array(["x"] if pa.types.is_string(f.type) else [0], f.type)
                     for f in arrow_schema("document") if f.name != "created"} |
                    {"created": pa.array([None], pa.timestamp("ms", tz="UTC"))})
    good = good.select([f.name for f in arrow_schema("document")])
    validate_table(good, "document")
    with pytest.raises(ValueError, match="'text'"):
        validate_table(good.set_column(2, "text", pa.array([None], pa.string())), "document")
    with pytest.raises(ValueError, match="position"):
        validate_table(good.set_column(9, "position", pa.array([0], pa.int32())), "document")
    with pytest.raises(ValueError, match="column 0"):
        validate_table(good.select(["source", "id", *good.column_names[2:]]), "document")
    validate_table(good.append_column("score", pa.array([1.0])), "document")  # extra columns after the contract's


def test_manifest_follows_its_json_schema(raw):
    schema = json.loads((resource_dir("schemas") / "ingest_manifest.schema.json").read_text())
    m = manifest(raw)
    jsonschema.validate(m, schema, cls=jsonschema.Draft202012Validator)
    assert set(m["counts_by_source"]) == {"news", "reviews", "misc"}
    assert m["counts_by_source"]["misc"] == {"read": 2, "written": 1, "quarantined": 1}
    check_accounting(raw)
    broken = json.loads(json.dumps(m))
    next(iter(broken["jobs"].values()))["inputs"][0]["sha256"] = "not-a-hash"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)


def test_ids_are_unique_and_derived_as_documented(raw):
    rows = docs(raw)
    assert len(rows) == 2000 + 4000 + 1
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    for r in rows:
        assert r["id"] == make_id(r["source"], r["input_file"], r["position"])
        assert len(r["id"]) == 32 and int(r["id"], 16) >= 0
    assert {r["input_file"] for r in rows if r["source"] == "news"} == {
        "korean-english-park.dev.ko.txt", "korean-english-park.dev.en.txt"}


def test_ids_are_stable_across_runs(raw, tmp_path, sample_data):
    ingest([str(sample_data / "reviews")], source="reviews", out=tmp_path, progress=False, workers=1)
    again = {(r["id"], r["text"]) for r in docs(tmp_path)}
    first = {(r["id"], r["text"]) for r in docs(raw) if r["source"] == "reviews"}
    assert again == first
