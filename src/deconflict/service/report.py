"""The periodic review: what happened on the channel between two dates, for one party.

The weekly brief and the INCSEA-style annual review are the same document at different
ranges. It is built only from what the asking party may see (advisories as its views show
them, places coarsened where they were coarsened for it, acknowledgements it may know of,
incidents it was shown), so a party can hand its report to anyone without leaking what
other parties did not share with it.

Charts are PNGs drawn with matplotlib's object API (no pyplot, no global state, safe in
the server's threads); the map is lon/lat points over a rough outline of Syria drawn from
a handful of vertices, because a review must render with no network access.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from matplotlib.figure import Figure

from deconflict.core.channel import TIERS, ItemKind, check_moment
from deconflict.core.clock import utc_text
from deconflict.core.errors import InvalidInput
from deconflict.core.parties import Action, Principal
from deconflict.core.visibility import AdvisoryView, Disclosure
from deconflict.service.channel import parse_time
from deconflict.storage import channel_queries as cq
from deconflict.storage import incident_queries as iq
from deconflict.storage import queries

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

MAX_RANGE = timedelta(days=3 * 366)
SYRIA_OUTLINE = [
    (35.92, 35.92), (36.16, 35.82), (36.68, 36.23), (36.66, 36.83), (37.10, 36.66),
    (38.00, 36.84), (38.95, 36.70), (40.07, 36.85), (41.22, 37.07), (42.00, 37.22),
    (42.36, 37.11), (42.06, 36.81), (41.29, 36.36), (41.00, 34.42), (38.79, 33.37), (35.90, 32.72),
    (35.62, 32.68), (35.82, 33.28), (36.40, 34.00), (36.60, 34.20), (35.98, 34.65),
    (35.87, 35.20), (35.73, 35.58), (35.92, 35.92),
]  # fmt: skip
"""Syria's borders to within a few kilometres, for orientation only."""


@dataclass
class Latency:
    party_id: str
    tier: str
    item_kind: str
    minutes: float


@dataclass
class ReviewData:
    party: str
    start: datetime
    end: datetime
    advisories: list[AdvisoryView] = field(default_factory=list)
    latencies: list[Latency] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    unresolved: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Review:
    data: ReviewData
    charts: dict[str, bytes]

    def markdown(self, image_prefix: str | None = None) -> str:
        """Markdown; images as files under ``image_prefix`` (e.g. ``""``) or inline data URIs."""
        d = self.data
        lines = [
            f"# Channel review for {d.party}",
            "",
            f"From {utc_text(d.start)} to {utc_text(d.end)}. Only what {d.party} may see is included.",
            "",
            "## Summary",
            "",
            "| measure | value |",
            "|---|---|",
            f"| advisories issued | {len(d.advisories)} |",
            f"| acknowledgements measured | {len(d.latencies)} |",
            f"| escalations | {len(d.escalations)} |",
            f"| incidents | {len(d.incidents)} |",
            f"| unresolved items | {len(d.unresolved)} |",
            "",
        ]
        for name, title in CHART_TITLES.items():
            src = (
                f"{image_prefix}{name}.png"
                if image_prefix is not None
                else _data_uri(self.charts[name])
            )
            lines += [f"## {title}", "", f"![{title}]({src})", ""]
        lines += [
            "## Acknowledgement latency (minutes)",
            "",
            "| party | tier | n | median | p90 | max |",
            "|---|---|---|---|---|---|",
        ]
        for (party, tier), values in sorted(_by_party_tier(d.latencies).items()):
            lines.append(
                f"| {party} | {tier} | {len(values)} | {_q(values, 0.5):.1f} | {_q(values, 0.9):.1f} | {max(values):.1f} |"
            )
        lines += [
            "",
            "## Incidents",
            "",
            "| occurred | type | status | place | accounts |",
            "|---|---|---|---|---|",
        ]
        for i in d.incidents:
            lines.append(
                f"| {i['occurred_at']} | {i['type']} | {i['status']} | {i['place_name'] or ''} | {i['accounts']} |"
            )
        lines += ["", "## Unresolved", "", "| item | id | what is missing |", "|---|---|---|"]
        for u in d.unresolved:
            lines.append(f"| {u['item']} | {u['id']} | {u['missing']} |")
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        d = self.data
        e = html.escape
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>Channel review for {e(d.party)}</title>",
            "<style>body{font-family:sans-serif;max-width:60rem;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:.2rem .5rem}img{max-width:100%}</style></head><body>",
            f"<h1>Channel review for {e(d.party)}</h1>",
            f"<p>From {e(utc_text(d.start))} to {e(utc_text(d.end))}. Only what {e(d.party)} may see is included.</p>",
            "<h2>Summary</h2><table>",
            f"<tr><td>advisories issued</td><td>{len(d.advisories)}</td></tr>",
            f"<tr><td>acknowledgements measured</td><td>{len(d.latencies)}</td></tr>",
            f"<tr><td>escalations</td><td>{len(d.escalations)}</td></tr>",
            f"<tr><td>incidents</td><td>{len(d.incidents)}</td></tr>",
            f"<tr><td>unresolved items</td><td>{len(d.unresolved)}</td></tr></table>",
        ]
        for name, title in CHART_TITLES.items():
            parts.append(
                f"<h2>{e(title)}</h2><img alt='{e(title)}' src='{_data_uri(self.charts[name])}'>"
            )
        parts.append(
            "<h2>Incidents</h2><table><tr><th>occurred</th><th>type</th><th>status</th><th>place</th><th>accounts</th></tr>"
        )
        for i in d.incidents:
            parts.append(
                f"<tr><td>{e(i['occurred_at'])}</td><td>{e(i['type'])}</td><td>{e(i['status'])}</td>"
                f"<td>{e(i['place_name'] or '')}</td><td>{e(str(i['accounts']))}</td></tr>"
            )
        parts.append(
            "</table><h2>Unresolved</h2><table><tr><th>item</th><th>id</th><th>what is missing</th></tr>"
        )
        for u in d.unresolved:
            parts.append(
                f"<tr><td>{e(u['item'])}</td><td>{e(u['id'])}</td><td>{e(u['missing'])}</td></tr>"
            )
        parts.append("</table></body></html>")
        return "\n".join(parts)


