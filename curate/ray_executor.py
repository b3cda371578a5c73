"""Run a stage's tasks on a Ray cluster: ``--executor ray [--ray-address auto|HOST:PORT]`` (docs/ray.md).

:class:`RayExecutor` implements the same ``map(fn, tasks, progress)`` as
:class:`curate.executors.LocalExecutor`, so every stage is distributed without a line of its own:
ingest tasks, one segment task per shard of ``curate run``, the hash/signature pass per shard and the
band, verification and decision passes of the dedup steps, and the encode tasks of ``curate shards``.
Each task is one Ray task running the same top-level function on the same picklable task object.
Tasks read their input from, and write their output to, paths every node can see (a shared
filesystem), under the same names as with the local executor; results come back in task order. So the
bytes of every output are the same whichever executor ran a stage, and a run can switch executor
between stages, or between a crash and its resume.

Failures:

* a *worker that dies* (killed, out of memory, node lost) is retried by Ray (``max_retries``). Every
  task function writes under temporary names, renames when complete and overwrites (or removes) what
  an earlier attempt left, so a retried task leaves exactly the files of a clean run;
* an *exception* in a task is a data or code error: never retried (``retry_exceptions=False``); it
  is re-raised in the driver with its original type and the remote traceback as a note, pending tasks
  are cancelled, and the stage can be resumed like a local one.

Progress: tasks call ``report(nbytes, ndocs)`` as locally; the calls are summed in the worker and sent
to a small progress actor at most every ``report_interval`` seconds, which the driver polls.

Workers are long-lived processes, so set-up steps (models, tokenizers) load once per worker process
(``curate.pipeline.runner.prepared``), as in the local pool.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import time
import traceback
from typing import Any, Sequence

from curate.errors import CurateError
from curate.progress import Progress

RAY_MISSING = "--executor ray needs Ray: pip install 'curate[ray]' (ray[data] >= 2.40)"


def _ray():
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise CurateError(RAY_MISSING) from exc
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (``ray.init`` would retry for many minutes)."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return  # "auto", "local", or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise CurateError(f"--ray-address {address}: nothing answers at {host}:{port} ({exc}); start the cluster's "
                          "head with `ray start --head --port=6379` (docs/ray.md), or check the address") from None


class _Failure:
    """An exception raised inside a task, carried back as a value (so Ray never retries it)."""

    def __init__(self, exc: BaseException, tb: str) -> None:
        try:
            pickle.loads(pickle.dumps(exc))
            self.exc = exc
        except Exception:  # an exception type that does not survive pickling: keep its message
            self.exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        self.tb = tb


class _Reporter:
    """The ``report`` a task gets inside a Ray worker: sums calls, sends them every ``interval`` s."""

    def __init__(self, sink: Any, interval: float) -> None:
        self.sink = sink
        self.interval = interval
        self.nbytes = 0
        self.ndocs = 0
        self.last = time.monotonic()

    def __call__(self, nbytes: int, ndocs: int) -> None:
        self.nbytes += nbytes
        self.ndocs += ndocs
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.flush(wait=False)

    def flush(self, wait: bool) -> None:
        if self.sink is None or not (self.nbytes or self.ndocs):
            return
        ref = self.sink.add.remote(self.nbytes, self.ndocs)
        self.nbytes = self.ndocs = 0
        if wait:  # the task's last report arrives before its result: progress totals are exact
            _ray().get(ref)


class _Done:
    """A task's result with where and how long it ran (for ``RayExecutor.map_log``)."""

    __slots__ = ("result", "seconds", "node")

    def __init__(self, result: Any, seconds: float, node: str) -> None:
        self.result = result
        self.seconds = seconds
        self.node = node


def _run_task(fn: Any, task: Any, sink: Any, interval: float, cwd: str) -> Any:
    """The Ray task: ``fn(task, report)`` in the driver's working directory (when this node has it,
    so relative paths mean the same as in the driver); an exception comes back as a :class:`_Failure`."""
    if os.getcwd() != cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    report = _Reporter(sink, interval)
    t0 = time.perf_counter()
    try:
        result = fn(task, report)
    except Exception as exc:
        report.flush(wait=True)
        return _Failure(exc, traceback.format_exc())
    seconds = time.perf_counter() - t0
    report.flush(wait=True)
    return _Done(result, seconds, socket.gethostname())


class _ProgressSink:
    """A tiny actor that sums the workers' progress reports until the driver takes them."""

    def __init__(self) -> None:
        self.nbytes = 0
        self.ndocs = 0

    def add(self, nbytes: int, ndocs: int) -> None:
        self.nbytes += nbytes
        self.ndocs += ndocs

    def take(self) -> tuple[int, int]:
        out = (self.nbytes, self.ndocs)
        self.nbytes = self.ndocs = 0
        return out


