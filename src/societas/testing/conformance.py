"""The conformance suite: does a registered scenario keep the platform's promises?

``check_scenario(name, config_overrides=[...], tmp_path=...)`` runs the scenario through the
``societas`` command line, in subprocesses, the way a user would, and checks:

- ``deterministic``: two runs with the same seed record the same events (the fields that
  legitimately differ, ``NONREPRODUCIBLE_FIELDS``, run ids and numbering, dropped), and the
  run records the scenario under its registered name (resume, report and interview look the
  scenario up by that name);
- ``resume_after_sigkill``: a ``societas run`` killed with SIGKILL after it committed a tick
  and before its last one, then ``societas resume``, ends with the same events as the
  uninterrupted run, and its store passes ``societas check``;
- ``replay``: ``--model replay:<id> --cache RUN/cache.db`` reproduces the recorded events;
- ``check``: ``societas check RUN`` exits 0;
- ``report``: ``societas report RUN`` exits 0 and writes ``RUN/report/index.html``;
- ``bad_config``: an unknown key and a value of the wrong type (``--set``) each exit 2 with
  an error naming the field.

The default model is ``test`` (schema-valid answers from each request's seed), so any
scenario is checked offline with no scripted policy; ``model="scripted"`` uses the
scenario's own policy. Settings should be small (few agents, few ticks) so a check takes
seconds, but with enough ticks (ten when ticks are fast) for the kill to land mid-run.
``conformance_cases`` turns a table of such settings into pytest parameters; see
``docs/conformance.md``.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from societas.analysis.compare import first_difference
from societas.scenarios import load_spec
from societas.store import DB_NAME, RunStore
from societas.typing import Event

__all__ = [
    "CHECKS",
    "CheckResult",
    "ConformanceError",
    "ConformanceReport",
    "check_scenario",
    "conformance_cases",
]

CHECKS = ("deterministic", "resume_after_sigkill", "replay", "check", "report", "bad_config")
_UNKNOWN_KEY = "conformance_no_such_setting"
# The victim of the SIGKILL check runs in slices of 5 ms until its store file exists (a fast
# run creates its store and finishes within 50 ms), then of a quarter of a tick.
_START_SLICE_S = 0.005
_MIN_SLICE_S = 0.0005
_KILL_ATTEMPTS = 3


class ConformanceError(AssertionError):
    """A scenario failed conformance checks; the message lists each failure."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class ConformanceReport:
    scenario: str
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    def result(self, name: str) -> CheckResult:
        return next(r for r in self.results if r.name == name)

    def summary(self) -> str:
        lines = [f"conformance of scenario {self.scenario!r}:"]
        lines += [
            f"  {'ok  ' if r.ok else 'FAIL'} {r.name} ({r.seconds:.1f} s): {r.detail}"
            for r in self.results
        ]
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        """Raise ``ConformanceError`` (an ``AssertionError``) listing every failed check."""
        if not self.ok:
            raise ConformanceError(self.summary())


class _CheckFailed(Exception):
    pass


