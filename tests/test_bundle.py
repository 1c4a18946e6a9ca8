"""Offline proof: a party's bundle verifies with no service, and any changed byte is caught and
located; ``deconflict verify --db`` finds rows edited behind the service's back."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from deconflict.cli.main import app
from deconflict.core.events import EventKind
from deconflict.core.parties import Role
from deconflict.core.record.acknowledgements import PartyKey, sign_acknowledgement
from deconflict.core.record.bundle import verify_bundle
from deconflict.core.record.notes import Checkpoint, Cosigner, cosign, open_checkpoint
from deconflict.service.bundle import export_bundle
from deconflict.storage import tables as t
from tests.test_event_log import busy_history, feature
from tests.world import World, movement, site

ROUTE = [(40.98, 36.49), (41.02, 36.51)]
runner = CliRunner()
Bundle = dict[str, Any]


def cosign_latest(world: World, witness: Cosigner) -> None:
    note = world.service.record.checkpoint()
    checkpoint, _ = open_checkpoint(note, [world.service.record.signer.verifier()])
    line = cosign(Checkpoint.to_body(checkpoint), witness, 1_700_000_000)
    world.service.record.add_cosignature(checkpoint.size, line)


@pytest.fixture
def bundle(world: World) -> Bundle:
    """Alpha's bundle after a busy history, a signed acknowledgement and two cosigned heads."""
    witness = Cosigner.generate("witness.example/one")
    world.service.keys.register_witness(world.who(None), witness.verifier_key())
    busy_history(world)
    cosign_latest(world, witness)
    key = PartyKey.generate()
    world.service.keys.register(world.who("alpha", Role.leadership), key.public_key_b64)
    now = world.clock.now()
    world.service.declarations.declare(
        world.who("alpha"), feature(site(41.0, 36.5, start=now, share_with=["bravo"]))
    )
    outcome = world.service.declarations.declare(
        world.who("bravo"),
        feature(movement(ROUTE, start=now + timedelta(hours=1), share_with=["alpha"])),
    )
    advisory = outcome.advisories[0].id
    liaison = world.who("alpha", Role.liaison)
    template = world.service.keys.template(liaison, advisory).payload
    signed = sign_acknowledgement(template, key, world.clock.now(), "on it")
    world.service.advisories.acknowledge(liaison, advisory, "on it", signed)
    cosign_latest(world, witness)
    return export_bundle(world.service, "alpha")


def test_a_party_bundle_verifies_offline(bundle: Bundle, world: World) -> None:
    verdict = verify_bundle(json.loads(json.dumps(bundle)))
    assert verdict.ok, verdict.failures
    assert verdict.events == len(bundle["events"]) > 20
    assert verdict.tree_size == world.service.event_count()
    assert verdict.signed_acknowledgements == 1
    assert verdict.unsigned_acknowledgements == 1
    assert verdict.cosignatures["witness.example/one"] >= 1
    assert len(bundle["checkpoints"]) >= 1


def test_the_bundle_holds_only_what_the_party_may_see(world: World, bundle: Bundle) -> None:
    seqs = {e["seq"] for e in bundle["events"]}
    bravo = {e["seq"] for e in export_bundle(world.service, "bravo")["events"]}
    assert seqs != bravo
    for entry in bundle["events"]:
        audience = json.loads(entry["event"])["audience"]
        assert "alpha" in audience or "*" in audience


def flip_text(text: str, at: int = 0) -> str:
    """Change one character (so one byte of ASCII text) at ``at``."""
    at %= len(text)
    return text[:at] + ("B" if text[at] != "B" else "C") + text[at + 1 :]


