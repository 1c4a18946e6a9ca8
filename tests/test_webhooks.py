"""Webhooks: signed, in order, retried with backoff on an injected clock, failures visible."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deconflict.core.channel import Tier
from deconflict.core.parties import Role
from deconflict.service.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from tests.conftest import bearer
from tests.live import serving
from tests.world import World


@dataclass
class Receiver:
    """An ASGI app that records each delivery and answers with the next scripted status."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append((headers, body))
        status = self.statuses.pop(0) if self.statuses else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def post_message(world: World, body: str = "we pass at 08:00") -> str:
    view = world.service.channel.open_thread(
        world.who("alpha", Role.liaison),
        ["bravo"],
        "crossing",
        None,
        {"tier": Tier.tactical, "body": body, "references": {}, "needs_ack": True},
    )
    return view.messages[0].id


def test_signatures() -> None:
    signature = sign("whsec_x", 1_579_500_000, b"{}")
    from datetime import UTC, datetime

    now = datetime.fromtimestamp(1_579_500_060, UTC)
    assert verify("whsec_x", "1579500000", b"{}", signature, now)
    assert not verify("whsec_y", "1579500000", b"{}", signature, now)
    assert not verify("whsec_x", "1579500000", b"{ }", signature, now)
    assert not verify("whsec_x", "1579500000", b"{}", signature, now + timedelta(hours=1))


def test_deliveries_are_signed_shaped_and_receipted(world: World, api: TestClient) -> None:
    receiver = Receiver()
    with serving(receiver) as url:
        created = api.post(
            "/v1/webhooks",
            json={"url": f"{url}/hook"},
            headers=bearer(world.token("bravo", Role.leadership)),
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        message = post_message(world)
        made = world.service.webhooks.dispatch_due()
    assert made >= 2
    kinds = []
    for headers, body in receiver.received:
        assert verify(
            secret,
            headers[TIMESTAMP_HEADER.lower()],
            body,
            headers[SIGNATURE_HEADER.lower()],
            world.clock.now(),
        )
        kinds.append(json.loads(body)["kind"])
    assert kinds[:2] == ["thread_opened", "message_posted"]
    delivered = json.loads(receiver.received[1][1])
    assert delivered["data"]["message"]["id"] == message
    seen = api.get(f"/v1/messages/{message}", headers=bearer(world.token("alpha", Role.liaison)))
    assert seen.json()["receipts"][0]["party_id"] == "bravo"
    assert seen.json()["receipts"][0]["delivered_at"] is not None
    listed = api.get("/v1/webhooks", headers=bearer(world.token("bravo")))
    assert "secret" not in listed.json()[0], "the secret is shown once"


def test_failures_are_retried_with_backoff_then_given_up_and_listed(
    world: World, api: TestClient
) -> None:
    receiver = Receiver(statuses=[500, 503, 500])
    webhooks = world.service.webhooks
    webhooks.max_attempts = 3
    with serving(receiver) as url:
        webhooks.register(world.who("bravo", Role.leadership), f"{url}/hook")
        post_message(world)
        assert webhooks.dispatch_due() == 1
        [pending] = webhooks.deliveries(world.who("bravo"), "pending")
        assert (pending.attempts, pending.last_error) == (1, "HTTP 500")
        assert pending.next_attempt_at == world.clock.now() + timedelta(seconds=30)
        assert webhooks.dispatch_due() == 0, "not due before the backoff has passed"
        world.clock.advance(timedelta(seconds=30))
        assert webhooks.dispatch_due() == 1
        [pending] = webhooks.deliveries(world.who("bravo"), "pending")
        assert pending.next_attempt_at == world.clock.now() + timedelta(seconds=60), "doubled"
        world.clock.advance(timedelta(seconds=60))
        webhooks.dispatch_due()  # the third failure: given up, the cursor moves on
        webhooks.dispatch_due()  # so the next event goes through
    assert len(receiver.received) >= 4
    assert len({json.loads(b)["seq"] for _, b in receiver.received[:3]}) == 1, (
        "the same event retried"
    )
    failed = api.get(
        "/v1/webhooks/deliveries", params={"status": "failed"}, headers=bearer(world.token("bravo"))
    )
    [row] = failed.json()
    assert row["attempts"] == 3
    assert row["last_error"] == "HTTP 500"
    assert api.get("/v1/webhooks/deliveries", headers=bearer(world.token("alpha"))).json() == []
    assert api.get("/v1/webhooks", headers=bearer(world.token("bravo"))).json()[0]["failed"] == 1


def test_an_unreachable_receiver_is_a_failed_attempt_not_a_crash(world: World) -> None:
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens here now
    world.service.webhooks.register(
        world.who("alpha", Role.leadership), f"http://127.0.0.1:{port}/"
    )
    post_message(world)
    assert world.service.webhooks.dispatch_due() == 1
    [pending] = world.service.webhooks.deliveries(world.who("alpha"))
    assert pending.last_error is not None
    assert "Connect" in pending.last_error


@pytest.mark.parametrize("url", ["ftp://example.org/x", "http://user:pw@example.org/", "not a url"])
def test_bad_urls_are_refused(world: World, api: TestClient, url: str) -> None:
    response = api.post(
        "/v1/webhooks", json={"url": url}, headers=bearer(world.token("alpha", Role.leadership))
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "url"


def test_a_removed_webhook_gets_nothing(world: World) -> None:
    receiver = Receiver()
    with serving(receiver) as url:
        hook = world.service.webhooks.register(world.who("alpha", Role.leadership), f"{url}/")
        world.service.webhooks.remove(world.who("alpha", Role.leadership), hook.id)
        post_message(world)
        assert world.service.webhooks.dispatch_due() == 0
    assert receiver.received == []
