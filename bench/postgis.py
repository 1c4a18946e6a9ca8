"""The PostGIS baselines: the same questions asked of PostgreSQL, as well as we know how.

Everything lives in a schema of its own (``bench_<pid>``), dropped at the end. Geometries
are projected to an azimuthal equidistant projection centred on the region (metres; under
0.02 % of stretch at the region's edges), because ``ST_CPAWithin`` works on planar
geometry only, and so that one planar GiST serves every query.

W1 (check one): route segments, points and polygons are rows with a ``floatrange`` of the
instants each can be anywhere, under one composite GiST index on (geom, reach)::

    SELECT DISTINCT e.decl
    FROM unnest(%(wkb)s::bytea[], %(lo)s::float8[], %(hi)s::float8[]) AS q(wkb, lo, hi)
    JOIN {schema}.w1 e
      ON e.geom && ST_Expand(ST_GeomFromWKB(q.wkb), %(reach)s)
     AND e.reach && {schema}.floatrange(q.lo, q.hi, '[]')
     AND ST_DWithin(e.geom, ST_GeomFromWKB(q.wkb), %(rule)s + e.buf)
    WHERE e.party <> %(party)s

This is a *screen* (time reach and distance separately), a superset of the conflicts: the
in-process verdict does strictly more work than the database here.

W2 (all pairs): one row per route segment as a two-vertex LINESTRING M (m = seconds), with
a GiST on (geom, span), self-joined with ``ST_CPAWithin`` (same instant, closer than S),
which is exactly the question when tolerances and buffers are zero; and the plain variant
with one LINESTRING M per route, as the issue describes it.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
import shapely
from pyproj import Proj

from bench import scenes
from deconflict.core.declarations import Activity, Kind

DSN = "postgresql://postgres@127.0.0.1:5432/test"
CENTRE = ((scenes.WEST + scenes.EAST) / 2, (scenes.SOUTH + scenes.NORTH) / 2)
PROJ = Proj(proj="aeqd", lon_0=CENTRE[0], lat_0=CENTRE[1], ellps="WGS84", units="m")


def connect(dsn: str = DSN) -> psycopg.Connection[Any] | str:
    """A connection, starting the local cluster if it is down; or why there is none."""
    try:
        return psycopg.connect(dsn, connect_timeout=3, autocommit=True)
    except psycopg.Error as first:
        try:
            subprocess.run(
                ["pg_ctlcluster", "15", "main", "start"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            return psycopg.connect(dsn, connect_timeout=3, autocommit=True)
        except (OSError, subprocess.SubprocessError, psycopg.Error):
            return f"PostgreSQL unreachable at {dsn}: {str(first).strip()}"


@contextmanager
def schema(conn: psycopg.Connection[Any]) -> Iterator[str]:
    """A private schema with the float range type, dropped afterwards whatever happens."""
    name = f"bench_{os.getpid()}"
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    conn.execute(f"CREATE SCHEMA {name}")
    conn.execute(
        f"CREATE TYPE {name}.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi)"
    )
    try:
        yield name
    finally:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def _project(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    x, y = PROJ(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def _copy(conn: psycopg.Connection[Any], table: str, columns: str, rows: Iterator[str]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for k, row in enumerate(rows):
            buffer.write(row)
            if k % 50_000 == 49_999:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def _bound(value: float) -> str:
    return "infinity" if not np.isfinite(value) else repr(float(value))


def load_w1(
    conn: psycopg.Connection[Any], name: str, activities: list[Activity], parties: dict[str, int]
) -> int:
    """Route segments, points and polygons as rows; returns the row count."""
    conn.execute(
        f"CREATE TABLE {name}.w1 (decl int, party int, geom geometry, "
        f"reach {name}.floatrange, alo float8, ahi float8, buf float8)"
    )

    def rows() -> Iterator[str]:
        for k, a in enumerate(activities):
            band = a.altitude or (-1e9, 1e9)
            tail = f"\t{float(band[0])!r}\t{float(band[1])!r}\t{float(a.buffer_m)!r}\n"
            party = parties.setdefault(a.party_id, len(parties))
            if a.kind is Kind.movement:
                assert a.times is not None
                xy = _project(shapely.get_coordinates(a.geometry))
                for i in range(len(xy) - 1):
                    first = float(a.times[i]) - a.tolerance_s
                    last = float(a.times[i + 1]) + a.tolerance_s
                    wkt = (
                        f"LINESTRING({xy[i, 0]:.3f} {xy[i, 1]:.3f},"
                        f"{xy[i + 1, 0]:.3f} {xy[i + 1, 1]:.3f})"
                    )
                    yield f"{k}\t{party}\t{wkt}\t[{first!r},{last!r}]{tail}"
            else:
                geom = shapely.transform(a.geometry, _project)
                end = _bound(np.inf if a.end is None else a.end)
                yield f"{k}\t{party}\t{shapely.to_wkt(geom, rounding_precision=3)}\t[{float(a.start)!r},{end}]{tail}"

    _copy(conn, f"{name}.w1", "decl, party, geom, reach, alo, ahi, buf", rows())
    conn.execute(f"CREATE INDEX ON {name}.w1 USING gist (geom, reach)")
    conn.execute(f"ANALYZE {name}.w1")
    row = conn.execute(f"SELECT count(*) FROM {name}.w1").fetchone()
    return int(row[0]) if row else 0


W1_QUERY = """
SELECT DISTINCT e.decl
FROM unnest(%(wkb)s::bytea[], %(lo)s::float8[], %(hi)s::float8[]) AS q(wkb, lo, hi)
JOIN {schema}.w1 e
  ON e.geom && ST_Expand(ST_GeomFromWKB(q.wkb), %(reach)s)
 AND e.reach && {schema}.floatrange(q.lo, q.hi, '[]')
 AND ST_DWithin(e.geom, ST_GeomFromWKB(q.wkb), %(rule)s + e.buf)
