"""Shared test fixtures: where the sample data is, and quiet progress bars.

Kept small on purpose; helpers for one area live beside its tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _no_progress_bars():
    """``CURATE_PROGRESS=0`` for the whole session (module-scoped fixtures run before function-scoped
    ones, so a function-scoped monkeypatch would come too late for them); spawned workers inherit it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CURATE_PROGRESS", "0")
        yield


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The ``sample_data/`` folder of the checkout (real dumps of each source kind)."""
    return REPO_ROOT / "sample_data"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A real sample run (and a stricter one, and a synthetic 'b' run) for the stats and report tests."""
    from stats_util import build_runs

    return build_runs(tmp_path_factory.getbasetemp() / "stats-real")


@pytest.fixture(scope="module")
def syn(tmp_path_factory) -> dict[str, Path]:
    """Synthetic runs with every kind of metric column (LID, hate, PII, MinHash clusters)."""
    from stats_util import build_synthetic

    return build_synthetic(tmp_path_factory.getbasetemp() / "stats-syn")
