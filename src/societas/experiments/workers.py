"""A sweep's processes are one tree that stops together.

The parent (``societas sweep``) runs jobs in a pool of spawned worker processes. What stops
them:

- **The parent dies** (SIGKILL included): every worker asked the kernel for SIGKILL when its
  parent goes (Linux ``prctl(PR_SET_PDEATHSIG)``), and a worker that finds itself orphaned
  at start exits. A killed worker loses at most its open tick (a tick is one transaction)
  and its run lock goes with it, so the next sweep resumes its run.
- **SIGTERM or Ctrl-C (SIGINT)** to the parent: nothing more is started (queued jobs are
  cancelled, and a worker that receives a queued job after the stop returns it unstarted);
  each running run finishes its tick, is marked ``interrupted`` and the sweep exits 130.
  Workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process group); the parent
  passes the stop on to them as SIGTERM.
- **A second SIGTERM or Ctrl-C**: the parent kills the workers (SIGKILL) and exits 130 at
  once; each running run loses its open tick, nothing else.

The in-process runner (``--parallel 1``) handles the same signals the same way.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from societas.engine import RunHandle, RunInterrupted, run_sync
from societas.llm.local import THREADS_ENV
from societas.typing import SocietasError

__all__ = [
    "NOT_STARTED",
    "SweepInterrupted",
    "run_handle",
    "run_in_pool",
    "run_sequentially",
    "set_threads",
    "stop_requested",
    "worker_init",
]

NOT_STARTED = "not started"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class SweepInterrupted(RunInterrupted):
    """The sweep stopped on SIGTERM or Ctrl-C; running it again resumes it."""

    def __init__(self, message: str) -> None:
        SocietasError.__init__(self, message)
        self.ticks_completed = 0


@dataclass
class _State:
    """This process's stop request and the run it is running (if any)."""

    stop: bool = False
    active: RunHandle | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATE = _State()


def stop_requested() -> bool:
    return _STATE.stop


def _request_stop(_signum: int = 0, _frame: FrameType | None = None) -> None:
    """Stop after the running tick; nothing more starts in this process."""
    _STATE.stop = True
    active = _STATE.active
    if active is not None:
        active.simulation.request_stop()


def run_handle(handle: RunHandle) -> dict[str, float]:
    """``run_sync`` that a stop request (``_request_stop``) stops after the running tick."""
    _STATE.active = handle
    try:
        if _STATE.stop:
            handle.simulation.request_stop()  # asked before it was registered
        return run_sync(handle)
    finally:
        _STATE.active = None


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(err)}")
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def set_threads(threads: str) -> None:
    """This process's share of the cores for a local model (see ``llm.local.local_threads``)."""
    os.environ[THREADS_ENV] = threads


def worker_init(threads: str, parent: int) -> None:
    """Initialiser of every sweep worker process."""
    set_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _request_stop)
    _die_with_parent(parent)


@contextmanager
def _signals(handler: Callable[[int, FrameType | None], Any]) -> Iterator[None]:
    """SIGINT and SIGTERM go to ``handler`` (only the main thread can install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


Outcome = Callable[[Any, str, str | None], None]


def _interrupted(interrupted: int, not_started: int) -> SweepInterrupted:
    return SweepInterrupted(
        f"sweep stopped: {interrupted} run(s) interrupted after their tick, {not_started} not "
        "started; run the same command again to resume them"
    )


def run_sequentially(jobs: list[Any], execute: Callable[[Any], str], record: Outcome) -> None:
    """Run ``jobs`` one after another in this process, with the sweep's signal handling."""
    presses = {"n": 0}
    counts = {"interrupted": 0, NOT_STARTED: 0}

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        presses["n"] += 1
        if presses["n"] > 1:
            raise KeyboardInterrupt
        _request_stop()

    with _signals(on_signal):
        for job in jobs:
            if _STATE.stop:
                counts[NOT_STARTED] += 1
                record(job, NOT_STARTED, None)
                continue
            try:
                record(job, execute(job), None)
            except RunInterrupted:
                counts["interrupted"] += 1
                record(job, "interrupted", None)
            except SocietasError as exc:
                record(job, "failed", str(exc))
    if _STATE.stop:
        _STATE.stop = False
        raise _interrupted(counts["interrupted"], counts[NOT_STARTED])


def run_in_pool(
    jobs: list[Any],
    submit: Callable[[ProcessPoolExecutor, Any], Future[str]],
    *,
    parallel: int,
    threads: str,
    context: Any,
    record: Outcome,
) -> None:
    """Run ``jobs`` in ``parallel`` worker processes (``submit`` queues one); outcomes go to
    ``record`` as they come. Raises ``SweepInterrupted`` after a SIGTERM or Ctrl-C."""
    pool = ProcessPoolExecutor(
        max_workers=parallel,
        mp_context=context,
        initializer=worker_init,
        initargs=(threads, os.getpid()),
    )
    presses = {"n": 0}
    counts = {"interrupted": 0, NOT_STARTED: 0}
    futures: dict[Future[str], Any] = {}

    def workers() -> list[int]:
        return list(pool._processes or {})

    def kill_workers(sig: signal.Signals) -> None:
        for pid in workers():
            with suppress(ProcessLookupError):
                os.kill(pid, sig)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        presses["n"] += 1
        if presses["n"] == 1:
            for future in futures:
                future.cancel()  # queued ones; running ones finish their tick
            kill_workers(signal.SIGTERM)
            return
        kill_workers(signal.SIGKILL)
        raise KeyboardInterrupt

    try:
        with _signals(on_signal):
            futures.update((submit(pool, job), job) for job in jobs)
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    job = futures[future]
                    if future.cancelled():
                        counts[NOT_STARTED] += 1
                        record(job, NOT_STARTED, None)
                        continue
                    try:
                        what = future.result()
                    except RunInterrupted:
                        counts["interrupted"] += 1
                        record(job, "interrupted", None)
                    except SocietasError as exc:
                        record(job, "failed", str(exc))
                    else:
                        if what == NOT_STARTED:
                            counts[NOT_STARTED] += 1
                        record(job, what, None)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise SweepInterrupted(
            "sweep stopped at once (second stop request): its workers were killed, each "
            "running run lost its open tick; run the same command again to resume them"
        ) from None
    pool.shutdown(wait=True)
    if presses["n"]:
        raise _interrupted(counts["interrupted"], counts[NOT_STARTED])
