"""curate classifier train / eval: formats, determinism, sidecar, metrics, errors."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from curate.classify.fasttext_model import Sidecar, TextClassifier
from curate.classify.train import evaluate_probs, prf, read_dataset, roc_auc, split_mask
from curate.cli import app

ROOT = Path(__file__).resolve().parents[1]
HATE_TSV = ROOT / "curate" / "models" / "hate_ko" / "data" / "train.tsv"
NEWS = ROOT / "sample_data" / "news"
runner = CliRunner()
FAST = ["--param", "epoch=5", "--param", "bucket=20000", "--param", "dim=16"]


@pytest.fixture(scope="module")
def langs_ft(tmp_path_factory) -> Path:
    """A small two-label fastText file: Korean vs English news sentences."""
    p = tmp_path_factory.mktemp("data") / "langs.txt"
    ko = (NEWS / "korean-english-park.dev.ko.txt").read_text(encoding="utf-8").splitlines()[:300]
    en = (NEWS / "korean-english-park.dev.en.txt").read_text(encoding="utf-8").splitlines()[:300]
    lines = [f"__label__ko {s}" for s in ko if s.strip()] + [f"__label__en {s}" for s in en if s.strip()]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_train_eval_fasttext_format_and_determinism(langs_ft, tmp_path):
    a, b = tmp_path / "a.ftz", tmp_path / "b.ftz"
    for out in (a, b):
        r = runner.invoke(app, ["classifier", "train", str(langs_ft), "--task", "generic", "--out", str(out),
                                "--valid-fraction", "0.2", *FAST])
        assert r.exit_code == 0, r.output
        assert "held out:" in r.output
    assert _sha(a) == _sha(b)  # one thread, fixed seed: the same bytes
    side = Sidecar.read(a)
    assert side.task == "generic" and side.labels == ["en", "ko"] and side.training["thread"] == 1
    assert side.data["sha256"] == _sha(langs_ft) and side.metrics["valid_records"] > 50
    assert side.metrics["accuracy"] > 0.9
    r = runner.invoke(app, ["classifier", "eval", str(a), str(langs_ft), "--json", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    for word in ("precision", "recall", "F1", "confusion", "macro-F1"):
        assert word in r.output
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["labels"] == ["en", "ko"] and sum(map(sum, m["confusion"])) == m["n"]


def test_tsv_csv_jsonl_with_fields(tmp_path):
    rows = list(csv.DictReader(open(HATE_TSV, encoding="utf-8", newline=""), delimiter="\t",
                               quoting=csv.QUOTE_NONE))[:600]
    tsv = tmp_path / "d.tsv"
    tsv.write_text("comments\thate\n" + "".join(f"{r['comments']}\t{r['hate']}\n" for r in rows), encoding="utf-8")
    csv_p = tmp_path / "d.csv"
    with open(csv_p, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["body", "tag"])
        w.writerows([[r["comments"], r["hate"]] for r in rows])
    jl = tmp_path / "d.jsonl"
    jl.write_text("".join(json.dumps({"t": r["comments"], "y": r["hate"]}, ensure_ascii=False) + "\n" for r in rows)
                  + "\n{\"t\": \"no label\"}\n[1, 2]\n", encoding="utf-8")
    outs = []
    for path, tf, lf in [(tsv, "comments", "hate"), (csv_p, "body", "tag"), (jl, "t", "y")]:
        out = tmp_path / f"{path.suffix[1:]}.ftz"
        r = runner.invoke(app, ["classifier", "train", str(path), "--task", "hate", "--out", str(out),
                                "--text-field", tf, "--label-field", lf, *FAST])
        assert r.exit_code == 0, r.output
        outs.append(out)
        side = Sidecar.read(out)
        assert side.preprocess["spacing"] == "both" and side.negative == "none"
    assert len({_sha(o) for o in outs}) == 1  # the same records in three formats: the same model
    assert read_dataset(jl, text_field="t", label_field="y").skipped == {"no_label": 1, "bad_record": 1}
    r = runner.invoke(app, ["classifier", "eval", str(outs[0]), str(tsv), "--text-field", "comments",
                            "--label-field", "hate"])
    assert r.exit_code == 0 and "ROC-AUC" in r.output and "positive-class F1" in r.output


def test_preprocessing_is_stored_and_applied(langs_ft, tmp_path):
    out = tmp_path / "m.bin"
    r = runner.invoke(app, ["classifier", "train", str(langs_ft), "--out", str(out), "--pre", "jamo=true",
                            "--pre", "squeeze=2", *FAST])
    assert r.exit_code == 0, r.output
    clf = TextClassifier(out)
    assert clf.preprocess.jamo and clf.preprocess.squeeze == 2
    p = clf.proba(["오늘 서울의 날씨는 맑겠습니다", "The weather in Seoul is clear today"])
    assert p.shape == (2, 2) and np.allclose(p.sum(axis=1), 1.0, atol=1e-3)
    assert clf.labels[int(p[0].argmax())] == "ko" and clf.labels[int(p[1].argmax())] == "en"


@pytest.mark.parametrize("args, message", [
    (["--text-field", "nope"], "no column 'nope'"),
    (["--out", "model.txt"], "must end in .ftz"),
])
def test_clear_errors(tmp_path, args, message):
    data = tmp_path / "d.tsv"
    data.write_text("text\tlabel\na\tx\nb\ty\n", encoding="utf-8")
    base = ["classifier", "train", str(data), "--out", str(tmp_path / "m.ftz")]
    if "--out" in args:
        base = base[:-2]
    r = runner.invoke(app, base + args)
    assert r.exit_code == 2 and message in r.output


def test_errors_on_empty_and_single_label(tmp_path):
    empty = tmp_path / "e.txt"
    empty.write_text("\n\n", encoding="utf-8")
    r = runner.invoke(app, ["classifier", "train", str(empty), "--out", str(tmp_path / "m.ftz")])
    assert r.exit_code == 2 and "no labeled texts" in r.output
    one = tmp_path / "one.txt"
    one.write_text("__label__a hello\n__label__a world\n", encoding="utf-8")
    r = runner.invoke(app, ["classifier", "train", str(one), "--out", str(tmp_path / "m.ftz")])
    assert r.exit_code == 2 and "at least two labels" in r.output
    r = runner.invoke(app, ["classifier", "eval", str(tmp_path / "missing.ftz"), str(one)])
    assert r.exit_code == 2 and "not found" in r.output


def test_metrics_by_hand():
    assert roc_auc(np.array([1, 1, 0, 0], bool), np.array([0.9, 0.8, 0.1, 0.2])) == 1.0
    assert roc_auc(np.array([1, 0], bool), np.array([0.5, 0.5])) == 0.5
    assert roc_auc(np.array([1, 0, 1, 0], bool), np.array([0.1, 0.4, 0.5, 0.8])) == 0.25
    m = prf(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert m["a"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    r = evaluate_probs(probs, ["none", "toxic"], ["none", "toxic", "toxic"], negative="none")
    assert r.confusion == [[1, 0], [1, 1]] and r.binary["roc_auc"] == 1.0
    mask = split_mask([f"text {i}" for i in range(10_000)], 0.1, 0)
    assert 900 < mask.sum() < 1100 and (mask == split_mask([f"text {i}" for i in range(10_000)], 0.1, 0)).all()
