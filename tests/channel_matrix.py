"""The channel's and incidents' rows of the authorisation matrix (tests/test_authorization_matrix.py).

Objects are made between alpha and bravo, so charlie must get 404 for each of them, and
anything that changes state gets a fresh object per call, so that one principal's call
cannot change the answer the next principal gets.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from deconflict.core.channel import Tier
from deconflict.core.incidents import IncidentType
from deconflict.core.parties import Action, Role
from deconflict.service.incidents import Casualties, IncidentReport
from tests.world import START, World

if TYPE_CHECKING:
    from tests.test_authorization_matrix import Call, Expect, RouteCase

_counter = itertools.count()
MEETING_FIRST = START - timedelta(days=1)
OCCURRENCE = MEETING_FIRST.isoformat().replace("+00:00", "Z")


def fresh_thread(world: World) -> tuple[str, str]:
    """A thread between alpha and bravo with alpha's message awaiting bravo."""
    view = world.service.channel.open_thread(
        world.who("alpha", Role.liaison),
        ["bravo"],
        f"thread {next(_counter)}",
        None,
        {"tier": Tier.tactical, "body": "we pass at 08:00", "references": {}, "needs_ack": True},
    )
    return view.id, view.messages[0].id


def fresh_incident(world: World, settlement: bool = False) -> str:
    report = IncidentReport(
        type=IncidentType.blocked_passage,
        occurred_at=START - timedelta(hours=2),
        time_precision_s=900,
        place=(40.915, 36.700),
        place_precision_m=500.0,
        place_name="Hittin junction",
        summary="a patrol was blocked",
        involved=["alpha", "bravo"],
        observers=[],
        casualties=Casualties(),
        links={},
    )
    incident_id = world.service.incidents.report(world.who("alpha", Role.liaison), report).id
    if settlement:
        world.service.incidents.propose_settlement(
            world.who("alpha", Role.leadership), incident_id, "both patrols withdrew"
        )
    return incident_id


def made(world: World) -> dict[str, str]:
    """The shared objects of one world, made on first use."""
    objects: dict[str, str] | None = vars(world).get("channel_objects")
    if objects is None:
        thread, message = fresh_thread(world)
        meeting = world.service.meetings.schedule(
            world.who("alpha", Role.leadership), ["bravo"], "weekly", MEETING_FIRST, 7 * 86400
        )
        world.service.meetings.record_minutes(
            world.who("alpha", Role.leadership), meeting.id, MEETING_FIRST, "minutes"
        )
        objects = {
            "thread": thread,
            "message": message,
            "incident": fresh_incident(world),
            "meeting": meeting.id,
        }
        vars(world)["channel_objects"] = objects
    return objects


def fresh_webhook(world: World) -> str:
    hook = world.service.webhooks.register(
        world.who("alpha", Role.leadership), "http://127.0.0.1:9/hook"
    )
    return hook.id