class RayExecutor:
    """Tasks as Ray tasks, on a local Ray instance or on a cluster.

    Args:
        address: ``None`` starts a Ray instance on this machine (or connects to ``RAY_ADDRESS`` when
            that is set); ``"auto"`` joins the cluster this machine belongs to (``ray start``);
            ``"HOST:PORT"`` a cluster's head (GCS port, 6379 by default); ``"ray://HOST:10001"`` Ray
            Client. If Ray is already initialized in this process, it is used as it is.
        num_cpus: CPUs of a Ray instance started here (default: every core); ignored for a cluster.
        max_retries: how often Ray reruns a task whose worker died (exceptions are never retried).
        cpus_per_task: CPUs Ray reserves for each task (1: one task per core).
        runtime_env: passed to ``ray.init`` (e.g. ``{"py_modules": [...]}`` to ship user steps).
        report_interval: seconds between progress messages from a running task.

    ``close()`` (or a ``with`` block) shuts down a Ray instance this executor started; a cluster, or
    a Ray the caller initialized, is left running.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, max_retries: int = 3,
                 cpus_per_task: float = 1, runtime_env: dict | None = None, report_interval: float = 0.5,
                 init_kwargs: dict | None = None) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if num_cpus is not None and num_cpus < 1:
            raise ValueError("num_cpus must be >= 1")
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.cpus_per_task = cpus_per_task
        self.runtime_env = runtime_env
        self.report_interval = report_interval
        self.init_kwargs = dict(init_kwargs or {})
        self._started = False
        self._sink: Any = None
        self._remote: Any = None
        # one entry per map: {"fn", "tasks", "wall_seconds", "task_seconds": [...], "nodes": {host: tasks}}
        self.map_log: list[dict] = []

    # -- set-up ------------------------------------------------------------------------------------

    def _ensure(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True, **self.init_kwargs}
            if self.runtime_env:
                kwargs["runtime_env"] = self.runtime_env
            address = self.address or os.environ.get("RAY_ADDRESS") or "local"
            if address == "local":  # a new instance on this machine: its size is ours to choose
                kwargs.setdefault("include_dashboard", False)
                if self.num_cpus:
                    kwargs.setdefault("num_cpus", self.num_cpus)
            _check_reachable(address)
            try:
                ray.init(address=address, **kwargs)
            except ConnectionError as exc:
                raise CurateError(f"--ray-address {address}: cannot connect to a Ray cluster ({exc}). Start one "
                                  "with `ray start --head` (docs/ray.md) or leave --ray-address out to start Ray "
                                  "on this machine; a cluster with token authentication (Ray's default since "
                                  "2.59) also needs RAY_AUTH_MODE=token and its token (~/.ray/auth_token or "
                                  "RAY_AUTH_TOKEN) here") from exc
            self._started = True
        if self._remote is None:
            self._remote = ray.remote(_run_task).options(max_retries=self.max_retries, retry_exceptions=False,
                                                         num_cpus=self.cpus_per_task)
            self._sink = ray.remote(num_cpus=0)(_ProgressSink).remote()
        return ray

    @property
    def cluster_cpus(self) -> int:
        """CPUs of the Ray cluster (starts or joins it)."""
        return int(self._ensure().cluster_resources().get("CPU", 1))

    # -- the Executor protocol ----------------------------------------------------------------------

    def map(self, fn: Any, tasks: Sequence[Any], progress: Progress) -> list[Any]:
        if not tasks:
            return []
        ray = self._ensure()
        sink = self._sink
        self._drain(progress)  # reports left over from an earlier, failed map are not this stage's
        started = time.perf_counter()
        cwd = os.getcwd()
        refs = [self._remote.remote(fn, task, sink, self.report_interval, cwd) for task in tasks]
        position = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        seconds: list[float] = [0.0] * len(refs)
        nodes: dict[str, int] = {}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=0.25)
                for ref in done:
                    try:
                        out = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # the worker or node died max_retries + 1 times
                        exc.add_note(f"curate: a Ray task running {getattr(fn, '__name__', fn)} could not finish "
                                     f"(retried {self.max_retries} times); finished tasks are kept: rerun the "
                                     "command to resume")
                        raise
                    if isinstance(out, _Failure):
                        exc = out.exc
                        exc.add_note(f"(raised in a Ray task running {getattr(fn, '__name__', fn)}; "
                                     f"remote traceback:)\n{out.tb}")
                        raise exc
                    results[position[ref]] = out.result
                    seconds[position[ref]] = round(out.seconds, 4)
                    nodes[out.node] = nodes.get(out.node, 0) + 1
                self._drain(progress)
        except BaseException:
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:  # pragma: no cover - already finished or gone
                    pass
            if pending:  # let cancelled tasks run their clean-up before the caller retries or exits
                ray.wait(pending, num_returns=len(pending), timeout=10)
            raise
        finally:
            try:
                self._drain(progress)
            except Exception:  # pragma: no cover - the cluster went away; the error above says why
                pass
        self.map_log.append({"fn": getattr(fn, "__name__", str(fn)), "tasks": len(tasks),
                             "wall_seconds": round(time.perf_counter() - started, 4), "task_seconds": seconds,
                             "nodes": nodes})
        return results

    def _drain(self, progress: Progress) -> None:
        nbytes, ndocs = _ray().get(self._sink.take.remote())
        if nbytes or ndocs:
            progress.update(nbytes, ndocs)

    # -- tear-down ---------------------------------------------------------------------------------

    def close(self) -> None:
        if self._remote is None and not self._started:
            return
        ray = _ray()
        if self._sink is not None and ray.is_initialized():
            try:
                ray.kill(self._sink)
            except Exception:  # pragma: no cover
                pass
        self._sink = None
        self._remote = None
        if self._started and ray.is_initialized():
            ray.shutdown()
        self._started = False

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
