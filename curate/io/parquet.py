"""Atomic, size-bounded Parquet output.

Every file is written under a temporary name and renamed when complete, so a crash never leaves a
half-written file under a final name; readers of ``DIR/documents/*.parquet`` only ever see whole
files (DESIGN.md, "Nothing lost").
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TMP_PREFIX = ".tmp-"


def write_table_atomic(table: pa.Table, path: Path, compression: str = "zstd") -> None:
    """Write ``table`` to ``path`` via a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(TMP_PREFIX + path.name)
    pq.write_table(table, tmp, compression=compression, write_statistics=True)
    os.replace(tmp, path)


class RollingParquetWriter:
    """Write record batches into ``<dir>/<stem>-<k:04d>.parquet`` files of bounded size.

    A new file starts once the current one holds ``max_bytes`` of (uncompressed Arrow) data, so
    downstream tasks get files of similar, bounded size. Every file keeps its temporary name until
    ``close()``, which renames them all and returns the final paths in order: a reader of the
    folder never sees part of an unfinished task's output, even when that output spans files.
    """

    def __init__(self, directory: Path, stem: str, schema: pa.Schema, max_bytes: int = 256 << 20,
                 compression: str = "zstd") -> None:
        self.directory = directory
        self.stem = stem
        self.schema = schema
        self.max_bytes = max_bytes
        self.compression = compression
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._final: Path | None = None
        self._written: list[tuple[Path, Path]] = []  # (temporary, final) of the files already complete
        self._bytes = 0
        self._index = 0
        self.paths: list[Path] = []
        self.rows = 0

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._final = self.directory / f"{self.stem}-{self._index:04d}.parquet"
        self._tmp = self._final.with_name(TMP_PREFIX + self._final.name)
        self._writer = pq.ParquetWriter(self._tmp, self.schema, compression=self.compression,
                                        write_statistics=True)
        self._bytes = 0
        self._index += 1

    def _finish(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        assert self._tmp is not None and self._final is not None
        self._written.append((self._tmp, self._final))
        self._writer = None

    def write_batch(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        if self._writer is None:
            self._open()
        assert self._writer is not None
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        self._writer.write_table(table)
        self.rows += table.num_rows
        self._bytes += table.nbytes
        if self._bytes >= self.max_bytes:
            self._finish()

    def close(self) -> list[Path]:
        """Finish the last file and give every file its final name; return the final paths."""
        self._finish()
        for tmp, final in self._written:
            os.replace(tmp, final)
            self.paths.append(final)
        self._written = []
        return self.paths

    def abort(self) -> None:
        """Drop every file of this writer (used when a task fails and will be rerun)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            if self._tmp is not None:
                self._written.append((self._tmp, self._tmp))
        for tmp, _ in self._written:
            tmp.unlink(missing_ok=True)
        self._written = []
