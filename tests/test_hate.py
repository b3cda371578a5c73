"""hate_speech: the shipped Korean model, document scoring, word lists, bad input, reproducibility."""

from __future__ import annotations

import csv
import json
import os
import pickle
from pathlib import Path

import pytest
import xxhash

import curate.steps  # noqa: F401
from curate.classify.fasttext_model import HATE_KO, Sidecar, TextClassifier, file_sha256
from curate.pipeline import parse_recipe
from curate.pipeline.batch import documents_batch
from curate.pipeline.runner import apply_safely
from curate.steps.hate import HateSpeech, ToxicityScorer, split_lines

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "curate" / "models" / "hate_ko" / "data"
NEWS_KO = ROOT / "sample_data" / "news" / "korean-english-park.dev.ko.txt"


def _step(**params) -> HateSpeech:
    step = HateSpeech(HateSpeech.Params(**params))
    step.setup()
    return step


def _comments() -> list[dict]:
    with open(DATA / "train.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def _held_out_news(n: int) -> list[str]:
    """News sentences of the half that is not in the model's extra training text (odd XXH64)."""
    lines = [s for s in NEWS_KO.read_text(encoding="utf-8").splitlines() if s.strip()]
    return [s for s in lines if xxhash.xxh64_intdigest(s.encode("utf-8"), 0) % 2 == 1][:n]


def test_shipped_model_sidecar_and_data():
    side = Sidecar.read(HATE_KO)
    assert side is not None and side.task == "hate" and side.negative == "none"
    assert side.labels == ["hate", "none", "offensive"]
    assert HATE_KO.stat().st_size < 6_000_000
    # the sidecar names the shipped data by hash: the model was made from exactly these files
    assert side.data["sha256"] == file_sha256(DATA / "train.tsv")
    assert [e["sha256"] for e in side.data["extra"]] == [file_sha256(DATA / "clean_none.txt"),
                                                         file_sha256(DATA / "informal_none.txt")]
    assert side.reproduce.startswith("curate classifier train curate/models/hate_ko/data/train.tsv --task hate")
    assert (DATA / "LICENSE.md").read_text(encoding="utf-8").startswith("Attribution-ShareAlike 4.0")


def test_toxic_comments_score_high_and_clean_news_low():
    rows = _comments()
    clf = TextClassifier(HATE_KO)
    hate = [r["comments"] for r in rows if r["hate"] == "hate"][:200]
    none = [r["comments"] for r in rows if r["hate"] == "none"][:200]
    p = clf.proba(hate + none)
    tox = 1 - p[:, clf.labels.index("none")]
    assert tox[:200].mean() > 0.7 and tox[200:].mean() < 0.4
    scorer = ToxicityScorer()
    news = _held_out_news(120)
    docs = ["\n".join(news[i:i + 6]) for i in range(0, 120, 6)]
    s = scorer.score_texts(docs)
    assert (s.score < 0.5).all()  # clean news is not flagged (the shipped model saw formal text as none)


def test_benign_movie_reviews_are_mostly_not_flagged():
    """sample_data/reviews (none of them trained on): ~24% flagged without informal_none.txt, ~10% with it."""
    import zstandard

    raw = zstandard.ZstdDecompressor().stream_reader(open(ROOT / "sample_data" / "reviews" / "nsmc_reviews.jsonl.zst",
                                                          "rb")).read().decode("utf-8")
    reviews = [json.loads(line) for line in raw.splitlines() if line.strip()]
    shipped = {line.split(" ", 1)[1] for line in (DATA / "informal_none.txt").read_text(encoding="utf-8").splitlines()}
    assert not shipped & {" ".join(r["review"].split()) for r in reviews}  # the sample run's reviews are unseen
    liked = [r["review"] for r in reviews if int(r["rating"]) >= 9]
    s = ToxicityScorer().score_texts(liked)
    assert (s.score >= 0.5).mean() < 0.15


def test_document_labels_and_aggregates():
    news = "\n".join(_held_out_news(6))
    thread = "\n".join(["이 미친 새끼들 다 죽어버려라 진짜 역겹다", "역겨운 것들 꺼져라 병신들아", "쓰레기 같은 인간"])
    batch = documents_batch([news, thread, news + "\n" + "야 이 병신아 꺼져"], lang=["ko", "ko", "ko"])
    out, keep, reason, metrics, errors = apply_safely(_step(), batch)
    assert not errors
    assert keep.tolist() == [True, False, True]  # mean: one insult in a news article does not flag it
    labels = metrics["hate_label"].to_pylist()
    assert labels[0] == "none" and labels[1] in ("hate", "offensive")
    assert reason.to_pylist()[1].startswith(labels[1] + ": hate_score")
    strict = apply_safely(_step(aggregate="max", threshold=0.8), batch)[1]
    assert strict.tolist() == [True, False, False]  # max: any toxic line
    flag = apply_safely(_step(action="flag"), batch)
    assert flag[1].all() and flag[3]["hate_score"].to_pylist()[1] >= 0.5


def test_other_languages_and_script_rule():
    batch = documents_batch(["This is an English page about cooking pasta.", "영어 문장 없음\nplain english line here",
                             "Some text"], lang=["en", "ko", None])
    out, keep, reason, metrics, _ = apply_safely(_step(), batch)
    assert keep.all()
    score = metrics["hate_score"].to_pylist()
    assert score[0] is None and metrics["hate_label"].to_pylist()[0] is None  # not Korean: not scored
    assert metrics["hate_lines"].to_pylist() == [0, 1, 0]  # the English line of a Korean page is not judged
    assert score[2] == 0.0


def test_wordlist_rule(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("# a user's list\nbadword\nvery bad phrase\n", encoding="utf-8")
    texts = ["This has a BadWord in it.", "Classic text, badwords are not whole words.", "a very bad phrase here",
             "clean english"]
    step = _step(wordlist=words)
    out, keep, reason, metrics, _ = apply_safely(step, documents_batch(texts, lang=["en"] * 4))
    assert metrics["hate_wordlist_hits"].to_pylist() == [1, 0, 1, 0]
    assert keep.tolist() == [False, True, False, True]
    assert metrics["hate_label"].to_pylist() == ["offensive", "none", "offensive", "none"]
    assert reason.to_pylist()[0] == "offensive: 1 listed word(s)"
    step2 = _step(wordlist=words, wordlist_min_hits=2)
    assert apply_safely(step2, documents_batch(texts, lang=["en"] * 4))[1].all()


def test_shipped_ldnoobw_lists_by_language():
    """`wordlist = "ldnoobw"`: each document is matched against the list of its own language."""
    from curate.classify.wordlist import LDNOOBW_DIR, WordList, read_words, shipped_codes

    codes = shipped_codes()
    assert {"en", "de", "fr", "es", "ja", "zh", "ru", "ar", "hi", "vi"} <= set(codes)
    sources = (LDNOOBW_DIR / "SOURCES.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert sorted(row.split("\t")[0] for row in sources) == codes  # every list has its source commit
    assert "CC BY 4.0" in (LDNOOBW_DIR / "README.md").read_text(encoding="utf-8")
    en_word = read_words(LDNOOBW_DIR / "en.txt")[-1]  # any entry of the English list
    de_word = "arschloch"
    assert de_word in read_words(LDNOOBW_DIR / "de.txt")
    assert "abkrageln" in read_words(LDNOOBW_DIR / "de-AT.txt")  # Austrian list joins German
    zh_word = next(w for w in read_words(LDNOOBW_DIR / "zh.txt") if all("\u4e00" <= c <= "\u9fff" for c in w))
    texts = [f"Some text with {en_word.upper()} inside.",  # en: whole word, case-insensitive
             f"Ein Satz mit {de_word} und abkrageln.",  # de: de + de-AT
             f"An English sentence that says {de_word}.",  # German word, English list: no hit
             f"这是一个{zh_word}句子",  # zh: no spaces, matched inside the sentence
             "Plain clean English text about classes and assessments.",
             f"Texto con {en_word} pero sin lista",  # a language without a list: not judged
             f"{en_word}"]
    langs = ["en", "de", "en", "zh", "en", "xx", None]
    step = _step(wordlist="ldnoobw", langs=["ko"])
    out, keep, reason, metrics, errors = apply_safely(step, documents_batch(texts, lang=langs))
    assert not errors
    assert metrics["hate_wordlist_hits"].to_pylist() == [1, 2, 0, 1, 0, 0, 0]
    assert keep.tolist() == [False, False, True, False, True, True, True]
    # lang None goes to the Korean model (no Hangul line: 0.0); "xx" is judged by nothing (null)
    assert metrics["hate_score"].to_pylist() == [1.0, 1.0, 0.0, 1.0, 0.0, None, 0.0]
    # one shipped list for every document, and clear errors for unknown lists
    assert WordList("ldnoobw:de").count([f"x {de_word} y"], [None]).tolist() == [1]
    with pytest.raises(Exception, match="no shipped list 'xx'"):
        WordList("ldnoobw:xx")
    with pytest.raises(Exception, match="not a shipped list"):
        parse_recipe('[[steps]]\nname = "hate_speech"\nwordlist = "no_such_words.txt"\n')
    parse_recipe('[[steps]]\nname = "hate_speech"\nwordlist = "ldnoobw"\n')


def test_wordlist_matching_rules():
    from curate.classify.wordlist import compile_words

    rx = compile_words(["ass", "Bad Phrase", "バカ", "  ", "ass", "性"])
    assert rx.findall("class assets, ass. bad phrase!".casefold()) == ["ass", "bad phrase"]
    assert rx.findall("おまえはバカだ") == ["バカ"]  # kana: no word boundaries
    assert rx.findall("这台电脑的性能很好") == []  # one Han character is skipped: 性 of 性能 "performance"
    assert compile_words(["", " "]) is None


def test_trie_pattern_matches_like_the_flat_alternation():
    """The trie regex finds exactly what the longest-first flat alternation finds, on every shipped list."""
    import random
    import re

    from curate.classify.wordlist import LDNOOBW_DIR, read_words, shipped_codes, trie_pattern

    assert trie_pattern(["ab", "ac", "a", "abc"]) == "a(?:bc?|c)?"
    base = NEWS_KO.with_name("korean-english-park.dev.en.txt").read_text(encoding="utf-8").casefold()
    for code in shipped_codes():
        words = sorted({w.casefold() for w in read_words(LDNOOBW_DIR / f"{code}.txt")})
        sample = base + " " + " ".join(random.Random(0).sample(words, min(60, len(words)))) + " x".join(words[:20])
        flat = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))
                          + r")(?!\w)")
        trie = re.compile(r"(?<!\w)(?:" + trie_pattern(words) + r")(?!\w)")
        assert trie.findall(sample) == flat.findall(sample), code


