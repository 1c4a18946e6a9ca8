"""The demo's channel: threads, a missed acknowledgement that escalated, a weekly leadership
meeting, and the January 2020 incidents with the parties' differing accounts.

Called by :func:`deconflict.demo.load.load_demo` once the declarations are in. The texts are
written for the demo, in the style of the public reporting summarised in ``docs/demo.md``;
they are not quotations. The incidents' dates are those of that reporting, with the time of
day and the place given at the coarse precision such reports allow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from deconflict.core.channel import Tier
from deconflict.core.clock import OffsetClock
from deconflict.core.incidents import IncidentType
from deconflict.core.parties import Principal, Role
from deconflict.demo.places import place
from deconflict.demo.scenario import LMR, RU, TR, US
from deconflict.service.channel import About
from deconflict.service.incidents import Casualties, IncidentReport

if TYPE_CHECKING:
    from rich.console import Console

    from deconflict.demo.load import LoadedDemo

Who = Callable[..., Principal]
MISSED_DEADLINE_WAIT = timedelta(minutes=16)
"""How far the demo clock jumps so the Mostafawia message misses its 15-minute deadline."""


@dataclass
class DemoChannel:
    threads: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    incidents: dict[str, str] = field(default_factory=dict)
    meeting: str = ""


def load_channel(loaded: LoadedDemo) -> DemoChannel:
    service = loaded.service
    ids = loaded.declaration_ids
    out = DemoChannel()

    def who(party: str, role: Role = Role.liaison) -> Principal:
        return service.authenticate(loaded.tokens[(party, role)])

    def advisory_between(key_a: str, key_b: str) -> str:
        for advisory in service.advisories.visible(who(US), status="open", limit=500).items:
            sides = {advisory.own.declaration_id, advisory.other.declaration_id}
            if sides == {ids[key_a], ids[key_b]}:
                return advisory.id
        raise LookupError(f"no advisory between {key_a} and {key_b}")

    hittin = advisory_between("us-patrol-hasakah-tall-hamis", "ru-patrol-qamishli-tell-tamer")
    mostafawia = advisory_between("us-patrol-rmeilan-mostafawia", "ru-patrol-qamishli-semalka")

    # Hittin: asked and answered within minutes, as the channel is meant to work.
    thread = service.channel.open_thread(
        who(US),
        [RU],
        "Hittin junction, this morning",
        About(kind="advisory", id=hittin),
        {
            "tier": Tier.tactical,
            "body": "Coalition patrol reaches Hittin junction about 08:30 heading east on the M4. "
            "Request your patrol clears the junction before 08:15 or waits until 08:45.",
            "references": {"advisories": [hittin]},
            "needs_ack": True,
        },
    )
    out.threads["hittin"] = thread.id
    out.messages["hittin-request"] = thread.messages[0].id
    service.channel.acknowledge(who(RU), thread.messages[0].id, "Received. We will pass at 08:45.")
    service.advisories.acknowledge(who(US), hittin, "Discussed with the Russian MP liaison.")
    service.advisories.acknowledge(who(RU), hittin, None)

    # Mostafawia: the request to the coalition goes unanswered and climbs the ladder.
    thread = service.channel.open_thread(
        who(RU),
        [US],
        "Convoy to Semalka via Mostafawia",
        About(kind="advisory", id=mostafawia),
        {
            "tier": Tier.tactical,
            "body": "Russian MP convoy passes Mostafawia towards Semalka at 08:15. "
            "Request coalition vehicles keep the Derik–Semalka road clear.",
            "references": {"advisories": [mostafawia]},
            "needs_ack": True,
        },
    )
    out.threads["mostafawia"] = thread.id
    out.messages["mostafawia-request"] = thread.messages[0].id

    # A humanitarian notification: general, with no acknowledgement asked.
    thread = service.channel.open_thread(
        who(LMR),
        [TR, US, RU],
        "Convoy to the Khabur villages",
        None,
        {
            "tier": Tier.operational,
            "body": "Levant Medical Relief convoy leaves al-Hasakah for the Khabur clinic this "
            "morning; see our declaration for the route.",
            "references": {"declarations": [ids["lmr-convoy-hasakah-khabur"]]},
            "needs_ack": False,
        },
    )
    out.threads["lmr-convoy"] = thread.id

    out.incidents = _incidents(loaded, who)
    out.meeting = _meeting(loaded, who)

    # Let the Mostafawia deadline pass: the sweep escalates it (and every advisory still
    # unacknowledged) from tactical to operational, on the record.
    if isinstance(service.clock, OffsetClock):
        service.clock.advance(MISSED_DEADLINE_WAIT)
        service.channel.escalate_due()
    return out


def _incidents(loaded: LoadedDemo, who: Who) -> dict[str, str]:
    service = loaded.service
    hittin_place, mostafawia_place = place("hittin-junction"), place("mostafawia")
    hittin = service.incidents.report(
        who(RU),
        IncidentReport(
            type=IncidentType.blocked_passage,
            occurred_at=datetime(2020, 1, 14, 9, 0, tzinfo=UTC),
            time_precision_s=3 * 3600,
            place=(hittin_place.lon, hittin_place.lat),
            place_precision_m=2000.0,
            place_name="Hittin junction, Hasakah–Qamishli road",
            summary="A Russian MP patrol on the Hasakah–Qamishli road was stopped at Hittin "
            "junction by coalition vehicles.",
            involved=[US, RU],
            observers=[],
            casualties=Casualties(killed=0, injured=0),
            links={},
        ),
    )
    service.incidents.file_account(
        who(RU),
        hittin.id,
        "Coalition vehicles blocked the junction and our patrol could not continue to Tell "
        "Tamer. The patrol waited, then turned back to Qamishli.",
        None,
    )
    service.incidents.file_account(
        who(US),
        hittin.id,
        "Our patrol stopped at the junction while the Russian patrol was off the route it had "
        "notified. After contact through the channel both patrols left the junction.",
        None,
    )
    service.incidents.propose_settlement(
        who(US, Role.leadership),
        hittin.id,
        "Settled through military channels: each side notifies its patrols on the "
        "Hasakah–Qamishli road through the channel before they leave base.",
    )
    service.incidents.accept_settlement(who(RU, Role.leadership), hittin.id, 1)

    mostafawia = service.incidents.report(
        who(RU),
        IncidentReport(
            type=IncidentType.blocked_passage,
            occurred_at=datetime(2020, 1, 18, 10, 0, tzinfo=UTC),
            time_precision_s=6 * 3600,
            place=(mostafawia_place.lon, mostafawia_place.lat),
            place_precision_m=3000.0,
            place_name="Mostafawia, Derik–Semalka road",
            summary="A Russian MP patrol on its way to the Semalka crossing was turned back "
            "near Mostafawia by coalition vehicles.",
            involved=[US, RU],
            observers=[],
            casualties=Casualties(note="none reported"),
            links={},
        ),
    )
    service.incidents.file_account(
        who(RU),
        mostafawia.id,
        "Coalition vehicles turned our patrol back before Mostafawia. An exchange of fire "
        "took place near the village between armed men and the patrol's escort.",
        Casualties(killed=0, injured=1, note="one escort lightly injured"),
    )
    service.incidents.file_account(
        who(US),
        mostafawia.id,
        "Our vehicles held the Derik–Semalka road as notified. We have no information on any "
        "exchange of fire.",
        Casualties(killed=0, injured=0),
    )
    return {"hittin": hittin.id, "mostafawia": mostafawia.id}


def _meeting(loaded: LoadedDemo, who: Who) -> str:
    service = loaded.service
    first = datetime(2020, 1, 13, 10, 0, tzinfo=UTC)
    meeting = service.meetings.schedule(
        who(US, Role.leadership),
        [RU],
        "Coalition–Russian MP weekly deconfliction call",
        first,
        int(timedelta(days=7).total_seconds()),
    )
    service.meetings.record_minutes(
        who(US, Role.leadership),
        meeting.id,
        first,
        "Both sides confirmed the deconfliction line along the M4 and agreed to notify patrols "
        "near Hittin junction and on the Derik–Semalka road through the channel.",
    )
    service.meetings.acknowledge_minutes(who(US, Role.leadership), meeting.id, first, 1)
    return meeting.id


def print_channel_summary(loaded: LoadedDemo, console: Console, base_url: str) -> None:
    """Where to look: the escalated message, the agenda, the incident, the stream, the review."""
    channel = loaded.channel
    if channel is None:
        return
    us = loaded.tokens[(US, Role.liaison)]
    lead = loaded.tokens[(US, Role.leadership)]
    console.rule("The channel")
    lines = [
        f"Unacknowledged and escalated: message {channel.messages['mostafawia-request']} "
        f"(thread {channel.threads['mostafawia']}); see GET {base_url}/v1/channel/pending",
        f"Leadership agenda: GET {base_url}/v1/meetings/{channel.meeting}/agenda "
        f"(as the coalition's leadership, token {lead})",
        f"Two accounts side by side: GET {base_url}/v1/incidents/{channel.incidents['mostafawia']}",
        f"Live events: curl -N -H 'Authorization: Bearer {us}' {base_url}/v1/events/stream",
        f"Review: GET {base_url}/v1/reports/review?from=2020-01-13T00:00:00Z&to=2020-01-21T00:00:00Z",
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
