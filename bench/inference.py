"""Benchmark of the inference: battery parameters and EV detection for one device from 30 days of
one-minute readings (43,200), the computation alone (reading the store is monitoring's cost, not this).

Homes are simulated once (a month of one-minute readings each, with a battery, some with an EV), then
`infer_battery` and `detect_ev` run on each of them many times; the figure is the time per device.
Target on this 2-core machine: ≤ 20 ms per device.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from solarfleet.inference.battery import infer_battery
from solarfleet.inference.ev import detect_ev

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from inference.simulated import simulated_home  # the tests' simulated histories
from report import command_line, verdict

TARGET_MS = 20.0
DAYS = 30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=6, help="simulated homes (half with an EV)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per home")
    arguments = parser.parse_args()
    console = Console()
    histories = []
    with Progress(console=console) as progress:
        task = progress.add_task(f"simulating {arguments.homes} homes × {DAYS} days", total=arguments.homes)
        for seed in range(arguments.homes):
            histories.append(simulated_home(1000 + seed, DAYS, ev=seed % 2 == 1).readings)
            progress.advance(task)
    times_ms = []
    for readings in histories:
        now_s = int(readings.time_s[-1]) + 60
        infer_battery(readings), detect_ev(readings, now_s)  # warm-up: first calls build caches
        for _ in range(arguments.runs):
            began = time.perf_counter()
            infer_battery(readings)
            detect_ev(readings, now_s)
            times_ms.append((time.perf_counter() - began) * 1000.0)
    table = Table(title="Inference per device (battery parameters + EV detection)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("readings per device", f"{min(len(r) for r in histories):,}–{max(len(r) for r in histories):,}", "")
    table.add_row("median per device, ms", f"{statistics.median(times_ms):.2f}", f"≤ {TARGET_MS:g}")
    table.add_row("p99 per device, ms", f"{statistics.quantiles(times_ms, n=100)[98]:.2f}", "")
    console.print(table)
    met = statistics.median(times_ms) <= TARGET_MS
    console.print(f"≤ {TARGET_MS:g} ms per device {verdict(met)}")
    console.print(f"command: {command_line()}", highlight=False, soft_wrap=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
