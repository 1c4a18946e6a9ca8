"""Tables, the scaling plot and the JSON record of a benchmark run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

W1_TARGET_S = 1e-3
W2_TARGET_S = 2.0
W4_TARGET_MB = 1024.0


def load() -> dict[str, float]:
    """Load average and core count, to report the conditions honestly."""
    one, five, fifteen = os.getloadavg()
    return {"load1": one, "load5": five, "load15": fifteen, "cores": float(os.cpu_count() or 0)}


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def ratio(baseline: float, ours: float) -> str:
    return f"{baseline / ours:,.0f}×" if ours > 0 else "–"


def show(console: Console, r: dict[str, Any]) -> None:
    w1, w2, w3, w4 = r["w1"], r["w2"], r["w3"], r["w4"]
    console.rule("Conflict engine benchmark")
    console.print(f"load before {r['load']}, after {r['load_after']}")

    c = r["choice"]
    t = Table(title=f"Index choice: W1 screen at N={c['w1_n']:,}, W2 all pairs at N={c['w2_n']:,}")
    for col in (
        "index",
        "build",
        "keys",
        "broad p50",
        "candidates",
        "screen p50",
        "screen p99",
        "W2",
    ):
        t.add_column(col, justify="right")
    for row in c["rows"]:
        screen = row.get("screen")
        broad = row.get("broad")
        t.add_row(
            row["index"],
            f"{row['load_s']:.2f} s",
            f"{row['keys']:,}",
            ms(broad["p50"]) if broad else "–",
            f"{row.get('candidates', 0):,.0f}",
            ms(screen["p50"]) if screen else "–",
            ms(screen["p99"]) if screen else "–",
            "–" if row["w2_s"] != row["w2_s"] else f"{row['w2_s']:.2f} s",
        )
    console.print(t)

    t = Table(
        title=f"W1 check one: 50-vertex 24 h movement vs N (rule {w1['rule_m']:.0f} m, "
        f"{w1['probes']} probes)"
    )
    for col in (
        "N",
        "conflicts",
        "verdict p50",
        "verdict p99",
        "screen p50",
        "check p50",
        "naive p50",
        "× naive",
        "PostGIS p50",
        "PostGIS p99",
        "× PostGIS",
    ):
        t.add_column(col, justify="right")
    for row in w1["rows"]:
        pg = row.get("postgis")
        naive = row["naive"]
        t.add_row(
            f"{row['n']:,}",
            f"{row['conflicts']:.0f}",
            ms(row["verdict"]["p50"]),
            ms(row["verdict"]["p99"]),
            ms(row["screen"]["p50"]),
            ms(row["check"]["p50"]),
            ms(naive["p50"]) + (" (extrap.)" if naive["extrapolated"] else ""),
            ratio(naive["p50"], row["verdict"]["p50"]),
            ms(pg["p50"]) if pg else "skipped",
            ms(pg["p99"]) if pg else "–",
            ratio(pg["p50"], row["verdict"]["p50"]) if pg else "–",
        )
    console.print(t)
    console.print(
        f"W1 verdict p50 grows as N^{w1['exponent']:.2f}; target p99 ≤ 1 ms at the "
        f"largest N: {'met' if w1['rows'][-1]['verdict']['p99'] <= W1_TARGET_S else 'MISSED'}"
    )

    t = Table(title=f"W2 all pairs among N movements over 24 h (S = {w2['rule_m']:.0f} m, τ = 0)")
    for col in ("N", "pairs", "indexed p50", "exact calls", "naive (extrap.)", "× naive"):
        t.add_column(col, justify="right")
    for row in w2["rows"]:
        t.add_row(
            f"{row['n']:,}",
            f"{row['pairs']:,}",
            ms(row["all_pairs"]["p50"]),
            f"{row['uncertain']:,}",
            ms(row["naive"]["extrapolated_s"]),
            ratio(row["naive"]["extrapolated_s"], row["all_pairs"]["p50"]),
        )
    console.print(t)
    if w2["postgis"]:
        t = Table(title="W2 PostGIS self-joins (ST_CPAWithin)")
        for col in ("N", "table", "seconds", "pairs", "differs from indexed"):
            t.add_column(col, justify="right")
        for row in w2["postgis"]:
            t.add_row(
                f"{row['n']:,}",
                "segments" if row["table"] == "w2" else "routes",
                f"{row['seconds']:.2f}",
                f"{row['pairs']:,}",
                _differs(row),
            )
        console.print(t)
        ours = w2["rows"][-1]["all_pairs"]["p50"]
        for table, label in (("w2", "segments"), ("w2r", "routes")):
            if f"postgis_at_max_{table}" in w2:
                at_max = w2[f"postgis_at_max_{table}"]
                measured = any(
                    r["table"] == table and r["n"] == w2["rows"][-1]["n"] for r in w2["postgis"]
                )
                console.print(
                    f"PostGIS ({label}) grows as N^{w2[f'postgis_exponent_{table}']:.2f}"
                    f"; {'measured' if measured else 'extrapolated'} at "
                    f"N={w2['rows'][-1]['n']:,}: {at_max:,.1f} s "
                    f"→ indexed is {ratio(at_max, ours)} faster"
                )
    console.print(f"W2 grows as N^{w2['exponent']:.2f}; every engine on one scene: {w2['agree']}")

    console.print(
        f"W3 churn at N={w3['n']:,}: amend p50 {ms(w3['amend']['p50'])} p99 "
        f"{ms(w3['amend']['p99'])}; cancel p50 {ms(w3['cancel']['p50'])} p99 "
        f"{ms(w3['cancel']['p99'])}; rebuild {w3['rebuild_s']:.2f} s every "
        f"{w3['delta_limit_rows']:,} rows, amortised "
        f"{ms(w3['amortised_rebuild_per_amend_s'])} per amend; verdict with a "
        f"live delta p50 {ms(w3['verdict_with_delta']['p50'])}"
    )
    console.print(
        f"W4 memory at N={w4['n']:,}: interpreter {w4['interpreter_mb']:.0f} MB + "
        f"activities {w4['activities_mb']:.0f} MB + index {w4['engine_mb']:.0f} MB = "
        f"{w4['total_mb']:.0f} MB resident (peak {w4['peak_mb']:.0f} MB); target "
        f"≤ 1 GB: {'met' if w4['total_mb'] <= W4_TARGET_MB else 'MISSED'}"
    )


def _differs(row: dict[str, Any]) -> str:
    """How many pairs one engine found and the other did not, with their exact closest
    approaches (the separation is where a planar projection and the geodesic part)."""
    closest = row.get("differs_closest_m") or []
    if not row["differs"] or not closest:
        return str(row["differs"])
    return f"{row['differs']} (closest approach {min(closest):.3f}–{max(closest):.3f} m)"


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    rows = r["w1"]["rows"]
    n = [row["n"] for row in rows]
    left.loglog(n, [row["verdict"]["p50"] * 1e3 for row in rows], "o-", label="indexed verdict")
    left.loglog(
        n, [row["check"]["p50"] * 1e3 for row in rows], "s--", label="indexed check (+ encounters)"
    )
    left.loglog(
        n, [row["naive"]["p50"] * 1e3 for row in rows], "^-", label="naive loop (extrapolated)"
    )
    if all("postgis" in row for row in rows):
        left.loglog(n, [row["postgis"]["p50"] * 1e3 for row in rows], "d-", label="PostGIS screen")
    left.axhline(1.0, color="grey", lw=0.8, ls=":")
    left.set_title("W1 check one (p50)")
    left.set_xlabel("active declarations N")
    left.set_ylabel("ms")
    left.legend(fontsize=8)
    rows = r["w2"]["rows"]
    n = [row["n"] for row in rows]
    right.loglog(n, [row["all_pairs"]["p50"] for row in rows], "o-", label="indexed all_pairs")
    right.loglog(
        n, [row["naive"]["extrapolated_s"] for row in rows], "^-", label="naive loop (extrapolated)"
    )
    seg = [row for row in r["w2"]["postgis"] if row["table"] == "w2"]
    if seg:
        right.loglog(
            [row["n"] for row in seg],
            [row["seconds"] for row in seg],
            "d-",
            label="PostGIS ST_CPAWithin (segments)",
        )
    routes = [row for row in r["w2"]["postgis"] if row["table"] == "w2r"]
    if routes:
        right.loglog(
            [row["n"] for row in routes],
            [row["seconds"] for row in routes],
            "x-",
            label="PostGIS ST_CPAWithin (routes)",
        )
    right.axhline(2.0, color="grey", lw=0.8, ls=":")
    right.set_title("W2 all pairs")
    right.set_xlabel("movements N")
    right.set_ylabel("s")
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save(r: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(r, indent=1, default=float) + "\n")