CHART_TITLES = {
    "advisories": "Advisories issued per day",
    "latency": "Acknowledgement latency by party and tier",
    "escalations": "Escalations per day",
    "incidents": "Incidents by type over time",
    "map": "Where incidents and advisories happened",
}


@dataclass
class Reports:
    service: Deconflict

    def review(self, who: Principal, start: datetime, end: datetime) -> Review:
        party = who.require_party(Action.read)
        check_moment("from", start)
        check_moment("to", end)
        if end <= start:
            raise InvalidInput.at("to", "must be after from")
        if end - start > MAX_RANGE:
            raise InvalidInput.at("to", "a review covers at most three years")
        data = ReviewData(party, start, end)
        with self.service.db.connect() as conn:
            self._advisories(conn, data)
            self._latencies(conn, data)
            self._escalations(conn, data)
            self._incidents(conn, data)
        return Review(data, draw(data))

    def _advisories(self, conn: sa.Connection, data: ReviewData) -> None:
        for _, stored in queries.advisories_for(conn, data.party, limit=100_000):
            view = self.service.advisories._view(conn, stored, data.party)
            if view is None:
                continue
            if data.start <= view.raised_at < data.end:
                data.advisories.append(view)
            if view.status == "open" and view.raised_at < data.end:
                acked = {a.party_id for a in view.acknowledgements}
                if data.party not in acked:
                    data.unresolved.append(
                        {
                            "item": "advisory",
                            "id": view.id,
                            "missing": f"acknowledgement by {data.party}",
                        }
                    )

    def _sees(self, conn: sa.Connection, row: Any, party: str) -> bool:
        if row.party_id == party:
            return True
        if row.item_kind == ItemKind.message.value:
            message = cq.message(conn, row.item_id)
            return message is not None and party in cq.thread_parties(conn, message.thread_id)
        stored = queries.advisory(conn, row.item_id)
        full = (
            set()
            if stored is None
            else {p for p, d in stored.recipients.items() if d is Disclosure.full}
        )
        return {party, row.party_id} <= full

    def _latencies(self, conn: sa.Connection, data: ReviewData) -> None:
        for row in cq.all_deadlines(conn):
            started = parse_time(row.started_at)
            if not data.start <= started < data.end or not self._sees(conn, row, data.party):
                continue
            if row.acknowledged_at is not None:
                minutes = (parse_time(row.acknowledged_at) - started).total_seconds() / 60
                data.latencies.append(
                    Latency(row.party_id, row.acknowledged_tier, row.item_kind, minutes)
                )
            elif row.status in ("pending", "on_agenda") and row.item_kind == ItemKind.message.value:
                data.unresolved.append(
                    {
                        "item": "message",
                        "id": row.item_id,
                        "missing": f"acknowledgement by {row.party_id} ({row.status}, {row.tier})",
                    }
                )

    def _escalations(self, conn: sa.Connection, data: ReviewData) -> None:
        for e in cq.escalations(conn):
            at = parse_time(e.at)
            if data.party in e.audience and data.start <= at < data.end:
                data.escalations.append(
                    {
                        "at": at,
                        "item_kind": e.item_kind,
                        "item_id": e.item_id,
                        "party_id": e.party_id,
                        "to": e.to_tier or "agenda",
                    }
                )

    def _incidents(self, conn: sa.Connection, data: ReviewData) -> None:
        for row in iq.incidents_for(conn, data.party):
            occurred = parse_time(row.occurred_at)
            involved = {p for p, r in iq.viewers(conn, row.id).items() if r == "involved"}
            accounts = iq.latest_versions(conn, row.id)
            if data.start <= occurred < data.end:
                data.incidents.append(
                    {
                        "id": row.id,
                        "occurred_at": row.occurred_at,
                        "occurred": occurred,
                        "type": row.type,
                        "status": row.status,
                        "place": (row.lon, row.lat),
                        "place_name": row.place_name,
                        "accounts": ", ".join(f"{p} v{v}" for p, v in sorted(accounts.items()))
                        or "none",
                    }
                )
            if row.status not in ("settled",) and occurred < data.end:
                missing = sorted(involved - set(accounts))
                what = (
                    f"{row.status}; no account from {', '.join(missing)}" if missing else row.status
                )
                data.unresolved.append({"item": "incident", "id": row.id, "missing": what})


