"""The declarations desk: declare, amend, cancel, reconfirm, expire, and read back.

Each write runs inside the sequencer: it sweeps what has expired, appends the change,
resolves the advisories the change makes obsolete and raises those it creates, all in one
transaction. The advisories are computed once, here, and recorded as events, so replaying
the log never depends on re-running the engine.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import shapely.geometry
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from deconflict.core.clock import utc_text
from deconflict.core.declarations import Activity, DeclarationFeature, Kind, Status, expires_at
from deconflict.core.errors import InvalidInput, NotFound, StateConflict, VersionConflict
from deconflict.core.events import EVERY_PARTY, EventKind, NewEvent
from deconflict.core.parties import Action, Principal, new_id
from deconflict.core.visibility import (
    AdvisorySide,
    AdvisoryView,
    DeclarationView,
    Disclosure,
    StoredAdvisory,
    StoredDeclaration,
    advisory_recipients,
    advisory_view,
    declaration_view,
    shared_precision,
)
from deconflict.service.features import stored_declaration
from deconflict.service.sequencer import Transaction
from deconflict.storage import queries
from deconflict.storage import tables as t

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from deconflict.service.deconflict import Deconflict


class DeclarationOutcome(BaseModel):
    """What a write answers: the declaration as its owner sees it, and the advisories it raised."""

    model_config = ConfigDict(frozen=True)
    declaration: DeclarationView
    advisories: list[AdvisoryView]


class DeclarationPage(BaseModel):
    model_config = ConfigDict(frozen=True)
    items: list[DeclarationView]
    next_cursor: str | None


@dataclass(frozen=True)
class DeclarationQuery:
    kinds: list[Kind] | None = None
    statuses: list[Status] | None = None
    bbox: BaseGeometry | None = None
    time_from: float | None = None
    time_to: float | None = None
    cursor: int = 0
    limit: int = 100


def audience(party_id: str, feature: DeclarationFeature) -> frozenset[str]:
    share = feature.properties.share_with
    return frozenset({party_id, *([EVERY_PARTY] if share == "all" else share)})


NEVER = datetime.max.replace(tzinfo=UTC)

_d = t.declarations.c
_NEXT_EXPIRY = sa.select(sa.func.min(_d.expires_at)).where(
    _d.status == Status.active.value, _d.expires_at.is_not(None)
)


@dataclass
class Declarations:
    service: Deconflict
    _quiet_until: datetime | None = dataclasses.field(default=None, init=False)
    """Nothing active expires before this instant (None: not known), so a write whose clock is
    earlier has nothing to sweep and skips the query. Set by a sweep that found nothing due,
    lowered as each declaration is applied (:meth:`expiring_at`, from the engine's follower,
    which also sees other processes' writes before any of ours), forgotten when the engine
    is reloaded. Only the writer touches it."""

    def expiring_at(self, moment: datetime | None) -> None:
        """A declaration that expires at ``moment`` was applied."""
        if moment is not None and self._quiet_until is not None and moment < self._quiet_until:
            self._quiet_until = moment

    def forget_expiries(self) -> None:
        self._quiet_until = None

    # --- writes -------------------------------------------------------------------------

    def declare(self, who: Principal, feature: DeclarationFeature) -> DeclarationOutcome:
        party = who.require_party(Action.declare)
        declaration_id = new_id("dcl")

        def command(tx: Transaction) -> DeclarationOutcome:
            self._sweep(tx)
            self._check_input(tx, feature)
            body, stored_feature = self._stored_form(feature)
            tx.append(
                NewEvent(
                    EventKind.declaration_declared,
                    {
                        "declaration_id": declaration_id,
                        "party_id": party,
                        "version": 1,
                        "feature": body,
                    },
                    audience(party, feature),
                    who.member_id,
                )
            )
            raised = self._raise(
                tx, Activity.of(declaration_id, 1, party, feature), feature, who, {}
            )
            written = StoredDeclaration(
                declaration_id,
                party,
                1,
                Status.active,
                stored_feature,
                *[tx.now] * 3,
            )
            return self._outcome(tx, written, raised)

        return self.service.sequencer.write(command)

    def amend(
        self, who: Principal, declaration_id: str, version: int, feature: DeclarationFeature
    ) -> DeclarationOutcome:
        party = who.require_party(Action.declare)

        def command(tx: Transaction) -> DeclarationOutcome:
            self._sweep(tx)
            current = self._own_active(tx, declaration_id, party, version)
            self._check_input(tx, feature)
            new_version = current.version + 1
            body, stored_feature = self._stored_form(feature)
            tx.append(
                NewEvent(
                    EventKind.declaration_amended,
                    {
                        "declaration_id": declaration_id,
                        "party_id": party,
                        "version": new_version,
                        "feature": body,
                    },
                    audience(party, feature) | audience(party, current.feature),
                    who.member_id,
                )
            )
            activity = Activity.of(declaration_id, new_version, party, feature)
            still = {
                f.other.declaration_id
                for f in self.service.engine.check(activity, self.service.rules)
            }
            superseded: dict[str, str] = {}
            for old in queries.open_advisories_of(tx.conn, declaration_id):
                other_id = (
                    old.b.declaration_id
                    if old.a.declaration_id == declaration_id
                    else old.a.declaration_id
                )
                if other_id in still:
                    superseded[other_id] = old.id
                self._resolve(tx, old, "superseded" if other_id in still else "declaration_amended")
            raised = self._raise(tx, activity, feature, who, superseded)
            written = dataclasses.replace(
                current,
                version=new_version,
                feature=stored_feature,
                updated_at=tx.now,
                confirmed_at=tx.now,
            )
            return self._outcome(tx, written, raised)

        return self.service.sequencer.write(command)

    def cancel(self, who: Principal, declaration_id: str, version: int | None) -> DeclarationView:
        party = who.require_party(Action.declare)

        def command(tx: Transaction) -> DeclarationView:
            self._sweep(tx)
            current = self._own_active(tx, declaration_id, party, version)
            tx.append(
                NewEvent(
                    EventKind.declaration_cancelled,
                    {"declaration_id": declaration_id, "version": current.version},
                    audience(party, current.feature),
                    who.member_id,
                )
            )
            for old in queries.open_advisories_of(tx.conn, declaration_id):
                self._resolve(tx, old, "declaration_cancelled")
            return self._view(tx, declaration_id, party)

        return self.service.sequencer.write(command)

    def reconfirm(self, who: Principal, declaration_id: str) -> DeclarationView:
        party = who.require_party(Action.declare)

        def command(tx: Transaction) -> DeclarationView:
            self._sweep(tx)
            current = self._own_active(tx, declaration_id, party, None)
            tx.append(
                NewEvent(
                    EventKind.declaration_reconfirmed,
                    {"declaration_id": declaration_id, "version": current.version},
                    audience(party, current.feature),
                    who.member_id,
                )
            )
            return self._view(tx, declaration_id, party)

        return self.service.sequencer.write(command)

    def expire_due(self) -> int:
        """Expire what has run past its end; run by the server's ticker and before every write."""
        return self.service.sequencer.write(self._sweep)

    # --- reads --------------------------------------------------------------------------

    def check(self, who: Principal, feature: DeclarationFeature) -> list[AdvisoryView]:
        """The advisories declaring ``feature`` would raise, as the caller would see them; writes nothing."""
        party = who.require_party(Action.declare)
        with self.service.db.connect() as conn:
            self._validate_shares(conn, feature)
            activity = Activity.of("dcl_preview", 1, party, feature)
            views = []
            for finding in self.service.engine.check(activity, self.service.rules):
                other = queries.declaration(conn, finding.other.declaration_id)
                if other is None:
                    continue
                stored = self._stored_advisory(
                    "adv_preview", activity, feature, other, finding.encounter, conn
                )
                view = advisory_view(stored, party, other.feature, self.service.disclosure)
                if view is not None:
                    views.append(view)
            return views

    def get(self, who: Principal, declaration_id: str) -> DeclarationView:
        who.require(Action.read)
        with self.service.reads.connect() as conn:
            stored = stored_declaration(conn, declaration_id, self.service.features)
        view = (
            None
            if stored is None
            else declaration_view(stored, who.party_id, self.service.clock.now())
        )
        if view is None:
            raise NotFound(f"no declaration {declaration_id}")
        return view

    def visible(self, who: Principal, query: DeclarationQuery) -> DeclarationPage:
        party = who.require_party(Action.read)
        now = self.service.clock.now()
        items: list[DeclarationView] = []
        last_seq = None
        with self.service.db.connect() as conn:
            rows = queries.visible_declarations(
                conn,
                party,
                after_seq=query.cursor,
                kinds=query.kinds,
                statuses=query.statuses,
                time_from=query.time_from,
                time_to=query.time_to,
                bbox=None if query.bbox is None else query.bbox.bounds,
            )
            for seq, stored in rows:
                view = declaration_view(stored, party, now)
                if view is None:
                    continue
                if query.bbox is not None and not _view_intersects(view, query.bbox):
                    continue
                if len(items) == query.limit:
                    return DeclarationPage(items=items, next_cursor=str(last_seq))
                items.append(view)
                last_seq = seq
        return DeclarationPage(items=items, next_cursor=None)

    # --- inside a write -----------------------------------------------------------------

    def _sweep(self, tx: Transaction) -> int:
        if self._quiet_until is not None and tx.now < self._quiet_until:
            return 0
        now_iso = utc_text(tx.now)
        expired = queries.due_to_expire(tx.conn, now_iso)
        # Known quiet only after a sweep that changed nothing: one that expired something
        # could still be rolled back, and what it expired would then be due again.
        self._quiet_until = self._next_expiry(tx) if not expired else None
        for declaration_id in expired:
            stored = queries.declaration(tx.conn, declaration_id)
            assert stored is not None
            tx.append(
                NewEvent(
                    EventKind.declaration_expired,
                    {"declaration_id": declaration_id, "version": stored.version},
                    audience(stored.party_id, stored.feature),
                )
            )
            for old in queries.open_advisories_of(tx.conn, declaration_id):
                self._resolve(tx, old, "declaration_expired")
        return len(expired)

    @staticmethod
    def _next_expiry(tx: Transaction) -> datetime:
        soonest = tx.conn.execute(_NEXT_EXPIRY).scalar_one_or_none()
        return NEVER if soonest is None else queries.parse_time(soonest)

    def _check_input(self, tx: Transaction, feature: DeclarationFeature) -> None:
        self._validate_shares(tx.conn, feature)
        ends = expires_at(feature)
        if ends is not None and ends <= tx.now:
            field = (
                "properties.times" if feature.properties.kind is Kind.movement else "properties.end"
            )
            raise InvalidInput.at(field, "is already in the past; declare what is still to come")

    @staticmethod
    def _validate_shares(conn: object, feature: DeclarationFeature) -> None:
        share = feature.properties.share_with
        if share == "all" and not feature.properties.precision_m:
            return
        known = queries.party_ids(conn)  # type: ignore[arg-type]
        if share != "all":
            for i, party in enumerate(share):
                if party not in known:
                    raise InvalidInput.at(f"properties.share_with[{i}]", f"no party {party}")
        for party in feature.properties.precision_m:
            if party not in known:
                raise InvalidInput.at(f"properties.precision_m.{party}", f"no party {party}")

    def _own_active(
        self, tx: Transaction, declaration_id: str, party: str, version: int | None
    ) -> StoredDeclaration:
        stored = queries.declaration(tx.conn, declaration_id)
        if stored is None or stored.party_id != party:
            raise NotFound(f"no declaration {declaration_id}")
        if version is not None and version != stored.version:
            raise VersionConflict(
                f"declaration {declaration_id} is at version {stored.version}, not {version}; "
                "read it again and reapply your change"
            )
        if stored.status is not Status.active:
            raise StateConflict(f"declaration {declaration_id} is {stored.status}")
        return stored

    def _raise(
        self,
        tx: Transaction,
        activity: Activity,
        feature: DeclarationFeature,
        who: Principal,
        superseded: dict[str, str],
    ) -> list[tuple[StoredAdvisory, DeclarationFeature]]:
        """The advisories ``activity`` raises, each with the other side's feature."""
        raised = []
        for finding in self.service.engine.check(activity, self.service.rules):
            other = self._other(tx, finding.other)
            stored = self._stored_advisory(
                new_id("adv"),
                activity,
                feature,
                other,
                finding.encounter,
                tx.conn,
                supersedes=superseded.get(other.id),
            )
            tx.append(
                NewEvent(
                    EventKind.advisory_raised,
                    {
                        "advisory_id": stored.id,
                        "a": _side(stored.a),
                        "b": _side(stored.b),
                        "encounter": queries.encounter_to_json(finding.encounter),
                        "recipients": {p: d.value for p, d in stored.recipients.items()},
                        "exact": exact_recipients(stored, feature, other.feature),
                        "supersedes": stored.supersedes,
                    },
                    frozenset(stored.recipients),
                    who.member_id,
                )
            )
            raised.append((stored, other.feature))
        return raised

    def _other(self, tx: Transaction, other: Activity) -> StoredDeclaration:
        """The other side of a finding as the advisory needs it (id, version, party, feature),
        from the parsed versions the engine's follower keeps, else from the database."""
        feature = self.service.features.get(other.declaration_id, other.version)
        if feature is not None:
            return StoredDeclaration(
                other.declaration_id,
                other.party_id,
                other.version,
                Status.active,
                feature,
                *[tx.now] * 3,  # not read: an advisory takes only the id, version and party
            )
        stored = queries.declaration(tx.conn, other.declaration_id)
        assert stored is not None, "the engine follows the state this transaction sees"
        assert stored.version == other.version, "the engine follows the state this transaction sees"
        return stored

    def _stored_form(
        self, feature: DeclarationFeature
    ) -> tuple[dict[str, Any], DeclarationFeature]:
        """The feature as the event stores it, and that parsed as storage reads it back: the
        answer is built from the parse, and the engine's follower reuses it (FeatureCache.parsed)."""
        body = feature.model_dump(mode="json", exclude_none=True)
        stored = queries.feature_from_json(body)
        self.service.features.offer(body, stored)
        return body, stored

    def _stored_advisory(
        self,
        advisory_id: str,
        activity: Activity,
        feature: DeclarationFeature,
        other: StoredDeclaration,
        encounter: object,
        conn: object,
        supersedes: str | None = None,
    ) -> StoredAdvisory:
        from deconflict.core.conflicts import Encounter

        assert isinstance(encounter, Encounter)
        return StoredAdvisory(
            id=advisory_id,
            status="open",
            a=AdvisorySide(activity.declaration_id, activity.version, activity.party_id),
            b=AdvisorySide(other.id, other.version, other.party_id),
            encounter=encounter,
            raised_at=self.service.clock.now(),
            resolved_at=None,
            resolution=None,
            recipients=advisory_recipients(
                feature, activity.party_id, other.feature, other.party_id
            ),
            supersedes=supersedes,
        )

    def _resolve(self, tx: Transaction, advisory: StoredAdvisory, reason: str) -> None:
        tx.append(
            NewEvent(
                EventKind.advisory_resolved,
                {"advisory_id": advisory.id, "reason": reason},
                frozenset(advisory.recipients),
            )
        )

    def _outcome(
        self,
        tx: Transaction,
        written: StoredDeclaration,
        raised: list[tuple[StoredAdvisory, DeclarationFeature]],
    ) -> DeclarationOutcome:
        """The answer to a declare or amend, from what the command wrote (not read back)."""
        party = written.party_id
        views = []
        for stored, other_feature in raised:
            view = advisory_view(stored, party, other_feature, self.service.disclosure)
            if view is not None:
                views.append(view)
        declaration = declaration_view(written, party, tx.now)
        assert declaration is not None
        return DeclarationOutcome(declaration=declaration, advisories=views)

    def _view(self, tx: Transaction, declaration_id: str, party: str) -> DeclarationView:
        stored = queries.declaration(tx.conn, declaration_id)
        assert stored is not None
        view = declaration_view(stored, party, tx.now)
        assert view is not None
        return view


def exact_recipients(
    stored: StoredAdvisory, feature_a: DeclarationFeature, feature_b: DeclarationFeature
) -> list[str]:
    """The recipients entitled to the exact encounter: those that see the other side exactly.

    The encounter's points and distance locate the other declaration to the metre, so a
    recipient granted it only at a precision (or told of it as undisclosed) may not read
    them in the record.
    """
    exact = []
    for party, disclosure in stored.recipients.items():
        if disclosure is not Disclosure.full:
            continue
        other_feature, other_party = (
            (feature_b, stored.b.party_id)
            if party == stored.a.party_id
            else (feature_a, stored.a.party_id)
        )
        if shared_precision(other_feature, other_party, party)[1] is None:
            exact.append(party)
    return sorted(exact)


def _side(side: AdvisorySide) -> dict[str, object]:
    return {
        "declaration_id": side.declaration_id,
        "version": side.version,
        "party_id": side.party_id,
    }


def _view_intersects(view: DeclarationView, bbox: BaseGeometry) -> bool:
    """Filters on the geometry as the viewer sees it, so a filter reveals nothing the view does not."""
    return bool(shapely.geometry.shape(view.geometry).intersects(bbox))
