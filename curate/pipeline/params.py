"""Check recipe parameters against a step's ``Params`` dataclass before any data is read.

Messages name the step, the parameter and what was expected, e.g.
``step 3 'short_text': parameter 'min_words' expects int, got str 'ten'``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from curate.errors import CurateError


class ParamError(CurateError):
    pass


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin in (list, tuple):
        return f"list of {_describe(get_args(tp)[0])}"
    if origin is dict:
        k, v = get_args(tp)
        return f"table of {_describe(k)} -> {_describe(v)}"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str, base_dir: Path | None) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        if value is False and type(None) in args and bool not in args:
            return None  # TOML has no null: `param = false` switches an optional rule off
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, base_dir)
            except ParamError:
                continue
        raise ParamError(f"{where} expects {_describe(tp)}, got {type(value).__name__} {value!r}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ParamError(f"{where} expects {_describe(tp)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ParamError(f"{where} expects {_describe(tp)}, got {type(value).__name__} {value!r}")
        (item,) = get_args(tp)[:1]
        out = [_coerce(v, item, f"{where}[{i}]", base_dir) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamError(f"{where} expects {_describe(tp)}, got {type(value).__name__} {value!r}")
        kt, vt = get_args(tp)
        return {_coerce(k, kt, f"{where} key", base_dir): _coerce(v, vt, f"{where}.{k}", base_dir)
                for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Path:
        if isinstance(value, str):
            path = Path(value).expanduser()
            candidates = [path] if path.is_absolute() else [base_dir / path] if base_dir else [path]
            if not path.is_absolute():
                from curate.resources import resource_dir
                candidates += [Path.cwd() / path, resource_dir("filters") / path]
            for c in candidates:
                if c.exists():
                    return c.resolve()
            raise ParamError(f"{where}: file {value!r} not found (looked in "
                             f"{', '.join(str(c.parent) for c in candidates)})")
    else:
        raise ParamError(f"{where}: unsupported parameter type {tp!r}")  # a step author's mistake
    raise ParamError(f"{where} expects {_describe(tp)}, got {type(value).__name__} {value!r}")


def build_params(params_cls: type, raw: dict[str, Any], step_label: str, base_dir: Path | None = None) -> Any:
    """Validate ``raw`` (a recipe table without ``name``/``id``) into an instance of ``params_cls``."""
    hints = get_type_hints(params_cls)
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "(none)"
        raise ParamError(f"{step_label}: unknown parameter {unknown[0]!r}; valid parameters: {known}")
    values = {}
    for name, f in fields.items():
        if name in raw:
            values[name] = _coerce(raw[name], hints[name], f"{step_label}: parameter {name!r}", base_dir)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise ParamError(f"{step_label}: parameter {name!r} is required ({_describe(hints[name])})")
    try:
        params = params_cls(**values)
    except (ValueError, TypeError) as exc:  # __post_init__ range checks
        raise ParamError(f"{step_label}: {exc}") from exc
    return params


def describe_params(params_cls: type) -> list[tuple[str, str, Any]]:
    """(name, type, default) for documentation and ``curate recipes show``."""
    hints = get_type_hints(params_cls)
    out = []
    for f in dataclasses.fields(params_cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "(required)")  # type: ignore[misc]
        out.append((f.name, _describe(hints[f.name]), default))
    return out


_ = typing  # keep typing imported for get_type_hints on string annotations
