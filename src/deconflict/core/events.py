"""The events of the record: every state change is one of these, appended in order.

The log is the source of truth. Tables are projections of it, and the conflict engine's
index is another; both are rebuilt by replaying the events. An event's ``audience`` says
which parties may read it (``*`` means every party); the host administrator reads the
events addressed to ``host``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

EVERY_PARTY = "*"
HOST = "host"


class EventKind(StrEnum):
    party_registered = "party_registered"
    member_added = "member_added"
    member_revoked = "member_revoked"
    separation_rule_set = "separation_rule_set"
    declaration_declared = "declaration_declared"
    declaration_amended = "declaration_amended"
    declaration_cancelled = "declaration_cancelled"
    declaration_reconfirmed = "declaration_reconfirmed"
    declaration_expired = "declaration_expired"
    advisory_raised = "advisory_raised"
    advisory_resolved = "advisory_resolved"
    advisory_acknowledged = "advisory_acknowledged"
    # The record (docs/record.md): party signing keys and the witnesses the host relies on.
    party_key_registered = "party_key_registered"
    party_key_revoked = "party_key_revoked"
    witness_registered = "witness_registered"
    # The channel (docs/channel.md): threads, messages, deadlines, escalation, receipts, meetings.
    ack_deadlines_set = "ack_deadlines_set"
    thread_opened = "thread_opened"
    message_posted = "message_posted"
    message_acknowledged = "message_acknowledged"
    item_escalated = "item_escalated"
    item_put_on_agenda = "item_put_on_agenda"
    item_delivered = "item_delivered"
    item_read = "item_read"
    webhook_registered = "webhook_registered"
    webhook_removed = "webhook_removed"
    meeting_scheduled = "meeting_scheduled"
    minutes_recorded = "minutes_recorded"
    minutes_acknowledged = "minutes_acknowledged"
    # Incidents (docs/incidents.md): each party's own account, and how far they agree.
    incident_reported = "incident_reported"
    incident_shared = "incident_shared"
    incident_account_filed = "incident_account_filed"
    incident_status_changed = "incident_status_changed"
    settlement_proposed = "settlement_proposed"
    settlement_accepted = "settlement_accepted"


@dataclass(frozen=True)
class NewEvent:
    """An event before the sequencer gives it its place in the log."""

    kind: EventKind
    body: dict[str, Any]
    audience: frozenset[str]
    actor_member: str | None = None
    salt: bytes = field(default_factory=lambda: secrets.token_bytes(16))


@dataclass(frozen=True)
class Event:
    """An event as recorded: numbered without gaps from 1, timestamped by the service."""

    seq: int
    kind: EventKind
    recorded_at: datetime
    body: dict[str, Any]
    audience: frozenset[str]
    actor_member: str | None
    salt: bytes

    def visible_to(self, party_id: str | None) -> bool:
        if party_id is None:
            return HOST in self.audience
        return party_id in self.audience or EVERY_PARTY in self.audience