def channel_matrix(expect: type[Expect], call: type[Call]) -> dict[tuple[str, str], RouteCase]:
    E, C = expect, call  # noqa: N806  (short names keep the table readable)
    ab = ("alpha", "bravo")
    incident = {
        "type": "close_approach",
        "occurred_at": "2020-01-20T05:00:00Z",
        "place": [41.0, 36.5],
        "summary": "too close",
        "involved": ["alpha", "bravo", "charlie"],
    }
    deadlines = {
        "party_a": "alpha",
        "party_b": "bravo",
        "tactical_s": 600,
        "operational_s": 3600,
        "leadership_s": 86400,
    }

    def thread(w: World) -> str:
        return made(w)["thread"]

    def message(w: World) -> str:
        return made(w)["message"]

    def meeting(w: World) -> str:
        return made(w)["meeting"]

    rows: dict[tuple[str, str], Any] = {
        ("PUT", "/v1/ack-deadlines"): (
            E(200, Action.administer),
            lambda w, o: C("/v1/ack-deadlines", json=deadlines),
        ),
        ("GET", "/v1/ack-deadlines"): (E(200), lambda w, o: C("/v1/ack-deadlines")),
        ("POST", "/v1/threads"): (
            E(201, Action.communicate),
            lambda w, o: C("/v1/threads", json={"parties": ["bravo", "charlie"], "subject": "s"}),
        ),
        ("GET", "/v1/threads"): (E(200, Action.read), lambda w, o: C("/v1/threads")),
        ("GET", "/v1/threads/{thread_id}"): (
            E(200, Action.read, visible_to=ab),
            lambda w, o: C(f"/v1/threads/{thread(w)}"),
        ),
        ("POST", "/v1/threads/{thread_id}/messages"): (
            E(201, Action.communicate, visible_to=ab),
            lambda w, o: C(f"/v1/threads/{thread(w)}/messages", json={"body": "seen"}),
        ),
        ("GET", "/v1/messages/{message_id}"): (
            E(200, Action.read, visible_to=ab),
            lambda w, o: C(f"/v1/messages/{message(w)}"),
        ),
        ("POST", "/v1/messages/{message_id}/acknowledge"): (
            E(200, Action.acknowledge, visible_to=ab),
            lambda w, o: C(f"/v1/messages/{message(w)}/acknowledge", json={"note": "ok"}),
        ),
        ("POST", "/v1/messages/{message_id}/read"): (
            E(200, Action.read, visible_to=ab),
            lambda w, o: C(f"/v1/messages/{message(w)}/read"),
        ),
        ("GET", "/v1/channel/pending"): (
            E(200, Action.read),
            lambda w, o: C("/v1/channel/pending"),
        ),
        ("POST", "/v1/meetings"): (
            E(201, Action.settle),
            lambda w, o: C(
                "/v1/meetings",
                json={
                    "parties": ["bravo", "charlie"],
                    "title": "t",
                    "first_at": "2020-01-27T09:00:00Z",
                },
            ),
        ),
        ("GET", "/v1/meetings"): (E(200, Action.read), lambda w, o: C("/v1/meetings")),
        ("GET", "/v1/meetings/{meeting_id}"): (
            E(200, Action.read, visible_to=ab),
            lambda w, o: C(f"/v1/meetings/{meeting(w)}"),
        ),
        ("GET", "/v1/meetings/{meeting_id}/agenda"): (
            E(200, Action.read, visible_to=ab),
            lambda w, o: C(f"/v1/meetings/{meeting(w)}/agenda"),
        ),
        ("POST", "/v1/meetings/{meeting_id}/minutes"): (
            E(200, Action.settle, visible_to=ab),
            lambda w, o: C(
                f"/v1/meetings/{meeting(w)}/minutes", json={"occurrence": OCCURRENCE, "text": "m"}
            ),
        ),
        ("POST", "/v1/meetings/{meeting_id}/minutes/acknowledge"): (
            E(200, Action.settle, visible_to=ab),
            lambda w, o: C(
                f"/v1/meetings/{meeting(w)}/minutes/acknowledge",
                json={"occurrence": OCCURRENCE, "version": 1},
            ),
        ),
        ("POST", "/v1/incidents"): (
            E(201, Action.communicate),
            lambda w, o: C("/v1/incidents", json=incident),
        ),
        ("GET", "/v1/incidents"): (E(200, Action.read), lambda w, o: C("/v1/incidents")),
        ("GET", "/v1/incidents/{incident_id}"): (
            E(200, Action.read, visible_to=ab),
            lambda w, o: C(f"/v1/incidents/{made(w)['incident']}"),
        ),
        ("POST", "/v1/incidents/{incident_id}/accounts"): (
            E(201, Action.communicate, visible_to=ab),
            lambda w, o: C(f"/v1/incidents/{made(w)['incident']}/accounts", json={"text": "ours"}),
        ),
        ("POST", "/v1/incidents/{incident_id}/share"): (
            E(200, Action.communicate, visible_to=ab),
            lambda w, o: C(
                f"/v1/incidents/{fresh_incident(w)}/share", json={"party_id": "charlie"}
            ),
        ),
        ("POST", "/v1/incidents/{incident_id}/discuss"): (
            E(200, Action.communicate, visible_to=ab),
            lambda w, o: C(f"/v1/incidents/{fresh_incident(w)}/discuss"),
        ),
        ("POST", "/v1/incidents/{incident_id}/settlement"): (
            E(200, Action.settle, visible_to=ab),
            lambda w, o: C(
                f"/v1/incidents/{fresh_incident(w)}/settlement", json={"text": "agreed"}
            ),
        ),
        ("POST", "/v1/incidents/{incident_id}/settlement/accept"): (
            E(200, Action.settle, visible_to=ab),
            lambda w, o: C(
                f"/v1/incidents/{fresh_incident(w, settlement=True)}/settlement/accept",
                json={"version": 1},
            ),
        ),
        ("POST", "/v1/incidents/{incident_id}/dispute"): (
            E(200, Action.settle, visible_to=ab),
            lambda w, o: C(f"/v1/incidents/{fresh_incident(w)}/dispute", json={"reason": "no"}),
        ),
        ("GET", "/v1/reports/review"): (
            E(200, Action.read),
            lambda w, o: C(
                "/v1/reports/review",
                params={"from": "2020-01-19T00:00:00Z", "to": "2020-01-21T00:00:00Z"},
            ),
        ),
        ("GET", "/v1/events/stream"): (
            E(200, Action.read),
            lambda w, o: C("/v1/events/stream", params={"limit": 3}),
        ),
        ("POST", "/v1/webhooks"): (
            E(201, Action.manage_webhooks),
            lambda w, o: C("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}),
        ),
        ("GET", "/v1/webhooks"): (E(200, Action.read), lambda w, o: C("/v1/webhooks")),
        ("GET", "/v1/webhooks/deliveries"): (
            E(200, Action.read),
            lambda w, o: C("/v1/webhooks/deliveries"),
        ),
        ("DELETE", "/v1/webhooks/{webhook_id}"): (
            E(200, Action.manage_webhooks, visible_to=("alpha",)),
            lambda w, o: C(f"/v1/webhooks/{fresh_webhook(w)}"),
        ),
    }
    return rows