@dataclass
class _Suite:
    name: str
    overrides: list[str]
    root: Path
    model: str
    seed: int
    timeout_s: float
    logs: list[str] = field(default_factory=list)

    # -- running the command line ------------------------------------------------------------

    def cli(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(  # noqa: S603 - our own CLI, arguments from the caller
            [sys.executable, "-m", "societas", *args],
            capture_output=True,
            text=True,
            timeout=self.timeout_s,
            check=False,
        )
        if expect is not None and proc.returncode != expect:
            raise _CheckFailed(
                f"'societas {' '.join(args)}' exited {proc.returncode} (expected {expect}): "
                f"{_tail(proc.stderr)}"
            )
        return proc

    def run_args(self, out: Path, model: str | None = None, extra: Sequence[str] = ()) -> list[str]:
        args = ["run", self.name, "--model", model or self.model, "--seed", str(self.seed)]
        args += ["--out", str(out), "-q"]
        for item in [*self.overrides, *extra]:
            args += ["--set", item]
        return args

    def events(self, run_dir: Path) -> list[Event]:
        with RunStore.open(run_dir, readonly=True) as store:
            info = store.run_info()
            if info["status"] != "completed":
                raise _CheckFailed(f"{run_dir.name}: status {info['status']}: {info['error']}")
            return store.events()

    def same_events(self, label: str, got: Path, reference: Path) -> str:
        a, b = self.events(got), self.events(reference)
        diff = first_difference(a, b)
        if diff is not None:
            index, x, y = diff
            raise _CheckFailed(
                f"{label}: event {index} differs:\n    got       {_short(x)}\n"
                f"    reference {_short(y)}"
            )
        return f"{len(a)} events equal (process events aside)"

    # -- the checks --------------------------------------------------------------------------

    def deterministic(self) -> str:
        first, second = self.root / "first", self.root / "second"
        self.cli(*self.run_args(first))
        self.cli(*self.run_args(second))
        with RunStore.open(first, readonly=True) as store:
            info = store.run_info()
        if info["scenario"] != self.name:
            raise _CheckFailed(
                f"the run records scenario {info['scenario']!r}, registered as {self.name!r}: "
                "Scenario.name must equal the entry-point name (resume and report look it up)"
            )
        ticks = int(info["ticks_completed"])
        return f"{self.same_events('second run', second, first)} over {ticks} ticks"

    def resume_after_sigkill(self) -> str:
        reference = self.root / "first"
        tick_s = _tick_seconds(self.events(reference))
        for attempt in range(1, _KILL_ATTEMPTS + 1):
            victim = self.root / f"killed{attempt}"
            killed_at = self._kill_mid_run(victim, tick_s)
            if killed_at is not None:
                break
        else:
            raise _CheckFailed(
                f"the run completed before it could be killed mid-run ({_KILL_ATTEMPTS} tries): "
                "give settings with more ticks so a kill lands between the first and the last"
            )
        self.cli("resume", str(victim), "-q")
        self.cli("check", str(victim))
        same = self.same_events("resumed run", victim, reference)
        return f"killed after {killed_at} committed tick(s); resumed: {same}"

    def _kill_mid_run(self, run_dir: Path, tick_s: float) -> int | None:
        """Start a run and SIGKILL it after a committed tick and before its last one; the
        ticks committed when it was killed, or None if it completed first.

        The victim runs in short slices between SIGCONT and SIGSTOP and its progress is read
        while it is stopped, so fast ticks rarely slip past (a slice is a quarter of a tick of
        the uninterrupted run, ``tick_s``, within bounds); the kill may land mid-transaction.
        """
        tick_slice_s = min(max(tick_s / 4, _MIN_SLICE_S), _START_SLICE_S)
        deadline = time.monotonic() + self.timeout_s
        slice_s = _START_SLICE_S  # while it imports and opens its store
        with (self.root / f"{run_dir.name}.err").open("wb") as err:
            proc = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "societas", *self.run_args(run_dir)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            while time.monotonic() < deadline:
                proc.send_signal(signal.SIGCONT)
                time.sleep(slice_s)
                if proc.poll() is not None:
                    return None
                proc.send_signal(signal.SIGSTOP)
                if (run_dir / DB_NAME).exists():
                    slice_s = tick_slice_s
                progress = _progress(run_dir)
                if progress is None or progress[0] < 1:
                    continue
                if progress[0] >= progress[1]:
                    return None
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=self.timeout_s)
                return progress[0] if proc.returncode == -signal.SIGKILL else None
            raise _CheckFailed(f"no tick was committed within {self.timeout_s:.0f} s")
        finally:
            if proc.poll() is None:
                proc.kill()  # SIGKILL also ends a stopped process
            proc.wait(timeout=self.timeout_s)

    def replay(self) -> str:
        recorded = self.root / "first"
        out = self.root / "replayed"
        name, _, arg = self.model.partition(":")
        model = f"replay:{arg or name}"
        self.cli(*self.run_args(out, model, [f"run.cache={recorded / 'cache.db'}"]))
        return self.same_events("replayed run", out, recorded)

    def check(self) -> str:
        self.cli("check", str(self.root / "first"))
        return "societas check: sound store"

    def report(self) -> str:
        run_dir = self.root / "first"
        self.cli("report", str(run_dir))
        page = run_dir / "report" / "index.html"
        if not page.is_file() or page.stat().st_size == 0:
            raise _CheckFailed(f"societas report exited 0 but wrote no {page}")
        return f"{page.relative_to(self.root)} ({page.stat().st_size} bytes)"

    def bad_config(self) -> str:
        key, value = _wrong_type_setting(self.name, self.overrides)
        cases = [(_UNKNOWN_KEY, f"{_UNKNOWN_KEY}=1"), (key, f"{key}={value}")]
        for i, (name, item) in enumerate(cases):
            proc = self.cli(*self.run_args(self.root / f"bad{i}", extra=[item]), expect=None)
            leaf = name.rsplit(".", 1)[-1]
            if proc.returncode != 2 or leaf not in proc.stderr:
                raise _CheckFailed(
                    f"--set {item} exited {proc.returncode} (expected 2 and an error naming "
                    f"{leaf!r}): {_tail(proc.stderr)}"
                )
        return f"--set {cases[0][1]} and --set {cases[1][1]} exit 2 naming the field"


