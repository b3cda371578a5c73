"""lang_id: offline shipped model, script rules, short and long documents, bad input, recipes, pip check."""

from __future__ import annotations

import importlib.metadata as md
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import curate.steps  # noqa: F401  (registers the steps)
from curate.classify.fasttext_model import LID176, load_fasttext, model_labels
from curate.classify.langid import LanguageIdentifier, split_chunks
from curate.pipeline import Pipeline, parse_recipe
from curate.pipeline.batch import documents_batch
from curate.pipeline.params import ParamError
from curate.pipeline.runner import apply_safely
from curate.steps.langid import LangId

ROOT = Path(__file__).resolve().parents[1]
NEWS = ROOT / "sample_data" / "news"
SHARED_LINGUA = ROOT.parent / "shared" / "corpora" / "lingua_langid" / "sentences"


@pytest.fixture(scope="module")
def lid() -> LanguageIdentifier:
    return LanguageIdentifier()


def _step(**params) -> LangId:
    step = LangId(LangId.Params(**params))
    step.setup()
    return step


def _lines(name: str, n: int) -> list[str]:
    return [s for s in (NEWS / name).read_text(encoding="utf-8").splitlines() if s.strip()][:n]


def test_shipped_model_is_lid176_and_loads_offline():
    assert LID176.is_file() and LID176.stat().st_size == 938_013
    labels = model_labels(load_fasttext(LID176))
    assert len(labels) == 176 and {"ko", "en", "ja", "zh", "ms", "id"} <= set(labels)


def test_fasttext_is_the_full_package_and_pip_check_is_clean():
    import fasttext

    assert hasattr(fasttext, "train_supervised") and hasattr(fasttext, "load_model")
    owners = [d.metadata["Name"] for d in md.distributions()
              if any(str(f).startswith("fasttext/") for f in (d.files or []))]
    assert owners == ["fasttext-numpy2-wheel"], f"two packages write fasttext/: {owners}"
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    complaints = [line for line in (out.stdout + out.stderr).splitlines()
                  if "fasttext" in line.lower() or "langdetect" in line.lower()]
    assert not complaints, complaints


def test_korean_and_english_news(lid):
    ko, en = _lines("korean-english-park.dev.ko.txt", 300), _lines("korean-english-park.dev.en.txt", 300)
    r = lid.identify(ko + en)
    # the Korean file has a few English lines (a CNN URL line, "competition 경쟁"): those may say en
    assert (r.lang[:300] == "ko").mean() >= 0.99
    assert (r.lang[300:] == "en").mean() >= 0.98
    assert (r.decided_by[:300] == "script").mean() >= 0.9  # mostly Hangul: no model needed
    assert r.score.min() >= 0.0 and r.score.max() <= 1.0


def test_script_rules_fix_known_lid176_confusions(lid):
    texts = ["전쟁은 무조건 악인가?",  # lid.176 alone: ja
             "代开纳税人纳税期限调整后一年不得变更。",  # Han without kana: lid.176 alone says ja
             "一番好きなエピなのでうれしい！",  # kana: lid.176 alone says mk
             "泥料成本、烧成率、名家行情、制作工时、汇率落差等等都会牵一发而动全身！"]  # lid.176 alone: ko
    raw = [lab[0] for lab in load_fasttext(LID176).predict([t for t in texts])[0]]
    assert raw != ["__label__ko", "__label__zh", "__label__ja", "__label__zh"]
    assert list(lid.identify(texts).lang) == ["ko", "zh", "ja", "zh"]


def test_priors_prefer_the_big_neighbour_and_can_be_switched_off():
    text = ["Keempat orang itupun kemudian telah melanjutkan perjalanan."]  # Indonesian; lid.176: ms 0.65
    assert LanguageIdentifier().identify(text).lang[0] == "id"
    assert LanguageIdentifier(priors={}).identify(text).lang[0] == "ms"


def test_short_documents_are_flagged_not_misjudged():
    step = _step()
    batch = documents_batch(["", "\n\n\n", "12345 678", "ok", "🙂🙂", "한", "This sentence is long enough to judge."],
                            lang=[None, None, "ko", None, None, None, None])
    out, keep, reason, metrics, errors = apply_safely(step, batch)
    assert not errors and keep.all()
    assert metrics["lid_short"].to_pylist() == [True, True, True, True, True, False, False]
    assert metrics["lid_lang"].to_pylist()[:5] == ["und"] * 5
    assert metrics["lid_score"].to_pylist()[:5] == [0.0] * 5
    # a short document keeps the language it came with; a Hangul letter is decisive even alone
    assert out.column("lang").to_pylist() == ["und", "und", "ko", "und", "und", "ko", "en"]
    dropped = apply_safely(_step(short="drop"), batch)[1]
    assert dropped.tolist() == [False, False, False, False, False, True, True]


def test_keep_and_min_score_per_language():
    step = _step(keep=["ko", "en"], min_score=0.3, min_score_per_lang={"en": 0.999})
    ko, en = _lines("korean-english-park.dev.ko.txt", 3), _lines("korean-english-park.dev.en.txt", 3)
    batch = documents_batch(ko + en + ["Ceci est une phrase française tout à fait ordinaire."])
    out, keep, reason, metrics, _ = apply_safely(step, batch)
    assert keep[:3].all()
    reasons = reason.to_pylist()
    assert reasons[6] == "lang fr not in keep"
    scores = metrics["lid_score"].to_pylist()
    for i in range(3, 6):
        assert keep[i] == (scores[i] >= 0.999)
        if not keep[i]:
            assert reasons[i].startswith("lang en score")
    assert out.schema.field("lang_score").type == pa.float64()


