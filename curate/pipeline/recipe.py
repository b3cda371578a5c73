"""Recipes: TOML files that compose steps in order (``filters/*.toml``).

    name = "my-recipe"
    description = "..."
    [[steps]]
    name = "short_text"      # a registered step, or "package.module:function" for a user step
    id = "short_strict"      # optional; needed when a step appears twice
    min_words = 5            # that step's parameters

Everything is validated when the recipe is loaded, before any data is read: unknown steps, unknown
or mistyped parameters and missing files fail with a message naming the step and parameter.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import tomllib
from dataclasses import asdict, dataclass, is_dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from curate.errors import CurateError
from curate.pipeline.params import ParamError, build_params
from curate.pipeline.step import STEPS, GlobalStep, Step, StepResult
from curate.resources import resource_dir

_ARROW_TYPES = {"float64": pa.float64(), "float32": pa.float32(), "int64": pa.int64(), "int32": pa.int32(),
                "bool": pa.bool_(), "string": pa.string()}


class FunctionStep(Step):
    """A user step: ``def fn(batch: pa.RecordBatch, **params) -> pa.RecordBatch | StepResult``.

    Returning a RecordBatch (same rows) makes it a mapper; returning a StepResult lets it filter and
    report metrics. Optional attribute ``fn.metrics = {"col": "float64", ...}`` declares metric types.
    """

    kind = "filter"

    def __init__(self, fn: Callable, kwargs: dict, step_id: str, target: str) -> None:
        self.fn = fn
        self.kwargs = kwargs
        self.id = step_id
        self.name = step_id  # instance attribute: user steps are named by their id
        self.target = target
        self.params = kwargs
        self.metrics = {k: _ARROW_TYPES[v] if isinstance(v, str) else v for k, v in getattr(fn, "metrics", {}).items()}

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        out = self.fn(batch, **self.kwargs)
        if isinstance(out, StepResult):
            return out
        if isinstance(out, pa.RecordBatch):
            if out.num_rows != batch.num_rows:
                raise ValueError(f"user step {self.target} returned {out.num_rows} rows for {batch.num_rows}; "
                                 "a mapper must keep every row (return a StepResult with keep=... to filter)")
            return StepResult(batch=out)
        if isinstance(out, (np.ndarray, pa.Array, list)):
            return StepResult(keep=out, reason=f"{self.id}")
        raise TypeError(f"user step {self.target} returned {type(out).__name__}; expected a RecordBatch, "
                        "a StepResult or a boolean keep mask")


def _load_step_class(name: str, label: str) -> type | Callable:
    import curate.steps  # noqa: F401  (registers the built-in steps)

    if name in STEPS:
        return STEPS[name]
    for ep in metadata.entry_points(group="curate.steps"):
        if ep.name == name:
            return ep.load()
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise CurateError(f"{label}: cannot import user step {name!r} ({exc})") from exc
    known = ", ".join(sorted(STEPS))
    raise CurateError(f"{label}: unknown step {name!r}. Built-in steps: {known}; or name a user step as "
                      "'package.module:function'")


def build_step(spec: dict, index: int, base_dir: Path | None) -> Step | GlobalStep:
    if not isinstance(spec, dict) or "name" not in spec:
        raise CurateError(f"step {index}: each [[steps]] table needs name = \"...\"")
    raw = dict(spec)
    name = raw.pop("name")
    step_id = raw.pop("id", None) or name.rpartition(":")[2]
    label = f"step {index} {name!r}"
    target = _load_step_class(name, label)
    if isinstance(target, type) and issubclass(target, (Step, GlobalStep)):
        params = build_params(target.Params, raw, label, base_dir)
        step = target(params, step_id)
        if hasattr(params, "check"):
            params.check()
        return step
    if callable(target):
        sig = inspect.signature(target)
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        names = [p for p in list(sig.parameters)[1:]]
        unknown = [k for k in raw if k not in names and not accepts_any]
        if unknown:
            raise ParamError(f"{label}: unknown parameter {unknown[0]!r}; the function takes: {', '.join(names) or '(none)'}")
        return FunctionStep(target, raw, step_id, name)
    raise CurateError(f"{label}: {name!r} is not a step class or function")


@dataclass
class Recipe:
    name: str
    description: str
    steps: list
    source_text: str
    path: Path | None

    @property
    def hash(self) -> str:
        """Hash of the validated recipe: steps, parameters, and the bytes of every file they name."""
        h = hashlib.sha256()
        for step in self.steps:
            params = asdict(step.params) if is_dataclass(step.params) else dict(step.params)
            h.update(json.dumps([type(step).__name__, step.id, getattr(step, "target", step.name), params],
                                sort_keys=True, default=str).encode())
            for value in params.values():
                if isinstance(value, Path) and value.is_file():
                    h.update(value.read_bytes())
        return h.hexdigest()

    def describe(self) -> list[dict[str, Any]]:
        return [{"id": s.id, "name": getattr(s, "target", s.name), "kind": s.kind,
                 "params": asdict(s.params) if is_dataclass(s.params) else dict(s.params),
                 "metrics": {k: str(v) for k, v in s.metric_columns().items()}} for s in self.steps]


def recipe_dir() -> Path:
    return resource_dir("filters")


def list_recipes() -> list[Path]:
    return sorted(recipe_dir().glob("*.toml"))


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (recipe_dir() / f"{name_or_path}.toml", recipe_dir() / str(name_or_path)):
        if candidate.is_file():
            return candidate
    names = ", ".join(p.stem for p in list_recipes())
    raise CurateError(f"recipe {str(name_or_path)!r} not found: not a file, nor one of the shipped recipes ({names})")


def load_recipe(name_or_path: str | Path) -> Recipe:
    path = resolve_recipe_path(name_or_path)
    text = path.read_text(encoding="utf-8")
    return parse_recipe(text, path)


def parse_recipe(text: str, path: Path | None = None) -> Recipe:
    where = str(path) if path else "recipe"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CurateError(f"{where}: not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"name", "description", "steps"})
    if unknown:
        raise CurateError(f"{where}: unknown top-level key {unknown[0]!r} (expected name, description, [[steps]])")
    specs = data.get("steps")
    if not isinstance(specs, list) or not specs:
        raise CurateError(f"{where}: no [[steps]] tables")
    base_dir = path.parent if path else None
    steps = []
    ids: set[str] = set()
    for i, spec in enumerate(specs, 1):
        try:
            step = build_step(spec, i, base_dir)
        except CurateError as exc:
            raise CurateError(f"{where}: {exc}") from exc
        if step.id in ids:
            raise CurateError(f"{where}: step {i} {step.name!r}: id {step.id!r} is used twice; give it id = \"...\"")
        ids.add(step.id)
        steps.append(step)
    columns: dict[str, str] = {}
    for step in steps:
        for col in step.metric_columns():
            if col in columns:
                raise CurateError(f"{where}: metric column {col!r} of step {step.id!r} clashes with step "
                                  f"{columns[col]!r}; give one of them an id")
            columns[col] = step.id
    return Recipe(data.get("name", path.stem if path else "recipe"), data.get("description", ""), steps, text, path)