def _progress(run_dir: Path) -> tuple[int, int] | None:
    """(ticks committed, ticks planned) of a run being written, None while unreadable.

    Read from the store's documented ``runs`` table without waiting: the writer may be
    stopped while it holds a lock (``RunStore.open`` would wait seconds for it).
    """
    db = run_dir / DB_NAME
    if not db.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=0.0)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT ticks_completed, num_ticks FROM runs").fetchone()
    except sqlite3.Error:  # not created yet, or locked by the stopped writer
        return None
    finally:
        conn.close()
    return None if row is None else (int(row[0]), int(row[1]))


def _tick_seconds(events: Sequence[Event]) -> float:
    """Mean wall time of a tick, from the run's ``tick_completed`` events (0 if unknown)."""
    times = [e.wall_time for e in events if e.kind == "tick_completed"]
    return (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0


def _wrong_type_setting(name: str, overrides: Sequence[str]) -> tuple[str, str]:
    """A numeric setting of the scenario's config and a value of the wrong type for it."""
    config = load_spec(name, list(overrides), model="test").config
    for key, value in config.model_dump().items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            return key, "not-a-number"
    return "run.temperature", "not-a-number"


def _tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no output)"


def _short(event: dict[str, Any] | None, limit: int = 400) -> str:
    text = repr(event)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_scenario(
    name: str,
    *,
    tmp_path: Path,
    config_overrides: Iterable[str] = (),
    model: str = "test",
    seed: int = 7,
    checks: Iterable[str] = CHECKS,
    timeout_s: float = 300.0,
) -> ConformanceReport:
    """Run the conformance checks on the registered scenario ``name``.

    ``config_overrides`` are ``--set`` items (``key=value``, ``run.key=value``) that make the
    run small; ``tmp_path`` receives the run directories; ``model`` must run offline and
    deterministically (``test``, ``scripted``). Every check runs even when an earlier one
    failed (``resume_after_sigkill`` and ``replay`` compare with the first run, so they fail
    too when it failed).
    """
    wanted = list(checks)
    unknown = sorted(set(wanted) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown checks {unknown}; the checks are {', '.join(CHECKS)}")
    tmp_path.mkdir(parents=True, exist_ok=True)
    suite = _Suite(name, list(config_overrides), tmp_path, model, seed, timeout_s)
    steps = {
        "deterministic": suite.deterministic,  # always first: it records the run others use
        "resume_after_sigkill": suite.resume_after_sigkill,
        "replay": suite.replay,
        "check": suite.check,
        "report": suite.report,
        "bad_config": suite.bad_config,
    }
    results: list[CheckResult] = []
    for check, step in steps.items():
        if check not in wanted and check != "deterministic":
            continue
        t0 = time.perf_counter()
        try:
            detail, ok = step(), True
        except _CheckFailed as exc:
            detail, ok = str(exc), False
        except subprocess.TimeoutExpired as exc:
            detail, ok = f"timed out after {exc.timeout:.0f} s: {' '.join(exc.cmd)}", False
        # A failed first run is reported even when not asked for: other checks compare with it.
        if check in wanted or not ok:
            results.append(CheckResult(check, ok, detail, time.perf_counter() - t0))
    return ConformanceReport(name, tuple(results))


def conformance_cases(
    small_settings: Mapping[str, Sequence[str]],
    names: Iterable[str] | None = None,
    *,
    slow: Iterable[str] = (),
    xfail: Mapping[str, str] | None = None,
) -> list[Any]:
    """pytest parameters ``(name, overrides)``, one per scenario (default: every registered
    one), marked ``slow`` or ``xfail(strict=True, reason=...)`` as the caller says.

    A scenario missing from ``small_settings`` runs with its defaults (and no marks), so a
    newly registered scenario is covered the day it appears.
    """
    import pytest

    from societas.scenarios import available_scenarios

    slow_set, reasons = set(slow), dict(xfail or {})
    cases: list[Any] = []
    for name in names if names is not None else available_scenarios():
        marks: list[Any] = []
        if name in slow_set:
            marks.append(pytest.mark.slow)
        if name in reasons:
            marks.append(pytest.mark.xfail(strict=True, reason=reasons[name]))
        cases.append(pytest.param(name, list(small_settings.get(name, ())), id=name, marks=marks))
    return cases
