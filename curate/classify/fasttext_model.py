"""fastText models: offline loading (once per process), batch prediction and text preparation.

The full fastText package is ``fasttext-numpy2-wheel`` (the ``classify`` extra): it trains and
predicts on lists under numpy 2 (``fasttext``/``fasttext-wheel`` break ``predict`` under numpy 2;
``fasttext-predict`` installs into the same ``fasttext/`` folder and cannot train nor predict on a
list). Models are files: the ones curate ships live in ``curate/models/`` (inside the package, so
the wheel carries them); users pass paths to better ones. Nothing is downloaded, ever.

A model trained by ``curate classifier train`` has a sidecar ``<model>.json`` that records the
preprocessing it was trained with; :class:`TextClassifier` applies the same preprocessing before
predicting, so training and inference can never disagree.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.errors import CurateError
from curate.pipeline.step import as_text_array

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
LID176 = MODELS_DIR / "lid176" / "lid.176.ftz"
HATE_KO = MODELS_DIR / "hate_ko" / "hate_ko.ftz"

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, int, int], Any] = {}


def require_fasttext():
    """Import the full fastText package or say how to install it."""
    try:
        import fasttext  # noqa: F401
        import fasttext.FastText  # the full package (fasttext-predict has no FastText module)
    except ImportError as exc:
        raise CurateError("fastText is not installed: pip install 'curate[classify]' "
                          "(installs fasttext-numpy2-wheel)") from exc
    if not hasattr(fasttext, "train_supervised"):
        raise CurateError("the installed 'fasttext' module cannot train (is it fasttext-predict?); "
                          "pip uninstall fasttext-predict && pip install --force-reinstall fasttext-numpy2-wheel")
    return fasttext


def load_fasttext(path: str | Path) -> Any:
    """Load a fastText model file (``.bin`` or quantized ``.ftz``), once per process and file version."""
    path = Path(path)
    if not path.is_file():
        raise CurateError(f"fastText model {path} not found")
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            fasttext = require_fasttext()
            fasttext.FastText.eprint = lambda *a, **k: None  # its load_model warning is noise here
            try:
                model = fasttext.load_model(str(path))
            except ValueError as exc:
                raise CurateError(f"{path} is not a fastText model: {exc}") from exc
            if model.f.getArgs().model.name != "supervised":
                raise CurateError(f"{path} is a fastText word-vector model, not a classifier")
            _CACHE[key] = model
    return model


def predict(model: Any, lines: Sequence[str], k: int = 1) -> tuple[list[list[str]], list[list[float]]]:
    """Top-``k`` labels (without ``__label__``) and probabilities for each line (``k=-1``: all).

    Lines must not contain ``\\n`` (fastText reads one line at a time): use :func:`one_line`.
    Calls the C++ ``multilinePredict`` on the whole list (the Python wrapper adds a copy per line).
    """
    if not lines:
        return [], []
    labels, probs = model.f.multilinePredict([s + "\n" for s in lines], k, 0.0, "replace")
    return [[lab[9:] if lab.startswith("__label__") else lab for lab in row] for row in labels], probs


def probability_matrix(model: Any, lines: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """(n, len(labels)) probabilities of every label for every line."""
    index = {lab: i for i, lab in enumerate(labels)}
    out = np.zeros((len(lines), len(labels)), dtype=np.float64)
    labs, probs = predict(model, lines, k=-1)
    for r, (row_l, row_p) in enumerate(zip(labs, probs)):
        for lab, p in zip(row_l, row_p):
            j = index.get(lab)
            if j is not None:
                out[r, j] = p
    return out


def model_labels(model: Any) -> list[str]:
    return [lab[9:] if lab.startswith("__label__") else lab for lab in model.get_labels()]


# ---------------------------------------------------------------------------------------------------
# text preparation (vectorized, pyarrow kernels)

WHITESPACE_RE = r"[\s\x{0}\x{85}\x{A0}\x{1680}\x{2000}-\x{200B}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}]+"


def one_line(text: pa.Array) -> pa.Array:
    """Newlines, tabs, NUL and every Unicode space -> one space; ends trimmed (fastText reads lines)."""
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, WHITESPACE_RE, " "))


def squeeze_repeats(text: pa.Array, max_repeat: int = 2) -> pa.Array:
    """Runs of one character longer than ``max_repeat`` shrink to ``max_repeat`` ("ㅋㅋㅋㅋㅋ" -> "ㅋㅋ").

    RE2 (pyarrow's regex engine) has no backreferences, so this is Python's ``re`` over the rows;
    it runs in the classifier paths only, where fastText dominates the cost.
    """
    if max_repeat < 1:
        return text
    rx = _repeat_re(max_repeat)
    rep = r"\1" * max_repeat
    return pa.array([rx.sub(rep, s) if s else s for s in text.to_pylist()], type=pa.string())


@lru_cache(maxsize=8)
def _repeat_re(max_repeat: int) -> "re.Pattern[str]":
    return re.compile(r"(.)\1{%d,}" % max_repeat, re.S)


def to_jamo(text: pa.Array) -> pa.Array:
    """Hangul syllables -> conjoining jamo (Unicode NFD): "갔다" -> "ㄱㅏㅆㄷㅏ" as U+1100.. letters.

    fastText's character n-grams then see initial consonants, vowels and final consonants, so
    spelling variants that Korean comments use to dodge filters ("시1발", "ㅅㅂ", "씨빨") share n-grams.
    """
    return pc.utf8_normalize(text, "NFD")


@dataclass
class Preprocess:
    """The text preparation a classifier was trained with (stored in its sidecar JSON)."""

    lowercase: bool = True
    jamo: bool = False
    squeeze: int = 0  # > 0: shrink runs of one character to this many
    digits: bool = False  # True: every digit -> 0 (numbers carry no class signal)
    max_chars: int = 0  # > 0: cut each text at this many characters
    # "keep"; "remove": spaces removed (character n-grams then cross word boundaries, which Korean
    # comments place loosely); "both": the text followed by its space-free copy
    spacing: str = "keep"

    def __post_init__(self) -> None:
        if self.spacing not in ("keep", "remove", "both"):
            raise ValueError(f"spacing must be keep, remove or both (got {self.spacing!r})")

    def apply(self, text: pa.Array) -> pa.Array:
        text = as_text_array(text)
        if self.max_chars > 0:
            text = pc.utf8_slice_codeunits(text, 0, self.max_chars)
        text = one_line(text)
        if self.lowercase:
            text = pc.utf8_lower(text)
        if self.digits:
            text = pc.replace_substring_regex(text, r"\d", "0")
        if self.squeeze > 0:
            text = squeeze_repeats(text, self.squeeze)
        if self.spacing != "keep":
            joined = pc.replace_substring(text, " ", "")
            text = joined if self.spacing == "remove" else pc.utf8_trim_whitespace(
                pc.binary_join_element_wise(text, joined, " "))
        if self.jamo:
            text = to_jamo(text)
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Sidecar:
    """``<model>.json`` beside a trained model: what it is and how to reproduce it."""

    task: str
    labels: list[str]
    preprocess: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    negative: str | None = None  # the "clean" label (binary metrics, toxicity = 1 - P(negative))
    reproduce: str = ""  # the command that made this model
    curate_version: str = ""
    fasttext_package: str = ""

    @staticmethod
    def path_for(model: Path) -> Path:
        return model.with_suffix(".json")

    @classmethod
    def read(cls, model: Path) -> "Sidecar | None":
        p = cls.path_for(model)
        if not p.is_file():
            return None
        raw = json.loads(p.read_text(encoding="utf-8"))
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)

    def write(self, model: Path) -> Path:
        p = self.path_for(model)
        p.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        return p


class TextClassifier:
    """A fastText classifier plus the preprocessing of its sidecar (none: lowercase + one line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.model = load_fasttext(self.path)
        self.sidecar = Sidecar.read(self.path)
        pre = dict(self.sidecar.preprocess) if self.sidecar else {"lowercase": False}
        self.preprocess = Preprocess(**{k: v for k, v in pre.items() if k in Preprocess.__dataclass_fields__})
        self.labels = model_labels(self.model)

    def proba(self, text: pa.Array | Sequence[str]) -> np.ndarray:
        """(n, len(self.labels)) class probabilities for raw texts (preprocessing applied here)."""
        arr = text if isinstance(text, (pa.Array, pa.ChunkedArray)) else pa.array(list(text), pa.string())
        lines = self.preprocess.apply(arr).to_pylist()
        return probability_matrix(self.model, lines, self.labels)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fasttext_version() -> str:
    try:
        from importlib.metadata import version

        return f"fasttext-numpy2-wheel {version('fasttext-numpy2-wheel')}"
    except Exception:  # pragma: no cover - another fastText build
        return "fasttext (unknown build)"


