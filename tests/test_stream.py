"""Live delivery over server-sent events: only what the member's party may see, resumable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx

from deconflict.api.app import create_app
from deconflict.core.channel import Tier
from deconflict.core.declarations import DeclarationFeature
from deconflict.core.events import EventKind
from deconflict.core.parties import Role
from deconflict.service.delivery import Notifier
from tests.live import serving
from tests.world import World, movement, site

SECRET_LON = 41.0123456


def feature(value: dict[str, Any]) -> DeclarationFeature:
    return DeclarationFeature.model_validate_json(json.dumps(value))


def frames(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parses an SSE body into its events (the ``data:`` JSON with the ``id:`` line checked)."""
    current: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in current:
                payload: dict[str, Any] = json.loads(current["data"])
                assert int(current["id"]) == payload["seq"]
                yield payload
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            current[name] = value


def test_shaped_events_follow_the_visibility_rules(world: World) -> None:
    world.service.declarations.declare(
        world.who("alpha"),
        feature(site(SECRET_LON, 36.5, share_with=["bravo"], precision_m={"bravo": 5000})),
    )
    world.service.declarations.declare(world.who("alpha"), feature(site(41.5, 36.9)))
    world.service.declarations.declare(
        world.who("bravo"),
        feature(movement([(40.98, 36.49), (41.02, 36.51)], share_with=["alpha"])),
    )
    delivery = world.service.delivery
    bravo, _ = delivery.batch(world.who("bravo"), 0)
    kinds = [e.kind for e, _ in bravo]
    assert kinds.count(EventKind.declaration_declared) == 2, "its own and alpha's shared one"
    text = b"".join(f for _, f in bravo).decode()
    assert str(SECRET_LON) not in text, "bravo gets the coarsened geometry only"
    assert '"coarsened_to_m":5000.0' in text
    assert "token_hash" not in text
    charlie, scanned = delivery.batch(world.who("charlie"), 0)
    assert {e.kind for e, _ in charlie} <= {EventKind.party_registered, EventKind.member_added}
    assert scanned > max(e.seq for e, _ in charlie), "the scan moved past what charlie may not see"


def test_the_notifier_wakes_a_waiting_stream_without_polling() -> None:
    notifier = Notifier()

    async def scenario() -> bool:
        waiting = asyncio.create_task(notifier.wait_after(5, timeout=30))
        # One scheduling turn, not a timing wait: the task runs until it registers and blocks.
        await asyncio.sleep(0)
        assert not waiting.done(), "nothing committed yet, so the stream must be waiting"
        assert len(notifier._waiters) == 1
        from deconflict.core.events import Event

        loop = asyncio.get_running_loop()
        event = Event(6, EventKind.item_read, None, {}, frozenset(), None, b"")  # type: ignore[arg-type]
        await loop.run_in_executor(None, notifier.committed, [event])
        await asyncio.wait_for(waiting, timeout=5)
        return notifier.latest == 6

    assert asyncio.run(scenario())


def test_the_stream_delivers_live_and_resumes_from_last_event_id(world: World) -> None:
    app = create_app(world.service.settings, service=world.service)
    headers = {"Authorization": f"Bearer {world.token('bravo', Role.liaison)}"}
    with serving(app) as base, httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        with client.stream("GET", "/v1/events/stream") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            received = frames(response.iter_lines())
            backlog = [next(received) for _ in range(5)]  # bravo's registration and members
            assert [f["kind"] for f in backlog][:1] == ["party_registered"]
            thread = world.service.channel.open_thread(
                world.who("alpha", Role.liaison),
                ["bravo"],
                "crossing",
                None,
                {
                    "tier": Tier.tactical,
                    "body": "we pass at 08:00",
                    "references": {},
                    "needs_ack": True,
                },
            )
            live = [next(received), next(received)]
            assert [f["kind"] for f in live] == ["thread_opened", "message_posted"]
            assert live[1]["data"]["message"]["body"] == "we pass at 08:00"
            assert live[1]["attention"] is True, "a tactical message asks for a liaison's attention"
            receipt = next(received)
            assert receipt["kind"] == "item_delivered"
            assert receipt["data"]["item_id"] == thread.messages[0].id
        resume = {"Last-Event-ID": str(live[0]["seq"])}
        with client.stream(
            "GET", "/v1/events/stream", headers=resume, params={"limit": 1}
        ) as again:
            [first] = list(frames(again.iter_lines()))
        assert first["seq"] == live[1]["seq"]
        charlie = {"Authorization": f"Bearer {world.token('charlie', Role.liaison)}"}
        with client.stream(
            "GET", "/v1/events/stream", headers=charlie, params={"limit": 5}
        ) as other:
            seen = list(frames(other.iter_lines()))
        assert thread.id not in json.dumps(seen)
        host = client.get(
            "/v1/events/stream", headers={"Authorization": f"Bearer {world.token(None)}"}
        )
        assert host.status_code == 403