def flip_b64(text: str, byte: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[byte % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def flip_line(note: str, line: int) -> str:
    """Flip one byte of the signature on signature line ``line`` of a note."""
    body, block = note[: note.rfind("\n\n") + 2], note[note.rfind("\n\n") + 2 :]
    lines = block.rstrip("\n").split("\n")
    dash_name, signature = lines[line].rsplit(" ", 1)
    lines[line] = f"{dash_name} {flip_b64(signature, 40)}"
    return body + "\n".join(lines) + "\n"


def seq_at(bundle: Bundle, i: int) -> int:
    return int(bundle["events"][i]["seq"])


def latest_size(bundle: Bundle) -> int:
    return int(bundle["checkpoint"].split("\n")[1])


def older_size(bundle: Bundle) -> int:
    return int(bundle["checkpoints"][0]["note"].split("\n")[1])


def ack_index(bundle: Bundle) -> int:
    return next(
        i
        for i, e in enumerate(bundle["events"])
        if json.loads(e["event"])["kind"] == EventKind.advisory_acknowledged
        and "signature" in json.loads(e["event"])["body"]
    )


Mutation = tuple[Callable[[Bundle], None], Callable[[Bundle], str]]

MUTATIONS: dict[str, Mutation] = {
    "event-byte": (
        lambda b: b["events"][3].update(event=flip_text(b["events"][3]["event"], 40)),
        lambda b: f"event {seq_at(b, 3)}",
    ),
    "event-first-byte": (
        lambda b: b["events"][0].update(event=flip_text(b["events"][0]["event"], 0)),
        lambda b: f"event {seq_at(b, 0)}",
    ),
    "salt": (
        lambda b: b["events"][5].update(salt=flip_b64(b["events"][5]["salt"], 7)),
        lambda b: f"event {seq_at(b, 5)}",
    ),
    "inclusion-proof": (
        lambda b: b["events"][2]["inclusion"].__setitem__(
            1, flip_b64(b["events"][2]["inclusion"][1], 31)
        ),
        lambda b: f"event {seq_at(b, 2)}",
    ),
    "checkpoint-root": (
        lambda b: b.update(
            checkpoint=b["checkpoint"].replace(
                b["checkpoint"].split("\n")[2], flip_b64(b["checkpoint"].split("\n")[2], 3)
            )
        ),
        lambda b: f"checkpoint {latest_size(b)}",
    ),
    "checkpoint-origin": (
        lambda b: b.update(checkpoint=flip_text(b["checkpoint"], 3)),
        lambda b: f"checkpoint {latest_size(b)}",
    ),
    "log-signature": (
        lambda b: b.update(checkpoint=flip_line(b["checkpoint"], 0)),
        lambda b: f"checkpoint {latest_size(b)}",
    ),
    "cosignature": (
        lambda b: b.update(checkpoint=flip_line(b["checkpoint"], 1)),
        lambda b: f"checkpoint {latest_size(b)}",
    ),
    "older-checkpoint": (
        lambda b: b["checkpoints"][0].update(note=flip_line(b["checkpoints"][0]["note"], 0)),
        lambda b: f"checkpoint {older_size(b)}",
    ),
    "consistency-proof": (
        lambda b: b["checkpoints"][0]["consistency"].__setitem__(
            0, flip_b64(b["checkpoints"][0]["consistency"][0], 0)
        ),
        lambda b: f"checkpoint {older_size(b)}",
    ),
    "acknowledgement-signature": (
        lambda b: b["events"][ack_index(b)].update(
            event=b["events"][ack_index(b)]["event"].replace('"signature":"', '"signature":"B', 1)
        ),
        lambda b: f"event {seq_at(b, ack_index(b))}",
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_one_changed_byte_fails_verification_and_names_the_entry(bundle: Bundle, name: str) -> None:
    mutate, entry = MUTATIONS[name]
    changed = copy.deepcopy(bundle)
    mutate(changed)
    assert changed != bundle
    verdict = verify_bundle(changed)
    assert not verdict.ok
    assert entry(bundle) in [f.entry for f in verdict.failures], verdict.failures


def test_a_bundle_checked_against_another_log_key_fails(bundle: Bundle) -> None:
    from deconflict.core.record.notes import Signer

    other = Signer.generate(bundle["log_key"].split("+")[0]).verifier_key()
    verdict = verify_bundle(bundle, log_key=other)
    assert not verdict.ok
    assert verdict.failures[0].entry.startswith("checkpoint")


# --- through the CLI ----------------------------------------------------------------------------


def sqlite_only(world: World) -> None:
    if world.service.db.dialect.name != "sqlite":
        pytest.skip("the --db commands work on a SQLite file")


def test_export_and_verify_from_the_command_line(world: World, tmp_path: Path) -> None:
    sqlite_only(world)
    busy_history(world)
    db = Path(str(world.service.db.url.database))
    out = tmp_path / "alpha.bundle.json"
    key = str(world.service.settings.signing_key_path)
    result = runner.invoke(
        app,
        ["export", "--db", str(db), "--party", "alpha", "--out", str(out), "--signing-key", key],
    )
    assert result.exit_code == 0, result.output
    log_key = world.service.record.verifier_key()
    result = runner.invoke(app, ["verify", str(out), "--log-key", log_key])
    assert result.exit_code == 0, result.output
    assert "VALID" in result.output
    data = json.loads(out.read_text())
    data["events"][4]["salt"] = flip_b64(data["events"][4]["salt"])
    out.write_text(json.dumps(data))
    result = runner.invoke(app, ["verify", str(out), "--log-key", log_key])
    assert result.exit_code == 1
    assert "INVALID" in result.output
    assert f"event {data['events'][4]['seq']}:" in result.output


def test_verify_db_finds_and_locates_an_edited_row(world: World) -> None:
    sqlite_only(world)
    busy_history(world)
    db = str(world.service.db.url.database)
    log_key = world.service.record.verifier_key()
    result = runner.invoke(app, ["verify", "--db", db, "--log-key", log_key])
    assert result.exit_code == 0, result.output
    assert "INTACT" in result.output
    assert "signatures verify" in result.output
    with world.service.db.begin() as conn:
        row = conn.execute(sa.select(t.events).where(t.events.c.seq == 12)).one()
        body = dict(row.body)
        body["forged"] = True
        conn.execute(t.events.update().where(t.events.c.seq == 12).values(body=body))
    result = runner.invoke(app, ["verify", "--db", db, "--log-key", log_key])
    assert result.exit_code == 1
    assert "TAMPERED" in result.output
    assert "event 12: was changed after it was recorded" in result.output


def test_keys_and_a_signed_acknowledgement_from_the_cli_over_http(
    world: World, tmp_path: Path
) -> None:
    from tests.test_witness import serving

    key_file = tmp_path / "alpha.key"
    result = runner.invoke(app, ["keys", "generate", "--out", str(key_file)])
    assert result.exit_code == 0, result.output
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key = PartyKey.read(key_file)
    world.clock.set(datetime.now(UTC))  # the HTTP client signs with the wall clock
    now = world.clock.now()
    world.service.declarations.declare(
        world.who("alpha"), feature(site(41.0, 36.5, start=now, share_with=["bravo"]))
    )
    outcome = world.service.declarations.declare(
        world.who("bravo"),
        feature(movement(ROUTE, start=now + timedelta(hours=1), share_with=["alpha"])),
    )
    advisory = outcome.advisories[0].id
    with serving(world.service) as url:
        leader = ["--server", url, "--token", world.token("alpha", Role.leadership)]
        result = runner.invoke(app, ["keys", "register", "--key", str(key_file), *leader])
        assert result.exit_code == 0, result.output
        liaison = ["--server", url, "--token", world.token("alpha", Role.liaison)]
        unsigned = runner.invoke(app, ["acknowledge", advisory, *liaison])
        assert unsigned.exit_code == 1
        assert "signed" in unsigned.output
        signed = runner.invoke(
            app, ["acknowledge", advisory, "--key", str(key_file), "--note", "ok", *liaison]
        )
        assert signed.exit_code == 0, signed.output
    stored = [
        json.loads(e.event)["body"]
        for e in world.service.record.events(world.who("alpha"), 0, 500).events
        if e.kind == EventKind.advisory_acknowledged
    ]
    assert stored[-1]["signature"]["payload"]["key_id"] == key.key_id
    assert key_file.read_text().count(stored[-1]["signature"]["signature"]) == 0
    assert verify_bundle(export_bundle(world.service, "alpha")).signed_acknowledgements == 1
