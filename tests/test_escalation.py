"""Acknowledgement deadlines and escalation, driven by a manual clock (no sleeps)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from deconflict.core.channel import (
    DEFAULT_RULE,
    DeadlineRule,
    Escalate,
    ItemKind,
    Pending,
    Tier,
    ToAgenda,
    steps_due,
    validate_deadlines,
)
from deconflict.core.declarations import DeclarationFeature
from deconflict.core.events import EventKind
from deconflict.core.parties import Role
from deconflict.service.deconflict import Deconflict
from deconflict.storage import queries
from tests.conftest import bearer
from tests.world import World, movement, site

T0 = datetime(2020, 1, 20, 6, 0, tzinfo=UTC)


def pending(tier: Tier = Tier.tactical, due: datetime = T0) -> Pending:
    return Pending(ItemKind.message, "msg_1", "bravo", tier, due)


def test_nothing_is_due_before_the_deadline() -> None:
    assert steps_due(pending(), DEFAULT_RULE, T0 - timedelta(seconds=1)) == []


def test_each_tier_escalates_to_the_next_then_to_the_agenda() -> None:
    steps = steps_due(pending(), DEFAULT_RULE, T0 + timedelta(days=3))
    assert [type(s) for s in steps] == [Escalate, Escalate, ToAgenda]
    first, second, _ = steps
    assert isinstance(first, Escalate)
    assert isinstance(second, Escalate)
    assert (first.to_tier, first.next_due_at) == (Tier.operational, T0 + timedelta(hours=2))
    assert second.to_tier is Tier.leadership
    assert second.next_due_at == T0 + timedelta(hours=26), "deadlines run from the last deadline"


def test_a_late_sweep_fires_what_an_on_time_sweep_would_have() -> None:
    on_time = steps_due(pending(), DEFAULT_RULE, T0)
    late = steps_due(pending(), DEFAULT_RULE, T0 + timedelta(minutes=90))
    assert on_time == late, "noticing late does not move the next deadline"


def test_deadlines_must_rise_with_the_tier() -> None:
    problems = validate_deadlines({Tier.tactical: 600, Tier.operational: 300, Tier.leadership: 30})
    assert ("operational_s", "must not be shorter than the tactical deadline") in problems
    assert any(field == "leadership_s" for field, _ in problems)
    assert validate_deadlines(dict(DEFAULT_RULE.seconds)) == []


def test_a_pair_rule_changes_the_next_deadline() -> None:
    rule = DeadlineRule({Tier.tactical: 60, Tier.operational: 120, Tier.leadership: 180})
    steps = steps_due(pending(), rule, T0)
    assert isinstance(steps[0], Escalate)
    assert steps[0].next_due_at == T0 + timedelta(seconds=120)


# --- through the service ----------------------------------------------------------------------


def post(world: World, tier: Tier = Tier.tactical, needs_ack: bool = True) -> str:
    view = world.service.channel.open_thread(
        world.who("alpha", Role.liaison),
        ["bravo"],
        "crossing at Hittin",
        None,
        {
            "tier": tier,
            "body": "our patrol passes at 08:00",
            "references": {},
            "needs_ack": needs_ack,
        },
    )
    return view.messages[0].id


def kinds(service: Deconflict) -> list[tuple[EventKind, dict[str, Any]]]:
    with service.db.connect() as conn:
        return [(e.kind, e.body) for e in queries.events(conn)]


def escalations(service: Deconflict) -> list[tuple[str, str | None]]:
    return [
        (b["from_tier"], b.get("to_tier"))
        for k, b in kinds(service)
        if k in (EventKind.item_escalated, EventKind.item_put_on_agenda)
    ]


def test_an_unacknowledged_message_climbs_the_ladder_to_the_agenda(world: World) -> None:
    message = post(world)
    world.clock.advance(timedelta(minutes=14))
    assert world.service.channel.escalate_due() == 0
    world.clock.advance(timedelta(minutes=1))
    assert world.service.channel.escalate_due() == 1
    [item] = world.service.channel.pending(world.who("bravo", Role.liaison))
    assert (item.item_id, item.tier, item.attention_roles) == (
        message,
        Tier.operational,
        ["liaison"],
    )
    world.clock.advance(timedelta(hours=2))
    world.service.channel.escalate_due()
    world.clock.advance(timedelta(hours=24))
    world.service.channel.escalate_due()
    assert escalations(world.service) == [
        ("tactical", "operational"),
        ("operational", "leadership"),
        ("leadership", None),
    ]
    [item] = world.service.channel.pending(world.who("bravo", Role.leadership))
    assert item.status == "on_agenda"
    assert world.service.channel.escalate_due() == 0, "an item on the agenda escalates no further"


def test_acknowledging_stops_the_escalation(world: World) -> None:
    message = post(world)
    world.clock.advance(timedelta(minutes=20))
    world.service.channel.escalate_due()
    view = world.service.channel.acknowledge(world.who("bravo", Role.liaison), message, "seen")
    assert view.awaiting[0].status == "acknowledged"
    assert view.awaiting[0].escalations == 1
    world.clock.advance(timedelta(days=5))
    assert world.service.channel.escalate_due() == 0
    assert world.service.channel.pending(world.who("bravo", Role.liaison)) == []


def test_a_message_waits_first_at_its_own_tier(world: World) -> None:
    post(world, Tier.leadership)
    [item] = world.service.channel.pending(world.who("bravo", Role.leadership))
    assert item.tier is Tier.leadership
    assert item.due_at == world.clock.now() + timedelta(hours=24)


def test_a_message_without_needs_ack_never_escalates(world: World) -> None:
    post(world, needs_ack=False)
    world.clock.advance(timedelta(days=3))
    assert world.service.channel.escalate_due() == 0


def test_an_unacknowledged_advisory_escalates_for_the_silent_party_only(world: World) -> None:
    f = DeclarationFeature.model_validate_json
    world.service.declarations.declare(
        world.who("alpha"), f(json.dumps(site(41.0, 36.5, share_with=["bravo"])))
    )
    outcome = world.service.declarations.declare(
        world.who("bravo"),
        f(json.dumps(movement([(40.98, 36.49), (41.02, 36.51)], share_with=["alpha"]))),
    )
    advisory = outcome.advisories[0].id
    world.service.advisories.acknowledge(world.who("alpha", Role.liaison), advisory, "seen")
    world.clock.advance(timedelta(minutes=15))
    world.service.channel.escalate_due()
    fired = [b for k, b in kinds(world.service) if k is EventKind.item_escalated]
    assert [(b["item_id"], b["party_id"]) for b in fired] == [(advisory, "bravo")]
    assert world.service.channel.pending(world.who("alpha", Role.liaison)) == []


def test_a_restart_loses_no_deadline_and_fires_none_twice(world: World) -> None:
    post(world)
    world.clock.advance(timedelta(minutes=16))
    world.service.channel.escalate_due()
    restarted = Deconflict(world.service.settings)
    try:
        assert restarted.channel.escalate_due() == 0, "the escalation already fired"
        world.clock.advance(timedelta(hours=2))
        assert restarted.channel.escalate_due() == 1, "the next deadline survived the restart"
    finally:
        restarted.close()
    assert escalations(world.service) == [
        ("tactical", "operational"),
        ("operational", "leadership"),
    ]


def test_writes_sweep_first(world: World) -> None:
    post(world)
    world.clock.advance(timedelta(minutes=16))
    post(world)  # a later write fires the overdue escalation before appending
    assert escalations(world.service) == [("tactical", "operational")]


def test_the_host_sets_deadlines_per_pair(world: World, api: TestClient) -> None:
    host = bearer(world.token(None))
    body = {
        "party_a": "bravo",
        "party_b": "alpha",
        "tactical_s": 300,
        "operational_s": 600,
        "leadership_s": 3600,
    }
    response = api.put("/v1/ack-deadlines", json=body, headers=host)
    assert response.status_code == 200, response.text
    assert response.json()["party_a"] == "alpha"
    post(world)
    [item] = world.service.channel.pending(world.who("bravo", Role.liaison))
    assert item.due_at == world.clock.now() + timedelta(minutes=5)
    seen = api.get("/v1/ack-deadlines", headers=bearer(world.token("charlie", Role.liaison)))
    assert seen.json() == [], "charlie is not bound by the alpha–bravo deadlines"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tactical_s": 10}, "tactical_s"),
        ({"operational_s": 120}, "operational_s"),
        ({"party_b": "zulu"}, "party_b"),
        ({"party_b": "alpha"}, "party_b"),
    ],
)
def test_bad_deadlines_are_refused_naming_the_field(
    world: World, api: TestClient, change: dict[str, Any], field: str
) -> None:
    body = {
        "party_a": "alpha",
        "party_b": "bravo",
        "tactical_s": 900,
        "operational_s": 7200,
        "leadership_s": 86400,
    }
    before = world.service.event_count()
    response = api.put("/v1/ack-deadlines", json=body | change, headers=bearer(world.token(None)))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert world.service.event_count() == before


def test_escalations_are_projections_rebuilt_from_the_log(world: World) -> None:
    from tests.test_event_log import snapshot

    post(world)
    world.clock.advance(timedelta(days=2))
    world.service.channel.escalate_due()
    before = snapshot(world.service)
    assert before["escalations"]
    assert before["ack_deadlines"]
    with world.service.db.begin() as conn:
        conn.execute(sa.text("DELETE FROM ack_deadlines"))
    world.service.rebuild()
    assert snapshot(world.service) == before