# --- charts -----------------------------------------------------------------------------------


def draw(data: ReviewData) -> dict[str, bytes]:
    return {
        "advisories": _per_day(
            data, [a.raised_at for a in data.advisories], "advisories", "tab:blue"
        ),
        "latency": _latency(data),
        "escalations": _per_day(
            data, [e["at"] for e in data.escalations], "escalations", "tab:red"
        ),
        "incidents": _incidents(data),
        "map": _map(data),
    }


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _days(data: ReviewData) -> list[datetime]:
    first = data.start.replace(hour=0, minute=0, second=0, microsecond=0)
    count = max(1, (data.end - first).days + (1 if (data.end - first) % timedelta(days=1) else 0))
    return [first + timedelta(days=i) for i in range(count)]


def _per_day(data: ReviewData, moments: list[datetime], what: str, colour: str) -> bytes:
    days = _days(data)
    counts = Counter((m - days[0]).days for m in moments)
    fig = Figure(figsize=(7, 2.8))
    ax = fig.subplots()
    ax.bar(
        [d.strftime("%m-%d") for d in days],
        [counts.get(i, 0) for i in range(len(days))],
        color=colour,
    )
    ax.set_ylabel(what)
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    if not moments:
        ax.text(0.5, 0.5, f"no {what} in this period", transform=ax.transAxes, ha="center")
    return _png(fig)


def _by_party_tier(latencies: list[Latency]) -> dict[tuple[str, str], list[float]]:
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for item in latencies:
        groups[(item.party_id, item.tier)].append(item.minutes)
    return groups


def _latency(data: ReviewData) -> bytes:
    """A box per party and tier with every acknowledgement drawn over it: the spread, not a mean."""
    order = {tier.value: i for i, tier in enumerate(TIERS)}
    groups = sorted(
        _by_party_tier(data.latencies).items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9))
    )
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    if groups:
        values = [v for _, v in groups]
        ax.boxplot(values, showfliers=False)
        for i, points in enumerate(values, start=1):
            jitter = [i + ((j % 7) - 3) * 0.03 for j in range(len(points))]
            ax.scatter(jitter, points, s=12, alpha=0.7, color="black", zorder=3)
        ax.set_xticks(range(1, len(groups) + 1), [f"{p}\n{t}" for (p, t), _ in groups], fontsize=7)
        ax.set_ylabel("minutes to acknowledge")
    else:
        ax.text(0.5, 0.5, "no acknowledgements in this period", transform=ax.transAxes, ha="center")
    return _png(fig)


def _incidents(data: ReviewData) -> bytes:
    days = _days(data)
    weekly = len(days) > 31
    step = 7 if weekly else 1
    buckets = [days[0] + timedelta(days=i) for i in range(0, len(days), step)]
    types = sorted({i["type"] for i in data.incidents})
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    bottom = [0] * len(buckets)
    labels = [b.strftime("%m-%d") for b in buckets]
    for kind in types:
        counts = Counter(
            (i["occurred"] - days[0]).days // step for i in data.incidents if i["type"] == kind
        )
        heights = [counts.get(b, 0) for b in range(len(buckets))]
        ax.bar(labels, heights, bottom=bottom, label=kind)
        bottom = [a + b for a, b in zip(bottom, heights, strict=True)]
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.set_ylabel("incidents per week" if weekly else "incidents per day")
    if types:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no incidents in this period", transform=ax.transAxes, ha="center")
    return _png(fig)


def _map(data: ReviewData) -> bytes:
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    xs, ys = zip(*SYRIA_OUTLINE, strict=True)
    ax.plot(xs, ys, color="grey", linewidth=1, label="Syria (approximate)")
    points: list[tuple[float, float]] = []
    if data.advisories:
        places = [a.closest_approach.place for a in data.advisories]
        points += places
        ax.scatter(
            [p[0] for p in places],
            [p[1] for p in places],
            marker="^",
            color="tab:orange",
            label="advisory",
        )
    if data.incidents:
        places = [i["place"] for i in data.incidents]
        points += places
        ax.scatter(
            [p[0] for p in places],
            [p[1] for p in places],
            marker="X",
            s=60,
            color="tab:red",
            label="incident",
        )
        for i in data.incidents:
            if i["place_name"]:
                ax.annotate(
                    i["place_name"],
                    i["place"],
                    fontsize=6,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
    if points:
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        ax.set_xlim(min(lons) - 0.5, max(lons) + 0.5)
        ax.set_ylim(min(lats) - 0.4, max(lats) + 0.4)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect(1.25)
    ax.grid(True, linewidth=0.3)
    ax.legend(fontsize=7, loc="lower left")
    return _png(fig)


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
