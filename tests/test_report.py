"""`curate report`: one self-contained HTML file with real charts, and no raw PII in it.

Parsed with lxml (every section, every chart with its title, axis labels, ticks and bars), checked
for network references, for the planted personal data of tests/test_stats.py, and rendered in
headless Chromium when it is installed (Debian's ``chromium``): screenshot, DOM with the SVG charts
drawn, no console errors.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from lxml import html as lxml_html
from typer.testing import CliRunner

from curate.cli import app
from curate.errors import CurateError
from curate.stats import charts as C
from curate.stats.excerpts import excerpt, regex_mask
from curate.stats.report import write_report

from stats_util import PLANTED

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def real_report(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    res = CliRunner().invoke(app, ["report", str(runs["run"]), "-o", str(out), "--examples", "5"])
    assert res.exit_code == 0, res.output
    assert "charts" in res.output and str(out) in res.output
    return out


@pytest.fixture(scope="module")
def syn_report(syn, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "syn.html"
    write_report(syn["run"], out)
    return out


def _doc(path: Path):
    return lxml_html.fromstring(path.read_bytes())


def _charts(section) -> list:
    return [el for el in section.iter() if isinstance(el.tag, str) and el.tag.endswith("svg")]


def _texts(svg) -> list[str]:
    return [t.text_content() for t in svg.iter() if isinstance(t.tag, str) and t.tag.endswith("text")]


def _check_chart(svg) -> None:
    """A real chart: a title, bars, and labelled axes with tick values."""
    title = [t for t in svg if isinstance(t.tag, str) and t.tag.endswith("title")]
    assert title and title[0].text_content().strip(), "chart without a <title>"
    bars = [r for r in svg.iter() if isinstance(r.tag, str) and r.tag.endswith("rect")]
    assert bars, f"chart {title[0].text_content()!r} draws nothing"
    texts = _texts(svg)
    assert len(texts) >= 4, f"chart {title[0].text_content()!r} has too few labels: {texts}"
    assert any(re.search(r"\d", t) for t in texts), f"chart {title[0].text_content()!r} has no tick values"
    kind = svg.get("data-chart")
    assert kind in ("hbar", "stacked_hbar", "histogram")
    if kind == "histogram":
        assert any(t in texts for t in ("documents", "groups", "clusters")), "histogram without a y-axis label"
    assert float(svg.get("width")) > 100 and float(svg.get("height")) > 60


def test_report_sections_and_charts(real_report, runs):
    doc = _doc(real_report)
    ids = [s.get("id") for s in doc.iter("section")]
    assert ids[:4] == ["funnel", "sources", "reasons", "metrics"]
    assert {"language", "duplicates", "examples", "recipe"} <= set(ids)
    nav = [a.get("href") for a in doc.xpath("//nav//a")]
    assert nav == [f"#{i}" for i in ids]
    m = json.loads((runs["run"] / "manifest.json").read_text())
    cards = {c.xpath(".//div[@class='card-label']")[0].text_content(): c.xpath(".//div[@class='card-value']")[0].text_content()
             for c in doc.xpath("//div[@class='card']")}
    assert cards["read"] == f"{m['counts']['read']:,}" and cards["kept"] == f"{m['counts']['kept']:,}"
    sections = {s.get("id"): s for s in doc.iter("section")}
    total = 0
    for sid, sec in sections.items():
        for svg in _charts(sec):
            _check_chart(svg)
            total += 1
    assert total >= 10
    funnel = _charts(sections["funnel"])[0]
    labels = _texts(funnel)
    for f in m["funnel"]:
        assert any(t.endswith(f["step"]) for t in labels)
    assert f"{m['counts']['read']:,} read" in labels and "documents" in labels
    # every numeric metric that varies has its histogram
    metric_titles = [svg[0].text_content() for svg in _charts(sections["metrics"])]
    for name in ("n_chars", "short_words", "short_chars"):
        assert any(t.startswith(name + "  ·") for t in metric_titles), (name, metric_titles)
    hist = next(svg for svg in _charts(sections["metrics"]) if svg[0].text_content().startswith("short_words"))
    assert "kept" in _texts(hist) and "dropped by short_text" in _texts(hist)
    assert any("short_words (words" in t for t in _texts(hist))  # axis label with unit
    # the sources chart: one bar per source, each at 100 %
    assert set(m["counts_by_source"]) <= set(_texts(_charts(sections["sources"])[0]))


def test_report_is_self_contained(real_report):
    text = real_report.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text
    assert re.findall(r"https?://[^\s\"'<]+", text) == ["http://www.w3.org/2000/svg"] * text.count("http://www.w3.org/2000/svg")
    doc = _doc(real_report)
    assert not doc.xpath("//link") and not doc.xpath("//img") and not doc.xpath("//iframe")


def test_report_never_holds_raw_pii(real_report, runs):
    text = real_report.read_text(encoding="utf-8")
    for value in PLANTED:
        assert value not in text, f"raw PII {value!r} in the report"
        assert value.replace("-", "") not in text
    doc = _doc(real_report)
    examples = doc.xpath("//section[@id='examples']")[0]
    quotes = [q.text_content() for q in examples.iter("blockquote")]
    planted = [q for q in quotes if "contact-box-wrapper" in q]
    assert len(planted) == len(PLANTED), quotes  # html_residue dropped them; their input text is shown, escaped
    assert all("<|" in q for q in planted)
    assert not doc.xpath("//div[@class='contact-box-wrapper-outer']")  # escaped, not markup
    assert "Anonymized:" in examples.text_content()


def test_report_regex_fallback_when_the_pii_step_is_missing(runs, tmp_path, monkeypatch):
    import curate.pipeline.recipe as recipe

    def no_pii(spec, *args, **kwargs):
        if spec.get("name") == "pii":
            raise CurateError("the pii step needs presidio-analyzer (simulated)")
        return build(spec, *args, **kwargs)

    build = recipe.build_step
    monkeypatch.setattr(recipe, "build_step", no_pii)
    out = tmp_path / "r.html"
    info = write_report(runs["run"], out, examples=5)
    assert info["anonymizer"] == "regex only"
    text = out.read_text(encoding="utf-8")
    assert "conservative regex only" in text and "simulated" in text
    for value in PLANTED:
        assert value not in text


def test_regex_mask_and_excerpt():
    s = "전화 010-1234-5678 / 010 1234 5678, 메일 a.b+c@mail.example.co.kr, 계좌 110-123-456789, 2024년 5월"
    out = regex_mask(s)
    assert "1234" not in out and "@" not in out and "456789" not in out
    assert "2024년" in out  # short numbers stay readable
    assert out.count("<|digits|>") == 3 and "<|email|>" in out
    long = "단어 " * 200
    e = excerpt(long, 50)
    assert len(e) <= 52 and e.endswith("…")
    assert excerpt("a\n\n\n\nb") == "a\nb"


def test_synthetic_report_has_every_dedicated_section(syn_report, syn):
    doc = _doc(syn_report)
    sections = {s.get("id"): s for s in doc.iter("section")}
    assert {"funnel", "sources", "reasons", "metrics", "language", "hate", "duplicates", "pii", "tokens",
            "examples", "recipe"} <= set(sections)
    for sec in sections.values():
        for svg in _charts(sec):
            _check_chart(svg)
    titles = lambda sid: [svg[0].text_content() for svg in _charts(sections[sid])]  # noqa: E731
    assert "Language mix" in titles("language") and any("lid_score" in t for t in titles("language"))
    assert any("hate_score" in t for t in titles("hate")) and any("hate_label" in t for t in titles("hate"))
    assert any("Near-duplicate clusters" in t for t in titles("duplicates"))
    assert any("Exact-duplicate groups" in t for t in titles("duplicates"))
    assert titles("pii") == ["PII replaced, by type"]
    pii_labels = _texts(_charts(sections["pii"])[0])
    for t in ("acc", "rrn", "tell", "email", "card"):
        assert t in pii_labels
    shards = json.loads((syn["run"].parent / "run-shards" / "manifest.json").read_text())
    tok = _texts(_charts(sections["tokens"])[0])
    assert "train" in tok and "valid" in tok and "tokens" in tok
    train_web = shards["counts"]["train"]["by_source"]["web"]["tokens"]
    assert f"{train_web:,}" in sections["tokens"].text_content()
    cards = [c.text_content() for c in doc.xpath("//div[@class='card']")]
    assert any(c.startswith("tokens") for c in cards)
    # planted PII of the synthetic input (010-xxxx-5678, kimNN@example.com, 900101-1234567) is masked
    text = syn_report.read_text(encoding="utf-8")
    assert "900101-1234567" not in text and "@example.com" not in text and "-5678" not in text
    assert "&lt;|" in text


def test_report_needs_a_run(runs, tmp_path):
    res = CliRunner().invoke(app, ["report", str(runs["raw"]), "-o", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "needs a `curate run`" in res.output
    res = CliRunner().invoke(app, ["report", str(runs["run"]), "-o", str(tmp_path / "x.html"), "--shards", str(tmp_path)])
    assert res.exit_code == 2 and "no shards manifest" in res.output


def test_chart_helpers():
    assert C.nice_ticks(0, 5235) == [0, 2000, 4000, 6000]
    assert C.nice_ticks(0, 1, integer=True)[-1] >= 1 and all(float(t).is_integer() for t in C.nice_ticks(0, 3, integer=True))
    assert C.compact(1234) == "1.2k" and C.compact(5_600_000) == "5.6M" and C.compact(999) == "999"
    assert C.percent(0.9996) == ">99.9%" and C.percent(0.0004) == "<0.1%" and C.percent(0.25) == "25%"
    svg = C.histogram([("a", [1, 2, 3], C.KEPT)], labels=["x", "y", "z"], title="t", xlabel="things (unit)")
    assert svg.count("<rect") >= 3 + 0 and "things (unit)" in svg and "<title>t</title>" in svg
    svg = C.hbar([("한국어 레이블", 10), ("b", 0)], title="t", xlabel="documents")
    assert "한국어 레이블" in svg and "&lt;" not in svg
    assert "&lt;script&gt;" in C.hbar([("<script>", 1)], title="<b>", xlabel="x")


# ---------------------------------------------------------------------------------------------------
# headless Chromium


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("which", ["real", "synthetic"])
def test_report_renders_in_headless_chromium(which, real_report, syn_report, tmp_path):
    report = real_report if which == "real" else syn_report
    flags = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    url = report.resolve().as_uri()
    shot = tmp_path / "shot.png"
    res = subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1400,4000", url],
                         capture_output=True, text=True, timeout=180)
    assert shot.is_file(), res.stderr[-2000:]
    assert _png_size(shot) == (1400, 4000)
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few kilobytes
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for log in (res.stderr, dom.stderr):
        assert "Uncaught" not in log and "ERROR:CONSOLE" not in log, log[-2000:]
    doc = lxml_html.fromstring(dom.stdout)
    svgs = [el for el in doc.iter() if isinstance(el.tag, str) and el.tag.endswith("svg")]
    drawn = [s for s in svgs if any(isinstance(c.tag, str) and c.tag.endswith(("rect", "path")) for c in s.iter())]
    assert len(svgs) >= 10 and len(drawn) == len(svgs)
    assert doc.xpath("//section[@id='funnel']") and doc.xpath("//section[@id='examples']")
