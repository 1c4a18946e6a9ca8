"""`make bench`: every benchmark, full size by default; `--quick` for a CI-sized run.

Runs the conflict-engine workloads (:mod:`bench.conflicts`), the record benchmark
(``bench.record.run``, when it exists) and the API under load (:mod:`bench.load`, W4).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from rich.console import Console

from bench.conflicts import Options, run_all


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostGIS baselines")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path("docs/performance-scaling.png"),
        help="where the scaling plot goes (a .json record lands beside it)",
    )
    parser.add_argument("--only", choices=["conflicts", "record", "load"], default=None)
    args = parser.parse_args()
    console = Console() if sys.stdout.isatty() else Console(width=170)
    plot = args.plot if not args.quick else Path("artifacts/bench-quick.png")
    if args.only in (None, "conflicts"):
        run_all(
            console,
            Options(quick=args.quick, postgres=not args.no_postgres, seed=args.seed, plot=plot),
        )
    if args.only in (None, "record"):
        try:
            record = importlib.import_module("bench.record")
        except ModuleNotFoundError:
            record = None
        if record is not None:
            record.run(console)
    if args.only in (None, "load"):
        from bench import load

        load.run(
            console, load.Options(quick=args.quick, postgres=not args.no_postgres, seed=args.seed)
        )


if __name__ == "__main__":
    main()
