"""The demo's channel: a new user can follow each story of issue 5 in the loaded database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from deconflict.core.parties import Principal, Role
from deconflict.demo.load import load_demo
from deconflict.demo.scenario import RU, US


def test_the_demo_holds_threads_an_escalation_an_agenda_and_two_accounts(tmp_path: Path) -> None:
    loaded = load_demo(tmp_path / "demo.sqlite")
    service = loaded.service
    channel = loaded.channel
    assert channel is not None

    def who(party: str, role: Role = Role.liaison) -> Principal:
        return service.authenticate(loaded.tokens[(party, role)])

    try:
        pending = {p.item_id: p for p in service.channel.pending(who(US))}
        missed = pending[channel.messages["mostafawia-request"]]
        assert (missed.tier, missed.escalations) == ("operational", 1)
        hittin = service.channel.thread(who(RU), channel.threads["hittin"])
        assert hittin.messages[0].awaiting[0].status == "acknowledged"

        agenda = service.meetings.agenda(who(US, Role.leadership), channel.meeting)
        assert agenda.meeting_at == datetime(2020, 1, 20, 10, 0, tzinfo=UTC)
        assert channel.incidents["mostafawia"] in {i["incident_id"] for i in agenda.incidents}
        assert any(u["item_id"] == missed.item_id for u in agenda.unanswered)

        incident = service.incidents.get(who(US), channel.incidents["mostafawia"])
        texts = {side.party_id: side.latest.text for side in incident.accounts if side.latest}
        assert "An exchange of fire" in texts[RU]
        assert "We have no information on any exchange of fire" in texts[US]
        settled = service.incidents.get(who(RU), channel.incidents["hittin"])
        assert settled.status == "settled"
        assert service.incidents.visible(who("lmr")).items == [], "LMR was not involved"

        review = service.reports.review(
            who(US), datetime(2020, 1, 13, tzinfo=UTC), datetime(2020, 1, 21, tzinfo=UTC)
        )
        assert len(review.data.incidents) == 2
        assert review.data.escalations
    finally:
        service.close()