def test_bad_input_is_counted_not_fatal():
    texts = ["", "\n\n\n", "\x00\x01\x02\x03", "ㅋ" * 2_000_000, ("좋은 기사 잘 읽었습니다. " * 5000 + "\n") * 30,
             "\ufffd" * 100, "ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ"]
    out, keep, reason, metrics, errors = apply_safely(_step(), documents_batch(texts, lang=[None] * len(texts)))
    assert not errors and len(keep) == len(texts)
    score = metrics["hate_score"].to_pylist()
    assert score[:3] == [0.0, 0.0, 0.0] and metrics["hate_lines"].to_pylist()[:3] == [0, 0, 0]
    assert all(0.0 <= s <= 1.0 for s in score)
    assert metrics["hate_label"].to_pylist()[:3] == ["none", "none", "none"]


def test_split_lines_cuts_long_lines():
    long_line = "가나다라마바사. " * 200
    parts = split_lines("첫 줄\n\n" + long_line, 300)
    assert parts[0] == "첫 줄" and all(len(p) <= 300 for p in parts) and len(parts) > 5


def test_recipe_validation_and_pickling():
    parse_recipe('[[steps]]\nname = "hate_speech"\nthreshold = 0.7\naggregate = "share"\n')
    with pytest.raises(Exception, match="threshold must be between 0 and 1"):
        parse_recipe('[[steps]]\nname = "hate_speech"\nthreshold = 2\n')
    with pytest.raises(Exception, match="script"):
        parse_recipe('[[steps]]\nname = "hate_speech"\nscript = "Klingon"\n')
    s = _step()
    clone = pickle.loads(pickle.dumps(s))
    assert not hasattr(clone, "_scorer")
    batch = documents_batch(["진짜 너무 재밌어요 최고", "이 쓰레기 같은 놈"])
    assert apply_safely(clone, batch)[3]["hate_score"].to_pylist() == apply_safely(s, batch)[3]["hate_score"].to_pylist()