def test_long_and_mixed_documents_are_judged_over_their_whole_length(lid):
    ko, en = _lines("korean-english-park.dev.ko.txt", 60), _lines("korean-english-park.dev.en.txt", 60)
    mixed = "\n".join(en[:8] + ko[:40])  # English first, Korean after: not judged on its beginning
    r = lid.identify([mixed, "\n".join(en[:45] + ko[:5])])
    assert list(r.lang) == ["ko", "en"]
    assert 0.5 < r.score[0] < 0.99  # the score reads as "share of the text in this language"
    assert list(r.decided_by) == ["chunks", "chunks"]
    chunks = split_chunks("\n".join(en * 50), 30, 500, 4000)
    assert 7 <= len(chunks) and sum(len(c) for c in chunks) <= 4600


def test_bad_input_never_crashes(lid):
    huge = ("한국어 문장입니다. " * 200 + "\n") * 600  # ~1.3 M characters
    texts = ["", "\n", "\x00\x01\x02\x7f", "\ufffd\ufffd\ufffd", "a" * 3_000_000, huge,
             "\u200b\u200b", "https://example.com/a/b?c=d", "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace")]
    t0 = time.perf_counter()
    r = lid.identify(pa.array(texts, pa.string()))
    assert time.perf_counter() - t0 < 5
    assert len(r.lang) == len(texts) and all(isinstance(x, str) for x in r.lang)
    assert r.short[:4].all() and r.lang[5] == "ko"
    assert np.isfinite(r.score).all()
    step = _step()
    out, keep, reason, metrics, errors = apply_safely(step, documents_batch(texts))
    assert not errors and len(keep) == len(texts)


def test_step_pickles_without_its_model_and_is_deterministic():
    step = _step()
    state = pickle.loads(pickle.dumps(step))
    assert not hasattr(state, "_lid")
    batch = documents_batch(_lines("korean-english-park.dev.en.txt", 50))
    a = apply_safely(step, batch)[3]["lid_score"].to_pylist()
    b = apply_safely(state, batch)[3]["lid_score"].to_pylist()
    assert a == b


@pytest.mark.parametrize("table, message", [
    ('keep = ["kor"]', "unknown language code(s) 'kor'"),
    ("min_score = 1.5", "min_score must be between 0 and 1"),
    ('model = "no/such/model.bin"', "no/such/model.bin"),
    ('short = "maybe"', "short"),
])
def test_recipe_validation(table, message):
    with pytest.raises((ParamError, Exception)) as exc:
        parse_recipe(f'[[steps]]\nname = "lang_id"\n{table}\n')
    assert message in str(exc.value)


def test_recipe_run_writes_lang_columns(tmp_path):
    from curate.ingest import ReaderOptions, ingest

    src = tmp_path / "src"
    src.mkdir()
    (src / "ko.txt").write_text("\n".join(_lines("korean-english-park.dev.ko.txt", 40)) + "\n", encoding="utf-8")
    (src / "en.txt").write_text("\n".join(_lines("korean-english-park.dev.en.txt", 40)) + "\n\n\n", encoding="utf-8")
    raw = tmp_path / "raw"
    ingest([str(src)], source="news", out=raw, options=ReaderOptions(), progress=False)
    recipe = parse_recipe('[[steps]]\nname = "lang_id"\nkeep = ["ko"]\nmin_score_per_lang = {ko = 0.5}\n')
    manifest = Pipeline(recipe).run(raw, tmp_path / "run")
    c = manifest["counts"]
    assert c["read"] == c["kept"] + c["dropped"] + c["quarantined"] and c["kept"] == 40 and c["dropped"] == 40
    con = duckdb.connect()
    docs = con.sql(f"SELECT lang, lang_score FROM '{tmp_path}/run/documents/*.parquet'").fetchall()
    assert {d[0] for d in docs} == {"ko"} and all(d[1] >= 0.5 for d in docs)
    dec = con.sql(f"SELECT lid_lang, count(*) FROM '{tmp_path}/run/decisions/*.parquet' GROUP BY 1 ORDER BY 1").fetchall()
    assert dict(dec)["ko"] == 40 and sum(n for _, n in dec) == 80
    json.dumps(manifest)


@pytest.mark.skipif(not SHARED_LINGUA.exists(), reason="needs ../shared/corpora/lingua_langid")
def test_accuracy_floor_on_lingua_sentences(lid):
    gold, texts = [], []
    for f in sorted(SHARED_LINGUA.glob("*.txt")):
        lines = f.read_text(encoding="utf-8").splitlines()
        gold += [f.stem] * len(lines)
        texts += lines
    r = lid.identify(texts)
    gold_a = np.asarray(gold, dtype=object)
    assert (r.lang == gold_a).mean() >= 0.99
    assert (r.lang[gold_a == "ko"] == "ko").mean() >= 0.998
