"""The epidemic scenario at New York City's size: 8.4M people, 52 weekly ticks.

Each configuration runs in a fresh process through the whole engine (``prepare_run`` /
``run_sync``: the city is synthesised, every week's archetype groups are asked through the
Gateway with the scripted behaviour (the fixed rule answering as a model would), seven daily
disease steps, labour, metrics and a durable snapshot per week in SQLite). It prints wall time
(build + run + final metrics), its CPU time and the peak resident memory of that process
(``ru_maxrss``; under Ray the shards live in the Ray workers, whose memory and CPU time are
read from ``/proc`` while the run goes on and added). Targets (issue 17): 8.4M x 52 weeks within
10 minutes and 8 GB on 2 cores.

The baseline is the same run at ``--baseline`` people (default 100,000), in the same command:
the ratio of wall times against the ratio of sizes shows how the cost scales.

With ``--ray`` the same big run is repeated on a local two-node Ray cluster started by this
program (``ray start --head --port P --num-cpus 1`` and ``ray start --address 127.0.0.1:P
--num-cpus 1``, in a temporary folder of its own); the final metrics must equal the local
run's. Only the processes this program started (found by that folder in their command line)
are stopped, by PID.

    python benchmarks/epidemic_scale.py [--agents 8400000] [--weeks 52] [--baseline 100000]
                                        [--ray]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SKIP = {"wall_s", "peak_rss_mb"}


def _ray_workers(marker: str) -> tuple[int, float]:
    """Resident memory (kB) and CPU time (s) of the worker processes of our cluster: the
    children of the raylets whose command line names our cluster's folder (a worker renames
    itself ``ray::...``, so its own command line does not)."""
    stats: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        stats[int(entry)] = (ppid, cmd)
    raylets = {pid for pid, (_, cmd) in stats.items() if marker in cmd and "raylet" in cmd}
    rss, ticks = 0, 0
    for pid, (ppid, cmd) in stats.items():
        if ppid not in raylets or not cmd.startswith("ray::_Shard"):
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return rss, ticks / os.sysconf("SC_CLK_TCK")


def one(n: int, weeks: int, runner: str, address: str | None, marker: str) -> dict[str, Any]:
    from societas.engine import RunOptions, prepare_run, run_sync
    from societas.scenarios.epidemic import EpidemicConfig, EpidemicScenario
    from societas.store import RunStore
    from societas.typing import TickCompleted

    peak_workers = [0]
    worker_cpu = [0.0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            rss, cpu = _ray_workers(marker)
            peak_workers[0] = max(peak_workers[0], rss)
            worker_cpu[0] = max(worker_cpu[0], cpu)

    watcher = threading.Thread(target=watch, daemon=True)
    if runner == "ray":
        watcher.start()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="epidemic-scale-") as tmp:
        out = Path(tmp) / "run"
        config = EpidemicConfig(agents=n, weeks=weeks, behaviour="archetypes")
        options = RunOptions(
            model="scripted",
            seed=0,
            runner=runner,
            ray_address=address,
            shards=2 if runner == "ray" else 1,
        )
        metrics = run_sync(prepare_run(EpidemicScenario(), config, options, out))
        wall = time.perf_counter() - start
        with RunStore.open(out, readonly=True) as store:
            calls = [
                e.llm_calls
                for e in store.events(["tick_completed"])
                if isinstance(e, TickCompleted)
            ]
    done.set()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss = usage.ru_maxrss
    return {
        "agents": n,
        "weeks": weeks,
        "runner": runner,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round((rss + peak_workers[0]) / 1024, 1),
        # CPU time of this process and (under Ray) of the shard workers: on a shared machine
        # the wall time depends on the load, the CPU time much less.
        "cpu_s": round(usage.ru_utime + usage.ru_stime + worker_cpu[0], 1),
        "max_calls_per_tick": max(calls) if calls else 0,
        "metrics": metrics,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _our_pids(*markers: str) -> list[int]:
    """Processes whose command line names our cluster (its folder or its address)."""
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                if any(m in cmd for m in markers):
                    pids.append(int(pid))
            except OSError:
                continue
    return pids


def _run(args: argparse.Namespace, n: int, runner: str, address: str | None, marker: str) -> Any:
    cmd = [sys.executable, __file__, "--one", str(n), "--weeks", str(args.weeks)]
    cmd += ["--runner", runner, "--marker", marker]
    if address:
        cmd += ["--address", address]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{n} agents ({runner}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _show(r: dict[str, Any]) -> None:
    m = r["metrics"]
    print(
        f"{r['agents']:>9} people x {r['weeks']} weeks ({r['runner']}): {r['wall_s']:>7.1f} s, "
        f"CPU {r['cpu_s']:>7.1f} s, load {os.getloadavg()[0]:.1f}, "
        f"peak {r['peak_rss_mb']:>7.1f} MB, calls/tick <= {r['max_calls_per_tick']}, "
        f"attack rate {m['attack_rate']:.4f}, final unemployment {m['final_unemployment']:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=8_400_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--baseline", type=int, default=100_000)
    parser.add_argument("--ray", action="store_true", help="repeat on a 2-node local Ray cluster")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--runner", default="local", help=argparse.SUPPRESS)
    parser.add_argument("--address", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--marker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.weeks, args.runner, args.address, args.marker)))
        return
    base = _run(args, args.baseline, "local", None, "")
    _show(base)
    big = _run(args, args.agents, "local", None, "")
    _show(big)
    print(
        f"ratio: {big['wall_s'] / base['wall_s']:.1f} x the baseline's wall time for "
        f"{args.agents / args.baseline:.0f} x the people"
    )
    if not args.ray:
        return
    ray_bin = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    tmp = tempfile.mkdtemp(prefix="epi-ray-")
    port = _free_port()
    # Token authentication is on by default for a cluster when a token file exists
    # (~/.ray/auth_token); this loopback-only cluster of our own turns it off explicitly.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    try:
        head = [ray_bin, "start", "--head", "--port", str(port), "--num-cpus", "1"]
        head += ["--temp-dir", tmp, "--include-dashboard", "false"]
        subprocess.run(head, check=True, capture_output=True, env=env)
        subprocess.run(
            [ray_bin, "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "1"],
            check=True,
            capture_output=True,
            env=env,
        )
        ray = _run(args, args.agents, "ray", f"127.0.0.1:{port}", tmp)
        _show(ray)
        same = {k: v for k, v in ray["metrics"].items() if k not in SKIP} == {
            k: v for k, v in big["metrics"].items() if k not in SKIP
        }
        print(f"ray (2 nodes, 2 shards) / local wall time: {ray['wall_s'] / big['wall_s']:.2f}")
        print(f"identical final metrics: {same}")
    finally:
        for pid in _our_pids(tmp, f"127.0.0.1:{port}"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        time.sleep(2)
        for pid in _our_pids(tmp, f"127.0.0.1:{port}"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
