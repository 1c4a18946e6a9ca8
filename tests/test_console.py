"""The operations console in a real browser: Debian's chromium driven by Playwright.

One flow, as two duty officers would work it: alpha's operator draws a movement across
bravo's shared patrol, sees the advisory in the dry run and again once declared; bravo's
liaison officer, already logged in, sees it arrive live and acknowledges it; alpha sees the
acknowledgement. Screenshots go to ``artifacts/screenshots/``; a blank map fails the test.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from deconflict.api.app import create_app
from deconflict.core.declarations import DeclarationFeature
from deconflict.core.parties import Role
from tests.world import World, movement

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VENDOR = Path(__file__).resolve().parent.parent / "src/deconflict/web/static/vendor/leaflet.js"

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed at /usr/bin/chromium (`make test` installs it)",
        allow_module_level=True,
    )
if not VENDOR.exists():
    pytest.skip(
        "the console's vendored libraries are missing (`make install` copies them from npm)",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

# Bravo's patrol and alpha's route cross at (41.0, 36.5), minutes apart.
BRAVO_PATROL = [(40.90, 36.40), (41.10, 36.60)]
ALPHA_ROUTE = [(40.90, 36.60), (41.10, 36.40)]


@pytest.fixture
def server(world: World) -> Iterator[str]:
    """The console and API on a socket bound before the server starts, so nothing waits for it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    app = create_app(world.service.settings, service=world.service)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)
    listener.close()


@pytest.fixture
def browser_contexts() -> Iterator[Any]:
    """Opens browser contexts, each with a fresh profile of its own; closes them all after."""
    opened: list[Any] = []
    with sync_api.sync_playwright() as playwright:

        def open_context() -> Any:
            context = playwright.chromium.launch_persistent_context(
                tempfile.mkdtemp(prefix="deconflict-chromium-"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 800},
            )
            context.set_default_timeout(15_000)
            opened.append(context)
            return context

        yield open_context
        for context in opened:
            context.close()


