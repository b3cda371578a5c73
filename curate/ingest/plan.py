"""Expand ingest inputs (files, directories, globs) into a deterministic list of files and tasks.

The plan depends only on the inputs' relative paths and sizes, so the same command always gives the
same tasks, output names and ids: that is what makes a killed run resumable.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from curate.errors import CurateError

SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute path
    input_file: str  # path relative to the input argument that named it (the name for a file argument)
    size: int


@dataclass(frozen=True)
class Task:
    ordinal: int
    files: tuple[InputFile, ...]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def _visible_files(directory: Path, exclude: Path | None = None) -> list[Path]:
    found = []
    seen = {directory.resolve()}
    for root, dirs, files in os.walk(directory, followlinks=True):
        keep = []
        for d in sorted(dirs):
            real = Path(root, d).resolve()
            if d.startswith(".") or real == exclude or real in seen:  # hidden, the output, a symlink loop
                continue
            seen.add(real)
            keep.append(d)
        dirs[:] = keep
        found.extend(Path(root) / f for f in files if not f.startswith("."))
    return found


def expand_inputs(paths: list[str], exclude: str | Path | None = None) -> list[InputFile]:
    """Return every input file in a stable order, failing early on missing paths and ambiguous names.

    Files under ``exclude`` (the output directory, when it lies inside an input directory) are left
    out, so a rerun does not read its own output as input.
    """
    if not paths:
        raise CurateError("no input paths given")
    excluded = Path(exclude).resolve() if exclude is not None else None
    result: list[InputFile] = []
    seen: dict[str, str] = {}
    seen_files: set[str] = set()
    for arg in paths:
        p = Path(arg)
        if p.is_dir():
            entries = [(f, f.relative_to(p).as_posix()) for f in _visible_files(p, excluded)]
            if not entries:
                raise CurateError(f"input directory {arg!r} contains no files")
        elif p.is_file():
            entries = [(p, p.name)]
        elif glob.has_magic(arg):
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=True) if Path(m).is_file())
            if not matches:
                raise CurateError(f"glob {arg!r} matches no files")
            base = Path(arg.split("*")[0].split("?")[0].split("[")[0])
            base = base if base.is_dir() else base.parent
            entries = [(m, m.relative_to(base).as_posix() if m.is_relative_to(base) else m.name) for m in matches]
        else:
            raise CurateError(f"input {arg!r} does not exist")
        if excluded is not None:
            entries = [e for e in entries if not e[0].resolve().is_relative_to(excluded)]
            if not entries:
                raise CurateError(f"input {arg!r} holds nothing but the output directory {str(exclude)!r}")
        for path, rel in sorted(entries, key=lambda e: e[1]):
            absolute = str(path.resolve())
            if rel in seen and seen[rel] != absolute:
                raise CurateError(f"two inputs have the same relative name {rel!r} ({seen[rel]} and {absolute}); "
                                  "ids would collide. Ingest them with different --source names or in separate folders")
            if rel in seen or absolute in seen_files:
                continue  # the same file named twice (or reached again through a symlink)
            seen[rel] = absolute
            seen_files.add(absolute)
            result.append(InputFile(absolute, rel, path.stat().st_size))
    return result


def group_tasks(files: list[InputFile], task_bytes: int) -> list[Task]:
    """Group consecutive files into tasks of about ``task_bytes`` (a big file is a task on its own),
    so a folder of 100,000 small HTML files does not become 100,000 tiny Parquet files."""
    tasks: list[Task] = []
    current: list[InputFile] = []
    size = 0
    for f in files:
        if current and (size + f.size > task_bytes):
            tasks.append(Task(len(tasks), tuple(current)))
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        tasks.append(Task(len(tasks), tuple(current)))
    return tasks


def job_key(source: str, fmt: str, options: dict, files: list[InputFile]) -> str:
    """Short hash identifying one ingest job: same command and same inputs -> same key -> resume."""
    h = hashlib.blake2b(digest_size=6)
    h.update(repr((source, fmt, sorted(options.items()))).encode())
    for f in files:
        h.update(f"{f.input_file}\0{f.size}\n".encode())
    return h.hexdigest()
