"""The projector's part for the channel and incidents: appliers for their events.

Registered into :mod:`deconflict.storage.projector` (``APPLIERS`` for the new kinds, ``ALSO``
for the advisory events the channel follows too), so live writes and ``rebuild`` still go
through one ``apply``. Deadlines are computed here, from the event's time and the deadline
rule of the pair as the log had set it by then, so a replay reproduces them exactly and an
advisory gets its deadline the moment it is raised, whoever raised it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from deconflict.core.channel import (
    DEFAULT_RULE,
    TIERS,
    DeadlineRule,
    DeadlineStatus,
    ItemKind,
    Tier,
    pair,
)
from deconflict.core.clock import utc_text
from deconflict.core.events import Event, EventKind
from deconflict.core.incidents import IncidentStatus, ViewerRole
from deconflict.storage import tables as t

Apply = Callable[[sa.Connection, Event], None]


def at(event: Event) -> str:
    return utc_text(event.recorded_at)


# Built once, with their parameters bound at execution: an advisory starts a deadline for each
# recipient inside the write, and building the statements anew cost more than running them.
_RULE = sa.select(t.ack_deadline_rules).where(
    t.ack_deadline_rules.c.party_a == sa.bindparam("low"),
    t.ack_deadline_rules.c.party_b == sa.bindparam("high"),
)
_DEADLINE_INSERT = t.ack_deadlines.insert()


def deadline_rule(conn: sa.Connection, party_a: str, party_b: str) -> DeadlineRule:
    low, high = pair(party_a, party_b)
    row = conn.execute(_RULE, {"low": low, "high": high}).first()
    if row is None:
        return DEFAULT_RULE
    return DeadlineRule(
        {
            Tier.tactical: row.tactical_s,
            Tier.operational: row.operational_s,
            Tier.leadership: row.leadership_s,
        },
        (low, high),
    )


def _start_deadline(
    conn: sa.Connection,
    event: Event,
    kind: ItemKind,
    item_id: str,
    party: str,
    counterpart: str,
    tier: Tier = Tier.tactical,
) -> None:
    """The item waits first at its own tier: a leadership message is not a tactical one."""
    rule = deadline_rule(conn, party, counterpart)
    conn.execute(
        _DEADLINE_INSERT, _deadline_row(event, kind, item_id, party, counterpart, rule, tier)
    )


def _deadline_row(
    event: Event,
    kind: ItemKind,
    item_id: str,
    party: str,
    counterpart: str,
    rule: DeadlineRule,
    tier: Tier,
) -> dict[str, Any]:
    return {
        "item_kind": kind.value,
        "item_id": item_id,
        "party_id": party,
        "counterpart": counterpart,
        "tier": tier.value,
        "started_at": at(event),
        "due_at": utc_text(event.recorded_at + rule.for_tier(tier)),
        "status": DeadlineStatus.pending.value,
        "escalations": 0,
    }


def _acknowledge(conn: sa.Connection, event: Event, kind: ItemKind, item_id: str) -> None:
    d = t.ack_deadlines
    key = (
        d.c.item_kind == kind.value,
        d.c.item_id == item_id,
        d.c.party_id == event.body["party_id"],
    )
    row = conn.execute(sa.select(d.c.tier, d.c.status).where(*key)).first()
    if row is None or row.status not in (DeadlineStatus.pending, DeadlineStatus.on_agenda):
        return
    conn.execute(
        d.update()
        .where(*key)
        .values(
            status=DeadlineStatus.acknowledged.value,
            acknowledged_at=at(event),
            acknowledged_tier=row.tier,
        )
    )


# --- advisories (events of the declarations and advisories desks) -------------------------------


def _advisory_raised(conn: sa.Connection, event: Event) -> None:
    b = event.body
    sides = (b["a"]["party_id"], b["b"]["party_id"])
    rules: dict[tuple[str, str], DeadlineRule] = {}
    rows = []
    for party in b["recipients"]:
        other = sides[1] if party == sides[0] else sides[0]
        key = pair(party, other)
        if key not in rules:  # both sides share their pair's rule: one look-up
            rules[key] = deadline_rule(conn, party, other)
        rows.append(
            _deadline_row(
                event, ItemKind.advisory, b["advisory_id"], party, other, rules[key], Tier.tactical
            )
        )
    if rows:
        conn.execute(_DEADLINE_INSERT, rows)


def _advisory_acknowledged(conn: sa.Connection, event: Event) -> None:
    _acknowledge(conn, event, ItemKind.advisory, event.body["advisory_id"])


def _advisory_resolved(conn: sa.Connection, event: Event) -> None:
    d = t.ack_deadlines
    conn.execute(
        d.update()
        .where(
            d.c.item_kind == ItemKind.advisory.value,
            d.c.item_id == event.body["advisory_id"],
            d.c.status.in_([DeadlineStatus.pending.value, DeadlineStatus.on_agenda.value]),
        )
        .values(status=DeadlineStatus.closed.value)
    )


# --- the channel ----------------------------------------------------------------------------------


def _deadlines_set(conn: sa.Connection, event: Event) -> None:
    b = event.body
    r = t.ack_deadline_rules
    conn.execute(r.delete().where(r.c.party_a == b["party_a"], r.c.party_b == b["party_b"]))
    conn.execute(
        r.insert().values(
            party_a=b["party_a"],
            party_b=b["party_b"],
            **{f"{tier.value}_s": b[f"{tier.value}_s"] for tier in TIERS},
            set_at=at(event),
        )
    )


def _thread_opened(conn: sa.Connection, event: Event) -> None:
    b = event.body
    about = b.get("about") or {}
    conn.execute(
        t.threads.insert().values(
            id=b["thread_id"],
            subject=b["subject"],
            about_kind=about.get("kind"),
            about_id=about.get("id"),
            opened_by=b["opened_by"],
            opened_at=at(event),
            opened_seq=event.seq,
        )
    )
    conn.execute(
        t.thread_parties.insert(),
        [{"thread_id": b["thread_id"], "party_id": p} for p in b["parties"]],
    )


def _message_posted(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.messages.insert().values(
            id=b["message_id"],
            thread_id=b["thread_id"],
            party_id=b["party_id"],
            member_id=b["member_id"],
            tier=b["tier"],
            body=b["body"],
            refs=b["references"],
            needs_ack=b["needs_ack"],
            posted_at=at(event),
            seq=event.seq,
        )
    )
    if not b["needs_ack"]:
        return
    parties = conn.execute(
        sa.select(t.thread_parties.c.party_id).where(t.thread_parties.c.thread_id == b["thread_id"])
    ).scalars()
    for party in sorted(parties):
        if party != b["party_id"]:
            _start_deadline(
                conn,
                event,
                ItemKind.message,
                b["message_id"],
                party,
                b["party_id"],
                Tier(b["tier"]),
            )


def _message_acknowledged(conn: sa.Connection, event: Event) -> None:
    _acknowledge(conn, event, ItemKind.message, event.body["message_id"])


def _deadline_key(b: dict[str, Any]) -> tuple[Any, ...]:
    d = t.ack_deadlines
    return (
        d.c.item_kind == b["item_kind"],
        d.c.item_id == b["item_id"],
        d.c.party_id == b["party_id"],
    )


def _escalation_row(event: Event, to_tier: str | None) -> dict[str, Any]:
    b = event.body
    return {
        "seq": event.seq,
        "item_kind": b["item_kind"],
        "item_id": b["item_id"],
        "party_id": b["party_id"],
        "from_tier": b["from_tier"],
        "to_tier": to_tier,
        "due_at": b["due_at"],
        "at": at(event),
        "audience": sorted(event.audience),
    }


def _item_escalated(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.ack_deadlines.update()
        .where(*_deadline_key(b))
        .values(
            tier=b["to_tier"],
            due_at=b["next_due_at"],
            escalations=t.ack_deadlines.c.escalations + 1,
        )
    )
    conn.execute(t.escalations.insert().values(**_escalation_row(event, b["to_tier"])))


def _item_put_on_agenda(conn: sa.Connection, event: Event) -> None:
    conn.execute(
        t.ack_deadlines.update()
        .where(*_deadline_key(event.body))
        .values(status=DeadlineStatus.on_agenda.value)
    )
    conn.execute(t.escalations.insert().values(**_escalation_row(event, None)))


def _receipt(name: str) -> Apply:
    def apply_receipt(conn: sa.Connection, event: Event) -> None:
        b = event.body
        conn.execute(
            t.receipts.insert().values(
                item_kind=b["item_kind"],
                item_id=b["item_id"],
                recipient=b["recipient"],
                receipt=name,
                party_id=b["party_id"],
                via=b["via"],
                at=at(event),
            )
        )

    return apply_receipt


def _webhook_registered(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.webhooks.insert().values(
            id=b["webhook_id"],
            party_id=b["party_id"],
            url=b["url"],
            secret_sha256=b["secret_sha256"],
            registered_at=at(event),
            registered_seq=event.seq,
        )
    )


def _webhook_removed(conn: sa.Connection, event: Event) -> None:
    conn.execute(
        t.webhooks.update()
        .where(t.webhooks.c.id == event.body["webhook_id"])
        .values(removed_at=at(event))
    )


def _meeting_scheduled(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.meetings.insert().values(
            id=b["meeting_id"],
            title=b["title"],
            first_at=b["first_at"],
            every_s=b["every_s"],
            created_by=b["created_by"],
            created_seq=event.seq,
        )
    )
    conn.execute(
        t.meeting_parties.insert(),
        [{"meeting_id": b["meeting_id"], "party_id": p} for p in b["parties"]],
    )


def _minutes_recorded(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.minutes.insert().values(
            meeting_id=b["meeting_id"],
            occurrence=b["occurrence"],
            version=b["version"],
            text=b["text"],
            party_id=b["party_id"],
            recorded_at=at(event),
        )
    )


def _minutes_acknowledged(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.minutes_acknowledgements.insert().values(
            meeting_id=b["meeting_id"],
            occurrence=b["occurrence"],
            version=b["version"],
            party_id=b["party_id"],
            at=at(event),
        )
    )


# --- incidents ------------------------------------------------------------------------------------


def _incident_reported(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.incidents.insert().values(
            id=b["incident_id"],
            type=b["type"],
            status=IncidentStatus.reported.value,
            occurred_at=b["occurred_at"],
            time_precision_s=b["time_precision_s"],
            lon=b["place"][0],
            lat=b["place"][1],
            place_precision_m=b["place_precision_m"],
            place_name=b.get("place_name"),
            summary=b["summary"],
            casualties=b["casualties"],
            links=b["links"],
            reported_by=b["reported_by"],
            reported_at=at(event),
            reported_seq=event.seq,
            updated_at=at(event),
        )
    )
    viewers = [{"party_id": p, "role": ViewerRole.involved.value} for p in b["involved"]]
    viewers += [{"party_id": p, "role": ViewerRole.observer.value} for p in b["observers"]]
    conn.execute(
        t.incident_viewers.insert(), [{"incident_id": b["incident_id"], **v} for v in viewers]
    )


def _touch(conn: sa.Connection, event: Event, **values: Any) -> None:
    conn.execute(
        t.incidents.update()
        .where(t.incidents.c.id == event.body["incident_id"])
        .values(updated_at=at(event), **values)
    )


def _incident_shared(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.incident_viewers.insert().values(
            incident_id=b["incident_id"], party_id=b["party_id"], role=ViewerRole.shared.value
        )
    )
    _touch(conn, event)


def _account_filed(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.incident_accounts.insert().values(
            incident_id=b["incident_id"],
            party_id=b["party_id"],
            version=b["version"],
            text=b["text"],
            casualties=b.get("casualties"),
            filed_at=at(event),
            seq=event.seq,
        )
    )
    _touch(conn, event)


def _status_changed(conn: sa.Connection, event: Event) -> None:
    _touch(conn, event, status=event.body["status"])


def _settlement_proposed(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.settlements.insert().values(
            incident_id=b["incident_id"],
            version=b["version"],
            text=b["text"],
            proposed_by=b["proposed_by"],
            proposed_at=at(event),
        )
    )
    _touch(conn, event)


def _settlement_accepted(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.settlement_acceptances.insert().values(
            incident_id=b["incident_id"], version=b["version"], party_id=b["party_id"], at=at(event)
        )
    )
    _touch(conn, event)


APPLIERS: dict[EventKind, Apply] = {
    EventKind.ack_deadlines_set: _deadlines_set,
    EventKind.thread_opened: _thread_opened,
    EventKind.message_posted: _message_posted,
    EventKind.message_acknowledged: _message_acknowledged,
    EventKind.item_escalated: _item_escalated,
    EventKind.item_put_on_agenda: _item_put_on_agenda,
    EventKind.item_delivered: _receipt("delivered"),
    EventKind.item_read: _receipt("read"),
    EventKind.webhook_registered: _webhook_registered,
    EventKind.webhook_removed: _webhook_removed,
    EventKind.meeting_scheduled: _meeting_scheduled,
    EventKind.minutes_recorded: _minutes_recorded,
    EventKind.minutes_acknowledged: _minutes_acknowledged,
    EventKind.incident_reported: _incident_reported,
    EventKind.incident_shared: _incident_shared,
    EventKind.incident_account_filed: _account_filed,
    EventKind.incident_status_changed: _status_changed,
    EventKind.settlement_proposed: _settlement_proposed,
    EventKind.settlement_accepted: _settlement_accepted,
}

ALSO: dict[EventKind, list[Apply]] = {
    EventKind.advisory_raised: [_advisory_raised],
    EventKind.advisory_acknowledged: [_advisory_acknowledged],
    EventKind.advisory_resolved: [_advisory_resolved],
}
"""Events of other desks that the channel's projections follow as well."""