def log_in(context: Any, base: str, token: str) -> Any:
    page = context.pages[0] if context.pages else context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    page.goto(f"{base}/")
    page.get_by_label("Member token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("body[data-loaded]", state="attached")
    return page


def assert_map_drawn(page: Any, *, declarations: int) -> None:
    """Fails on a blank map: the basemap must have drawn land, and the layers the declarations."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('path.basemap-land')]"
        ".some(p => (p.getAttribute('d') || '').length > 10)"
    )
    drawn = page.evaluate(
        """() => ({
            land: [...document.querySelectorAll('path.basemap-land')]
                .filter(p => (p.getAttribute('d') || '').length > 10).length,
            borders: document.querySelectorAll('path.basemap-border').length,
            declarations: [...document.querySelectorAll('path.decl')]
                .filter(p => (p.getAttribute('d') || '').length > 10).length,
        })"""
    )
    assert drawn["land"] > 0, f"no basemap drawn: {drawn}"
    assert drawn["borders"] > 0, f"no borders drawn: {drawn}"
    assert drawn["declarations"] >= declarations, f"declaration layers missing: {drawn}"


def click_map(page: Any, lon: float, lat: float) -> None:
    point = page.evaluate(
        "([lat, lon]) => window.deconflictConsole.map.latLngToContainerPoint([lat, lon])",
        [lat, lon],
    )
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_declare_across_a_shared_patrol_then_acknowledge_live(
    world: World, server: str, browser_contexts: Any
) -> None:
    patrol = movement(BRAVO_PATROL, share_with=["alpha"], label="Bravo patrol", category="patrol")
    world.service.declarations.declare(
        world.who("bravo"), DeclarationFeature.model_validate_json(json.dumps(patrol))
    )

    # Bravo's liaison officer is on duty first, with nothing waiting.
    bravo = log_in(browser_contexts(), server, world.token("bravo", Role.liaison))
    expect(bravo.locator("#whoami")).to_contain_text("Bravo")
    expect(bravo.locator("#inbox-pending")).to_contain_text("Nothing is waiting")
    expect(bravo.locator("#live")).to_have_text("live")

    alpha = log_in(browser_contexts(), server, world.token("alpha", Role.operator))
    expect(alpha.locator("#whoami")).to_contain_text("operator")
    expect(alpha.locator("#whoami")).to_contain_text("Alpha")
    assert_map_drawn(alpha, declarations=1)
    expect(alpha.locator("path.decl-shared")).to_have_count(1)

    # Draw a movement across the patrol, time it by departure and speed, share it with bravo.
    alpha.get_by_role("tab", name="Declare").click()
    alpha.get_by_label("Movement").check()
    alpha.get_by_role("button", name="Draw").click()
    for lon, lat in ALPHA_ROUTE:
        click_map(alpha, lon, lat)
    alpha.get_by_role("button", name="Finish").click()
    expect(alpha.locator("path.drawn")).to_have_count(1)
    alpha.get_by_label("Departure", exact=True).fill("2020-01-20T08:00")
    alpha.get_by_label("Speed (km/h)").fill("40")
    alpha.get_by_label("Label", exact=True).fill("Alpha convoy")
    alpha.get_by_label("Bravo", exact=True).check()
    expect(alpha.locator("#schedule")).to_contain_text("Departs 2020-01-20 08:00 UTC")

    alpha.get_by_role("button", name="Check (dry run)").click()
    expect(alpha.locator(".check-result")).to_contain_text("would raise 1 advisory")
    expect(alpha.locator("path.advisory-preview")).to_have_count(1)
    shoot(alpha, "01-alpha-dry-run")
    expect(bravo.locator(".advisory-card")).to_have_count(0)  # a dry run stores nothing

    alpha.get_by_role("button", name="Declare", exact=True).click()
    expect(alpha.locator(".check-result")).to_contain_text("raised 1 advisory")
    expect(alpha.locator("path.decl-own")).to_have_count(1)
    expect(alpha.locator("path.advisory-open")).to_have_count(1)
    alpha.get_by_role("tab", name="Inbox").click()
    expect(alpha.locator("#panel-inbox .advisory-card")).to_contain_text("Advisory with Bravo")
    assert_map_drawn(alpha, declarations=2)
    # The time slider at 08:15: both movements are under way, each drawn where it is then.
    alpha.evaluate(
        """() => { const s = document.getElementById('time');
        s.value = String(Date.parse('2020-01-20T08:15:00Z') / 60000);
        s.dispatchEvent(new Event('input')); }"""
    )
    expect(alpha.locator("#time-out")).to_have_text("2020-01-20 08:15 UTC")
    expect(alpha.locator("path.mover")).to_have_count(2)
    shoot(alpha, "02-alpha-declared")

    # Bravo's console gets it over the event stream, without a reload.
    card = bravo.locator("#inbox-pending .advisory-card")
    expect(card).to_contain_text("Advisory with Alpha")
    expect(card).to_contain_text("Alpha convoy")
    expect(card.locator(".deadline")).to_contain_text("left")
    expect(bravo.locator("#inbox-count")).to_have_text("1")
    assert_map_drawn(bravo, declarations=2)
    shoot(bravo, "03-bravo-advisory-arrived")

    card.get_by_label("Note with the acknowledgement").fill("Seen, we hold at the junction")
    card.get_by_role("button", name="Acknowledge").click()
    acknowledged = bravo.locator("#inbox-all .advisory-card")
    expect(acknowledged).to_contain_text("Acknowledged by Bravo")
    expect(bravo.locator("#inbox-count")).to_have_text("0")
    shoot(bravo, "04-bravo-acknowledged")

    # Alpha sees bravo's acknowledgement arrive, again without reloading.
    expect(alpha.locator("#panel-inbox .advisory-card")).to_contain_text(
        "Acknowledged by Bravo", timeout=15_000
    )
    expect(alpha.locator("#panel-inbox .advisory-card")).to_contain_text("we hold at the junction")
    shoot(alpha, "05-alpha-sees-acknowledgement")
    bravo.set_viewport_size({"width": 820, "height": 1180})  # a tablet, upright
    assert_map_drawn(bravo, declarations=2)
    shoot(bravo, "06-bravo-tablet")
    assert alpha.errors == []
    assert bravo.errors == []


def test_api_errors_are_shown_as_the_api_words_them(
    world: World, server: str, browser_contexts: Any
) -> None:
    """A liaison officer may not declare: the console shows the API's own 403 detail."""
    page = log_in(browser_contexts(), server, world.token("alpha", Role.liaison))
    assert_map_drawn(page, declarations=0)
    page.get_by_role("tab", name="Declare").click()
    page.get_by_label("Points, one").fill("41.0, 36.5")
    page.get_by_label("Points, one").dispatch_event("change")
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.locator("#declare-error")).to_contain_text("may not declare")

    # A bad token is refused with the API's words, and the console asks again.
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Member token").fill("dcf_not-a-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).not_to_be_empty()
    shoot(page, "07-login-refused")
