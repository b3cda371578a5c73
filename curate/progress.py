"""One progress bar for every stage: documents/s and MB/s (tqdm).

Stages call :meth:`Progress.update` with the bytes and documents they finished; the bar shows the
byte rate (MB/s) and the document rate in its postfix. ``CURATE_PROGRESS=0`` or ``enabled=False``
silences it (tests, batch logs); the totals are still measured for the manifest.
"""

from __future__ import annotations

import os
import time

from tqdm import tqdm


class Progress:
    def __init__(self, desc: str, total_bytes: int | None = None, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = os.environ.get("CURATE_PROGRESS", "1") != "0"
        self.start = time.perf_counter()
        self.docs = 0
        self.bytes = 0
        self._last_postfix = 0.0
        self._bar = tqdm(total=total_bytes, desc=desc, unit="B", unit_scale=True, unit_divisor=1000,
                         mininterval=0.5, dynamic_ncols=True, disable=not enabled, smoothing=0.1)

    def update(self, nbytes: int = 0, ndocs: int = 0) -> None:
        self.docs += ndocs
        self.bytes += nbytes
        self._bar.update(nbytes)
        now = time.perf_counter()
        if now - self._last_postfix > 0.5:
            self._last_postfix = now
            self._bar.set_postfix_str(f"{self.docs:,} docs, {self.docs_per_s:,.0f} docs/s", refresh=False)

    @property
    def seconds(self) -> float:
        return max(time.perf_counter() - self.start, 1e-9)

    @property
    def docs_per_s(self) -> float:
        return self.docs / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds

    def close(self) -> dict:
        """Close the bar and return the timing summary stored in manifests."""
        self._bar.set_postfix_str(f"{self.docs:,} docs, {self.docs_per_s:,.0f} docs/s", refresh=False)
        self._bar.close()
        return {"seconds": round(self.seconds, 3), "docs_per_s": round(self.docs_per_s, 1),
                "mb_per_s": round(self.mb_per_s, 3), "documents": self.docs, "bytes": self.bytes}
