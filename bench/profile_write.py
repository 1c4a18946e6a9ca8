"""Where one write's time goes: ``python -m bench.profile_write [--writes N]``.

Declares N movements through the service object (no HTTP) on a fresh SQLite file and
prints the writes per second and the cProfile entries with the largest cumulative time,
so the next person working on write throughput (DESIGN §7 W4) starts from a measurement.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deconflict.core.clock import ManualClock
from deconflict.core.declarations import DeclarationFeature
from deconflict.core.parties import Role
from deconflict.service.deconflict import Deconflict
from deconflict.settings import Settings, sqlite_url

START = datetime(2020, 1, 20, 6, 0, tzinfo=UTC)


def movement(index: int) -> DeclarationFeature:
    """A short patrol, each one offset a little so that none is identical."""
    departure = START + timedelta(hours=2)
    feature = {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[40.5 + index * 0.001, 36.2], [40.6 + index * 0.001, 36.3]],
        },
        "properties": {
            "kind": "movement",
            "times": [
                departure.isoformat().replace("+00:00", "Z"),
                (departure + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
            ],
        },
    }
    return DeclarationFeature.model_validate_json(json.dumps(feature))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "profile.sqlite"
        service = Deconflict(
            Settings(database_url=sqlite_url(path), clock=ManualClock(START), expiry_interval_s=0)
        )
        host = service.authenticate(service.add_host_administrator())
        service.parties.register(host, "alpha", "Alpha", [])
        operator = service.authenticate(
            service.parties.add_member(host, "alpha", "op", Role.operator).token
        )
        features = [movement(i) for i in range(2 * args.writes + 20)]
        for feature in features[:20]:  # warm caches and compiled kernels
            service.declarations.declare(operator, feature)
        started = time.perf_counter()
        for feature in features[20 : 20 + args.writes]:
            service.declarations.declare(operator, feature)
        elapsed = time.perf_counter() - started
        print(
            f"{args.writes} writes, {args.writes / elapsed:.0f} writes/s, {elapsed / args.writes * 1e3:.1f} ms each"
        )
        profile = cProfile.Profile()
        profile.enable()
        for feature in features[20 + args.writes :]:
            service.declarations.declare(operator, feature)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
        service.close()


if __name__ == "__main__":
    main()
