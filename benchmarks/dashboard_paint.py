"""First paint of the dashboard's run view: a finished 1M-user social run against a small one.

For each store, a fresh dashboard server (``societas dashboard --port 0``, its own process)
serves it and Debian's chromium (driven by Playwright for Python) opens the run view; first
paint is the time from navigation until the page has drawn the run (scrubber, story, series,
world view: ``body[data-ready=run]``). Each store is opened ``--repeat`` times in a fresh
browser context and server, so the run's overview cache never helps; the median is printed,
with the ratio against the baseline (the same scenario at ``--baseline-agents`` users) measured
in the same command. Target (issue 15): under 2 s for the 1M-user run (a 70 MB store).

    python benchmarks/dashboard_paint.py [--store DIR] [--agents 1000000] [--repeat 3]

Without ``--store`` the 1M run is made first (``societas run social --model scripted --set
agents=1000000 --set mode=archetype``: about 2 minutes, 1 GB of memory) in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SOCIETAS = str(Path(sys.executable).with_name("societas"))


def make_run(out: Path, agents: int) -> None:
    subprocess.run(
        [SOCIETAS, "run", "social", "--model", "scripted", "--set", f"agents={agents}",
         "--set", "mode=archetype", "--out", str(out), "-q"],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def serve(folder: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [SOCIETAS, "dashboard", str(folder), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    if match is None:
        proc.kill()
        raise SystemExit(f"the dashboard did not start: {line}")
    return proc, match.group(1)


def first_paint(browser: object, folder: Path) -> float:
    proc, url = serve(folder)
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
        page = context.new_page()
        start = time.perf_counter()
        page.goto(f"{url}#/run?id=")
        page.wait_for_selector("body[data-ready='run']", state="attached", timeout=60_000)
        elapsed = time.perf_counter() - start
        context.close()
        return elapsed
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="a finished run directory to measure")
    parser.add_argument("--agents", type=int, default=1_000_000)
    parser.add_argument("--baseline-agents", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="dashboard-paint-") as tmp:
        big = args.store
        if big is None:
            big = Path(tmp) / "big"
            print(f"making the {args.agents:,}-user run ...", flush=True)
            make_run(big, args.agents)
        small = Path(tmp) / "small"
        make_run(small, args.baseline_agents)
        sizes = {p: os.path.getsize(p / "run.db") / 1e6 for p in (big, small)}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            times = {
                label: [first_paint(browser, folder) for _ in range(args.repeat)]
                for label, folder in (("baseline", small), ("large", big))
            }
            browser.close()
    base = statistics.median(times["baseline"])
    large = statistics.median(times["large"])
    print(f"baseline ({args.baseline_agents:,} users, {sizes[small]:.1f} MB store): "
          f"first paint median {base:.2f} s of {args.repeat} {times['baseline']}")  # fmt: skip
    print(f"large ({sizes[big]:.1f} MB store): first paint median {large:.2f} s of "
          f"{args.repeat} {times['large']}")  # fmt: skip
    print(f"ratio large/baseline: {large / base:.2f}; target under 2 s: "
          f"{'met' if large < 2.0 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