@pytest.mark.skipif(not (os.environ.get("CURATE_SLOW_TESTS") or os.environ.get("CI")),
                    reason="set CURATE_SLOW_TESTS=1 (retrains, ~40 s); always runs in CI")
def test_shipped_model_is_reproduced_exactly(tmp_path):
    from curate.classify.train import train

    out = tmp_path / "hate_ko.ftz"
    train(DATA / "train.tsv", out, task="hate", text_field="comments", label_field="hate",
          extra=[DATA / "clean_none.txt", DATA / "informal_none.txt"])
    assert file_sha256(out) == file_sha256(HATE_KO)
    assert json.loads(Sidecar.path_for(out).read_text())["training"] == Sidecar.read(HATE_KO).training



SHARED = ROOT.parent / "shared" / "corpora"


@pytest.mark.skipif(not (SHARED / "korean_nsmc_reviews").is_dir(), reason="needs ../shared/corpora (CI has it)")
def test_extra_none_files_are_rebuilt_exactly(tmp_path):
    """scripts/make_hate_extra.py makes both shipped extra files again, byte for byte."""
    import subprocess
    import sys

    out, informal = tmp_path / "clean_none.txt", tmp_path / "informal_none.txt"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_hate_extra.py"),
                    "--titles", str(SHARED / "korean_hate_speech" / "train.news_title.txt"),
                    "--reviews", str(SHARED / "korean_nsmc_reviews" / "nsmc_raw_reviews_first312movies.jsonl"),
                    "--out", str(out), "--out-informal", str(informal)], check=True, capture_output=True)
    assert out.read_bytes() == (DATA / "clean_none.txt").read_bytes()
    assert informal.read_bytes() == (DATA / "informal_none.txt").read_bytes()