WHERE e.party <> %(party)s
"""


def query_w1(
    conn: psycopg.Connection[Any], name: str, probe: Activity, rule_m: float, max_buffer_m: float
) -> set[int]:
    """The declarations (scene indices) the probe's segments come near in space and time."""
    assert probe.times is not None
    xy = _project(shapely.get_coordinates(probe.geometry))
    wkb = [shapely.to_wkb(shapely.linestrings(xy[i : i + 2])) for i in range(len(xy) - 1)]
    lo = (probe.times[:-1] - probe.tolerance_s).tolist()
    hi = (probe.times[1:] + probe.tolerance_s).tolist()
    params = {
        "wkb": wkb,
        "lo": lo,
        "hi": hi,
        "reach": rule_m + max_buffer_m + probe.buffer_m,
        "rule": rule_m + probe.buffer_m,
        "party": -1,
    }
    return {int(r[0]) for r in conn.execute(W1_QUERY.format(schema=name), params).fetchall()}


def load_w2(conn: psycopg.Connection[Any], name: str, activities: list[Activity]) -> None:
    """Segments as two-vertex LINESTRING M rows, and whole routes as one LINESTRING M each."""
    conn.execute(
        f"CREATE TABLE {name}.w2 (decl int, party int, geom geometry, span {name}.floatrange)"
    )
    conn.execute(
        f"CREATE TABLE {name}.w2r (decl int, party int, geom geometry, span {name}.floatrange)"
    )
    parties: dict[str, int] = {}

    def segments() -> Iterator[str]:
        for k, a in enumerate(activities):
            assert a.times is not None
            party = parties.setdefault(a.party_id, len(parties))
            xy = _project(shapely.get_coordinates(a.geometry))
            m = (a.times - scenes.T0).tolist()
            for i in range(len(xy) - 1):
                wkt = (
                    f"LINESTRINGM({xy[i, 0]:.3f} {xy[i, 1]:.3f} {m[i]:.3f},"
                    f"{xy[i + 1, 0]:.3f} {xy[i + 1, 1]:.3f} {m[i + 1]:.3f})"
                )
                yield f"{k}\t{party}\t{wkt}\t[{m[i]!r},{m[i + 1]!r}]\n"

    def routes() -> Iterator[str]:
        for k, a in enumerate(activities):
            assert a.times is not None
            xy = _project(shapely.get_coordinates(a.geometry))
            m = (a.times - scenes.T0).tolist()
            points = ",".join(f"{x:.3f} {y:.3f} {t:.3f}" for (x, y), t in zip(xy, m, strict=True))
            yield f"{k}\t{parties[a.party_id]}\tLINESTRINGM({points})\t[{m[0]!r},{m[-1]!r}]\n"

    _copy(conn, f"{name}.w2", "decl, party, geom, span", segments())
    _copy(conn, f"{name}.w2r", "decl, party, geom, span", routes())
    for table in ("w2", "w2r"):
        conn.execute(f"CREATE INDEX ON {name}.{table} USING gist (geom, span)")
        conn.execute(f"ANALYZE {name}.{table}")


W2_QUERY = """
SELECT DISTINCT a.decl, b.decl
FROM {schema}.{table} a JOIN {schema}.{table} b
  ON b.geom && ST_Expand(a.geom, %(rule)s)
 AND b.span && a.span
 AND a.decl < b.decl
 AND a.party <> b.party
 AND ST_CPAWithin(a.geom, b.geom, %(rule)s)
"""


def query_w2(
    conn: psycopg.Connection[Any], name: str, table: str, rule_m: float
) -> set[tuple[int, int]]:
    rows = conn.execute(W2_QUERY.format(schema=name, table=table), {"rule": rule_m}).fetchall()
    return {(int(a), int(b)) for a, b in rows}


def explain(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any]) -> str:
    plan = conn.execute("EXPLAIN " + sql, params).fetchall()
    return "\n".join(str(r[0]) for r in plan)
