"""Train and evaluate fastText text classifiers: ``curate classifier train`` / ``curate classifier eval``.

The way Dolma's fastText taggers are made (a labeled file -> a small, fast ``.bin``/``.ftz``
model), reproducibly:

* **Data**: fastText lines (``__label__x text``), or TSV/CSV/JSONL records with a text and a label
  field (``--text-field``, ``--label-field``). Empty texts and records without a label are skipped
  and counted.
* **Task presets**: ``--task`` names the task and picks preprocessing and training defaults
  (``hate``: Hangul jamo, repeated characters squeezed, character n-grams; ``quality``: lowercase,
  digits folded, long texts cut). Any setting can be overridden. The preprocessing is stored in the
  model's sidecar ``<model>.json`` and applied again at prediction time.
* **Determinism**: one training thread and a fixed seed. fastText's supervised training with
  ``thread=1`` is a single SGD pass sequence seeded from ``seed``, so the same data, settings and
  fastText build give the same model bytes (tests check it). The sidecar records the data's
  SHA-256, every setting and the fastText build.
* **Validation split**: ``--valid-fraction`` holds out a deterministic share of the records by a
  hash of their text (XXH64), so a text and its duplicates always fall on the same side.
* **Metrics**: per-label precision, recall, F1, macro-F1, accuracy, confusion matrix; with
  ``negative`` set (e.g. ``none``), also the binary view "any other label vs negative": ROC-AUC of
  ``1 - P(negative)`` and binary macro-F1 at a threshold.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import xxhash

from curate.classify.fasttext_model import (Preprocess, Sidecar, TextClassifier, fasttext_version, file_sha256,
                                            probability_matrix, require_fasttext)
from curate.errors import CurateError

# ---------------------------------------------------------------------------------------------------
# task presets


@dataclass
class TrainParams:
    """fastText supervised-training settings (names as in fastText)."""

    epoch: int = 25
    lr: float = 0.5
    dim: int = 50
    wordNgrams: int = 2
    minn: int = 0
    maxn: int = 0
    minCount: int = 1
    bucket: int = 2_000_000
    loss: str = "softmax"
    seed: int = 1
    thread: int = 1
    quantize: bool = True  # save a quantized .ftz (smaller; same predictions to ~1e-2)
    cutoff: int = 0  # quantize: keep only this many words and n-grams (0: all)
    dsub: int = 2  # quantize: dimensions per sub-quantizer
    qnorm: bool = False


@dataclass
class TaskPreset:
    preprocess: Preprocess
    train: TrainParams
    negative: str | None = None  # the "clean" label of a binary view (metrics), e.g. "none"
    description: str = ""


PRESETS: dict[str, TaskPreset] = {
    # Korean toxic comments (kocohub/korean-hate-speech): the settings chosen by cross-validation on
    # the training part (docs/quality.md, "Hate speech"): repeated characters squeezed, the text plus
    # its space-free copy, character 1-4-grams, no word n-grams.
    "hate": TaskPreset(
        preprocess=Preprocess(lowercase=True, jamo=False, squeeze=2, digits=False, max_chars=2000, spacing="both"),
        train=TrainParams(epoch=25, lr=0.1, dim=50, wordNgrams=1, minn=1, maxn=4, minCount=2, bucket=100_000,
                          quantize=True, dsub=2, cutoff=0),
        negative="none",
        description="toxic comments: none / offensive / hate"),
    # document quality (e.g. Wikipedia-like vs web) in the manner of Dolma/DCLM fastText taggers
    "quality": TaskPreset(
        preprocess=Preprocess(lowercase=True, jamo=False, squeeze=3, digits=True, max_chars=20_000),
        train=TrainParams(epoch=10, lr=0.1, dim=100, wordNgrams=2, minn=0, maxn=0, minCount=2),
        description="document quality: high / low"),
    "generic": TaskPreset(preprocess=Preprocess(lowercase=True), train=TrainParams(), description="any labels"),
}


# ---------------------------------------------------------------------------------------------------
# data


@dataclass
class Dataset:
    texts: list[str]
    labels: list[str]
    path: str = ""
    sha256: str = ""
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, mask: np.ndarray) -> "Dataset":
        idx = np.flatnonzero(mask)
        return Dataset([self.texts[i] for i in idx], [self.labels[i] for i in idx], self.path, self.sha256)


def _guess_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".gz", ".zst"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".tsv"):
        return "tsv"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return "fasttext"


def _open_text(path: Path) -> io.TextIOBase:
    name = path.name.lower()
    if name.endswith(".gz"):
        import gzip

        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    if name.endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")), encoding="utf-8",
                                errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def clean_label(label: Any) -> str:
    s = str(label).strip()
    if s.startswith("__label__"):
        s = s[9:]
    return "_".join(s.split())  # fastText labels cannot hold spaces


def read_dataset(path: str | Path, fmt: str = "auto", text_field: str = "text", label_field: str = "label") -> Dataset:
    """Read labeled texts (module docstring). Raises CurateError with the line number on bad input."""
    path = Path(path)
    if not path.is_file():
        raise CurateError(f"data file {path} not found")
    fmt = _guess_format(path) if fmt == "auto" else fmt
    texts: list[str] = []
    labels: list[str] = []
    skipped = {"no_label": 0, "empty_text": 0, "bad_record": 0}

    def add(text: Any, label: Any) -> None:
        if label is None or clean_label(label) == "":
            skipped["no_label"] += 1
            return
        t = "" if text is None else str(text)
        if not t.strip():
            skipped["empty_text"] += 1
            return
        texts.append(t)
        labels.append(clean_label(label))

    with _open_text(path) as f:
        if fmt == "fasttext":
            for line in f:
                line = line.rstrip("\n").rstrip("\r")
                if not line.strip():
                    continue
                words = line.split(" ")
                labs = [w for w in words if w.startswith("__label__")]
                text = " ".join(w for w in words if not w.startswith("__label__"))
                add(text, labs[0] if labs else None)
        elif fmt in ("tsv", "csv"):
            csv.field_size_limit(1 << 30)
            reader = csv.DictReader(f, delimiter="\t" if fmt == "tsv" else ",",
                                    quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL)
            fields = reader.fieldnames or []
            for name in (text_field, label_field):
                if name not in fields:
                    raise CurateError(f"{path}: no column {name!r} (columns: {', '.join(fields)}); "
                                      "use --text-field / --label-field")
            for rec in reader:
                add(rec.get(text_field), rec.get(label_field))
        elif fmt == "jsonl":
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CurateError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
                if not isinstance(rec, dict):
                    skipped["bad_record"] += 1
                    continue
                add(rec.get(text_field), rec.get(label_field))
        else:
            raise CurateError(f"unknown data format {fmt!r} (fasttext, tsv, csv, jsonl)")
    if not texts:
        raise CurateError(f"{path}: no labeled texts found (format {fmt}; skipped {skipped})")
    return Dataset(texts, labels, str(path), file_sha256(path), {k: v for k, v in skipped.items() if v})


def split_mask(texts: Sequence[str], fraction: float, seed: int = 0) -> np.ndarray:
    """True for the held-out share of ``texts``: XXH64(text, seed) mod 10,000 < fraction x 10,000."""
    cut = int(round(fraction * 10_000))
    return np.fromiter((xxhash.xxh64_intdigest(t.encode("utf-8"), seed) % 10_000 < cut for t in texts),
                       dtype=bool, count=len(texts))


# ---------------------------------------------------------------------------------------------------
# training


def _fasttext_lines(texts: Iterable[str], labels: Iterable[str]) -> str:
    return "".join(f"__label__{lab} {t}\n" for t, lab in zip(texts, labels))


def fit(data: Dataset, preprocess: Preprocess, params: TrainParams) -> Any:
    """Train a fastText model (preprocessing applied here) and return it loaded in this process.

    The training itself runs in a fresh Python process (curate.classify._fasttext_child): measured
    with fasttext-numpy2-wheel 0.9.2, fastText reads some memory before writing it, so a second
    training in a long-lived process can differ from the first or stop with "Encountered NaN"
    (about every other training with small bucket counts). A fresh process, with large allocations
    always fresh from the OS, gives the same model bytes every time (tests check it).
    """
    import subprocess
    import sys

    fasttext = require_fasttext()
    prepared = preprocess.apply(pa.array(data.texts, pa.string())).to_pylist()
    with tempfile.TemporaryDirectory(prefix="curate-ft-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text(_fasttext_lines(prepared, data.labels), encoding="utf-8")
        kwargs = {k: v for k, v in asdict(params).items() if k not in ("quantize", "cutoff", "dsub", "qnorm")}
        kwargs["verbose"] = 0
        quantize = None
        if params.quantize:
            quantize = {"qnorm": params.qnorm, "retrain": params.cutoff > 0, "cutoff": params.cutoff,
                        "dsub": params.dsub, "verbose": 0, "thread": params.thread}
        job = Path(tmp) / "job.json"
        out = Path(tmp) / "model.bin"
        job.write_text(json.dumps({"input": str(train_file), "params": kwargs, "quantize": quantize,
                                   "out": str(out)}), encoding="utf-8")
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(64 * 1024))
        proc = subprocess.run([sys.executable, "-m", "curate.classify._fasttext_child", str(job)], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            msg = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise CurateError(f"fastText training failed: {msg}")
        fasttext.FastText.eprint = lambda *a, **k: None
        model = fasttext.load_model(str(out))
    return model


def train(data_path: str | Path, out: str | Path, task: str = "generic", fmt: str = "auto", text_field: str = "text",
          label_field: str = "label", valid_fraction: float = 0.0, split_seed: int = 0,
          preprocess: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
          negative: str | None = None, extra: Sequence[str | Path] = ()) -> dict[str, Any]:
    """Train a classifier from a labeled file and write ``out`` (+ ``out`` with ``.json``).

    With ``valid_fraction`` > 0 the held-out share of ``data_path`` is evaluated and left out of
    training; the metrics go into the sidecar. ``extra`` files (any supported format) are added to
    the training side only, never held out (e.g. clean text of another domain labeled ``none``).
    Returns the sidecar as a dict.
    """
    preset = PRESETS.get(task, PRESETS["generic"])
    pre = replace(preset.preprocess, **(preprocess or {}))
    tp = replace(preset.train, **(params or {}))
    negative = negative if negative is not None else preset.negative
    data = read_dataset(data_path, fmt, text_field, label_field)
    held = split_mask(data.texts, valid_fraction, split_seed) if valid_fraction > 0 else np.zeros(len(data), bool)
    train_set, valid_set = data.subset(~held), data.subset(held)
    extras = [read_dataset(e, "auto", text_field, label_field) for e in extra]
    trained_on = len(train_set)
    for e in extras:
        train_set = Dataset(train_set.texts + e.texts, train_set.labels + e.labels, train_set.path, train_set.sha256)
    if len(set(train_set.labels)) < 2:
        raise CurateError(f"{data_path}: training needs at least two labels (found {sorted(set(train_set.labels))})")
    out = Path(out)
    if out.suffix not in (".bin", ".ftz"):
        raise CurateError(f"--out {out}: the model file name must end in .ftz (quantized) or .bin")
    if out.suffix == ".bin":
        tp = replace(tp, quantize=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = fit(train_set, pre, tp)
    tmp = out.with_name(f".{out.name}.tmp")
    model.save_model(str(tmp))
    os.replace(tmp, out)
    from curate import __version__

    counts = {lab: data.labels.count(lab) for lab in sorted(set(data.labels))}
    sidecar = Sidecar(task=task, labels=sorted(set(data.labels)), preprocess=pre.to_dict(), training=asdict(tp),
                      data={"file": Path(data.path).name, "sha256": data.sha256, "format": fmt if fmt != "auto" else
                            _guess_format(Path(data.path)), "text_field": text_field, "label_field": label_field,
                            "records": len(data), "label_counts": counts, "skipped": data.skipped,
                            "valid_fraction": valid_fraction, "split_seed": split_seed,
                            "split_rule": "XXH64(text, split_seed) mod 10000 < valid_fraction x 10000 -> held out",
                            "trained_on": trained_on,
                            "extra": [{"file": Path(e.path).name, "sha256": e.sha256, "records": len(e),
                                       "label_counts": {lab: e.labels.count(lab) for lab in sorted(set(e.labels))}}
                                      for e in extras]},
                      negative=negative, reproduce=reproduce_command(data_path, out, task, fmt, text_field, label_field,
                                                                     valid_fraction, split_seed, preprocess, params,
                                                                     extra),
                      curate_version=__version__, fasttext_package=fasttext_version())
    sidecar.write(out)
    if len(valid_set):
        sidecar.metrics.update(evaluate_model(out, valid_set, negative=negative).summary())
        sidecar.write(out)
    return asdict(sidecar)


def reproduce_command(data_path: str | Path, out: str | Path, task: str, fmt: str, text_field: str, label_field: str,
                      valid_fraction: float, split_seed: int, preprocess: dict | None, params: dict | None,
                      extra: Sequence[str | Path] = ()) -> str:
    """The ``curate classifier train`` command line that makes this model again."""
    parts = ["curate classifier train", str(data_path), "--task", task, "--out", str(out)]
    for e in extra:
        parts += ["--extra", str(e)]
    if fmt != "auto":
        parts += ["--format", fmt]
    if text_field != "text":
        parts += ["--text-field", text_field]
    if label_field != "label":
        parts += ["--label-field", label_field]
    if valid_fraction:
        parts += ["--valid-fraction", f"{valid_fraction:g}", "--split-seed", str(split_seed)]
    for k, v in (preprocess or {}).items():
        parts += ["--pre", f"{k}={json.dumps(v)}"]
    for k, v in (params or {}).items():
        parts += ["--param", f"{k}={json.dumps(v)}"]
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------------
# evaluation


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN if one class."""
    y = np.asarray(y, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    ranks = np.empty(len(s), dtype=np.float64)
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2.0 + 1.0
        i = j + 1
    r = np.empty_like(ranks)
    r[order] = ranks
    return float((r[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def prf(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    out = {}
    g = np.asarray(gold, dtype=object)
    p = np.asarray(pred, dtype=object)
    for lab in labels:
        tp = int(((g == lab) & (p == lab)).sum())
        fp = int(((g != lab) & (p == lab)).sum())
        fn = int(((g == lab) & (p != lab)).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[lab] = {"precision": precision, "recall": recall, "f1": f1, "support": int((g == lab).sum())}
    return out


@dataclass
class EvalResult:
    labels: list[str]
    n: int
    accuracy: float
    per_label: dict[str, dict[str, float]]
    macro_f1: float
    confusion: list[list[int]]  # rows: gold, columns: predicted, in ``labels`` order
    negative: str | None = None
    binary: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        d = {"valid_records": self.n, "accuracy": round(self.accuracy, 4), "macro_f1": round(self.macro_f1, 4)}
        if self.binary:
            d.update({f"binary_{k}": (round(v, 4) if isinstance(v, float) else v) for k, v in self.binary.items()})
        return d

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        lines = [f"{self.n} records  accuracy {self.accuracy:.4f}  macro-F1 {self.macro_f1:.4f}", "",
                 f"{'label':<16}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}"]
        for lab in self.labels:
            m = self.per_label[lab]
            lines.append(f"{lab:<16}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>10}")
        lines += ["", "confusion (rows gold, columns predicted):", " " * 16 + "".join(f"{lab[:10]:>11}" for lab in self.labels)]
        for lab, row in zip(self.labels, self.confusion):
            lines.append(f"{lab:<16}" + "".join(f"{v:>11}" for v in row))
        if self.binary:
            b = self.binary
            lines += ["", f"binary (anything but {self.negative!r} vs {self.negative!r}), score = 1 - P({self.negative}):",
                      f"  ROC-AUC {b['roc_auc']:.4f}  macro-F1 {b['macro_f1']:.4f}  positive-class F1 {b['positive_f1']:.4f}"
                      f"  at threshold {b['threshold']:g}"]
        return "\n".join(lines)


def evaluate_probs(probs: np.ndarray, labels: Sequence[str], gold: Sequence[str], negative: str | None = None,
                   threshold: float = 0.5) -> EvalResult:
    """Metrics from a (n, labels) probability matrix and gold labels."""
    labels = list(labels)
    extra = sorted(set(gold) - set(labels))
    all_labels = labels + extra
    pred = [labels[i] for i in probs.argmax(axis=1)] if len(labels) else []
    per = prf(gold, pred, all_labels)
    idx = {lab: i for i, lab in enumerate(all_labels)}
    conf = np.zeros((len(all_labels), len(all_labels)), dtype=np.int64)
    for g, p in zip(gold, pred):
        conf[idx[g], idx[p]] += 1
    present = [lab for lab in all_labels if per[lab]["support"] > 0]
    macro = float(np.mean([per[lab]["f1"] for lab in present])) if present else 0.0
    acc = float(np.mean([g == p for g, p in zip(gold, pred)])) if len(gold) else 0.0
    res = EvalResult(labels=all_labels, n=len(gold), accuracy=acc, per_label=per, macro_f1=macro,
                     confusion=conf.tolist(), negative=negative)
    if negative is not None and negative in labels:
        score = 1.0 - probs[:, labels.index(negative)]
        y = np.asarray([g != negative for g in gold], dtype=bool)
        yp = score >= threshold
        bp = prf(list(np.where(y, "pos", "neg")), list(np.where(yp, "pos", "neg")), ["pos", "neg"])
        res.binary = {"roc_auc": roc_auc(y, score), "macro_f1": (bp["pos"]["f1"] + bp["neg"]["f1"]) / 2,
                      "positive_f1": bp["pos"]["f1"], "threshold": threshold}
    return res


def evaluate_model(model_path: str | Path, data: Dataset | str | Path, negative: str | None = None,
                   threshold: float = 0.5, fmt: str = "auto", text_field: str = "text",
                   label_field: str = "label") -> EvalResult:
    """Evaluate a model (with its sidecar's preprocessing) on a labeled dataset or file."""
    clf = TextClassifier(model_path)
    if not isinstance(data, Dataset):
        data = read_dataset(data, fmt, text_field, label_field)
    if negative is None and clf.sidecar is not None:
        negative = clf.sidecar.negative or PRESETS.get(clf.sidecar.task, PRESETS["generic"]).negative
    probs = clf.proba(data.texts)
    return evaluate_probs(probs, clf.labels, data.labels, negative=negative, threshold=threshold)


def evaluate_fitted(model: Any, preprocess: Preprocess, data: Dataset, negative: str | None = None,
                    threshold: float = 0.5) -> EvalResult:
    """Evaluate an in-memory fastText model (experiments: no file round trip)."""
    labels = [lab[9:] for lab in model.get_labels()]
    lines = preprocess.apply(pa.array(data.texts, pa.string())).to_pylist()
    probs = probability_matrix(model, lines, labels)
    return evaluate_probs(probs, labels, data.labels, negative=negative, threshold=threshold)


