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


class LocalExecutor:
    """Tasks in this process (``workers=1``) or in a pool of ``workers`` spawned processes."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers

    def map(self, fn: TaskFn, tasks: Sequence[T], progress: Progress) -> list[Any]:
        if self.workers == 1 or len(tasks) <= 1:
            return [fn(task, progress.update) for task in tasks]
        ctx = mp.get_context("spawn")  # no inherited locks/threads from the parent; same on every OS
        progress_queue = ctx.Queue()
        stop = threading.Event()

        def drain() -> None:
            while not stop.is_set() or not progress_queue.empty():
                try:
                    nbytes, ndocs = progress_queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                progress.update(nbytes, ndocs)

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=ctx,
                                   initializer=_init_worker, initargs=(progress_queue,))
        try:
            futures = [pool.submit(_run_in_worker, fn, task) for task in tasks]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    for f in futures:
                        f.cancel()
                    raise future.exception()  # type: ignore[misc]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            stop.set()
            drainer.join()
