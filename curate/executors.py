"""Executors run independent tasks (an input file group, a shard, a band) and stream progress back.

Every stage splits its work into picklable tasks and a top-level task function
``fn(task, report) -> result`` where ``report(nbytes, ndocs)`` feeds the progress bar. The executor
decides where tasks run; results always come back in task order, so outputs do not depend on the
executor or the number of workers. ``LocalExecutor`` is the default (in-process for one worker, a
process pool otherwise); a Ray executor implements the same ``map`` (DESIGN.md, "Scale").
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Any, Callable, Protocol, Sequence, TypeVar

from curate.progress import Progress

T = TypeVar("T")
R = TypeVar("R")
ReportFn = Callable[[int, int], None]
TaskFn = Callable[[Any, ReportFn], Any]


class Executor(Protocol):
    def map(self, fn: TaskFn, tasks: Sequence[T], progress: Progress) -> list[Any]:
        """Run ``fn(task, report)`` for every task; return results in task order."""
        ...


_worker_queue: Any = None


def _init_worker(progress_queue: Any) -> None:
    global _worker_queue
    _worker_queue = progress_queue


def _queue_report(nbytes: int, ndocs: int) -> None:
    _worker_queue.put((nbytes, ndocs))


def _run_in_worker(fn: TaskFn, task: Any) -> Any:
    return fn(task, _queue_report)


def _start_method() -> str:
    """``spawn`` (no inherited locks or threads; the same on every OS) unless ``__main__`` cannot be
    re-imported by the children (code piped to ``python -``, some notebooks): then ``fork``.
    ``CURATE_MP_START`` overrides."""
    import os
    import sys

    forced = os.environ.get("CURATE_MP_START")
    if forced:
        return forced
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or os.path.exists(path) or getattr(getattr(main, "__spec__", None), "name", None):
        return "spawn"
    return "fork"


class LocalExecutor:
    """Tasks in this process (``workers=1``) or in a pool of ``workers`` processes.

    The pool starts on first use and is reused by later stages (process start-up and imports cost
    about a second each); ``close()`` or a ``with`` block ends it.
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._queue: Any = None

    def _ensure_pool(self) -> tuple[ProcessPoolExecutor, Any]:
        if self._pool is None:
            ctx = mp.get_context(_start_method())
            self._queue = ctx.Queue()
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                             initializer=_init_worker, initargs=(self._queue,))
        return self._pool, self._queue

    def map(self, fn: TaskFn, tasks: Sequence[T], progress: Progress) -> list[Any]:
        if self.workers == 1 or len(tasks) <= 1:
            return [fn(task, progress.update) for task in tasks]
        pool, progress_queue = self._ensure_pool()
        stop = threading.Event()

        def drain() -> None:
            while not stop.is_set() or not progress_queue.empty():
                try:
                    nbytes, ndocs = progress_queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                progress.update(nbytes, ndocs)

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        try:
            futures = [pool.submit(_run_in_worker, fn, task) for task in tasks]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    for f in futures:
                        f.cancel()
                    self.close()
                    raise future.exception()  # type: ignore[misc]
            return [f.result() for f in futures]
        except BaseException:
            self.close()
            raise
        finally:
            stop.set()
            drainer.join()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._queue = None

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
