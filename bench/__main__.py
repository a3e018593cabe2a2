"""`python -m bench <name> [--smoke] [--repeats N] [--threads N] [--out DIR]`; `python -m bench --list`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# On a shared machine, OpenMP threads that spin while a sibling thread is descheduled make every parallel
# region wait for the scheduler: steps measured 5-10x slower and erratic. Sleeping waits keep the timings
# steady. Set before torch loads OpenMP; an explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def parser() -> argparse.ArgumentParser:
    from bench.common import MIN_REPEATS, RESULTS

    p = argparse.ArgumentParser(prog="python -m bench", description="Run one of hone's benchmarks.")
    p.add_argument("name", nargs="?", help="the benchmark to run (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--smoke", action="store_true", help="one repeat on a tiny random model: checks that it runs")
    p.add_argument("--repeats", type=int, help=f"timed repeats after the warm-up (default and minimum {MIN_REPEATS})")
    p.add_argument(
        "--threads", type=int, default=2, help="torch threads for a full run (default 2; a smoke run uses 1)"
    )
    p.add_argument("--out", type=Path, default=RESULTS, help=f"where the JSON goes (default {RESULTS})")
    return p


def main(argv: list[str] | None = None) -> int:
    import bench

    args = parser().parse_args(argv)
    if args.list or not args.name:
        for name, entry in sorted(bench.BENCHMARKS.items()):
            print(f"{name:20} {entry.summary}")
        return 0
    from transformers.utils import logging

    from bench.common import show

    logging.disable_progress_bar()  # weight-loading bars would bury the tables
    try:
        data, path = bench.run(args.name, args.smoke, args.repeats, args.threads, args.out, progress=True)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    show(data, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
