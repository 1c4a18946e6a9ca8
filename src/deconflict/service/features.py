"""Parsed declaration versions, kept so that neither a write nor a read has to validate again
a feature that was just written or just read.

Validating a stored feature (pydantic, and shapely to check its geometry) costs more than the
statement that reads it. Under load the same few declarations (a busy crossing) are the other
side of many advisories, and a declaration is often read right after it was written; a
version never changes once committed, so its parse can be shared.

What goes in: a version the engine's follower has applied (the write committed, or is part
of the running batch; if that batch fails the engine is reloaded and this cache emptied with
it), or one a reader found committed in the database. A command hands its own parse over with
:meth:`FeatureCache.offer`; it is taken only by the follower of that very event (matched on
the body object), so the parse of a command that was rolled back is never served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa

from deconflict.core.declarations import DeclarationFeature, Status
from deconflict.core.visibility import StoredDeclaration
from deconflict.storage import queries
from deconflict.storage import tables as t

SIZE = 4096
OFFERED = 256
"""Parses offered by commands and not yet taken: a few per batch, more only if commands fail."""


class FeatureCache:
    def __init__(self, size: int = SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, int], DeclarationFeature] = OrderedDict()
        self._offered: OrderedDict[int, tuple[Any, DeclarationFeature]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, declaration_id: str, version: int) -> DeclarationFeature | None:
        with self._lock:
            feature = self._entries.get((declaration_id, version))
            if feature is not None:
                self._entries.move_to_end((declaration_id, version))
            return feature

    def put(self, declaration_id: str, version: int, feature: DeclarationFeature) -> None:
        """Only for a version known to be committed, or applied by the engine's follower."""
        with self._lock:
            self._entries[(declaration_id, version)] = feature
            self._entries.move_to_end((declaration_id, version))
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def offer(self, body: Any, feature: DeclarationFeature) -> None:
        """A command's parse of the ``body`` it is putting into an event, for :meth:`parsed`."""
        with self._lock:
            self._offered[id(body)] = (body, feature)
            while len(self._offered) > OFFERED:
                self._offered.popitem(last=False)

    def parsed(self, declaration_id: str, version: int, body: Any) -> DeclarationFeature:
        """The follower's parse of an event's ``body``: the offered one if this is the very
        object a command offered, else parsed now; kept either way."""
        with self._lock:
            offered = self._offered.pop(id(body), None)
        if offered is not None and offered[0] is body:
            feature = offered[1]
        else:
            feature = queries.feature_from_json(body)
        self.put(declaration_id, version, feature)
        return feature

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._offered.clear()


_d = t.declarations.c
_BY_ID = sa.select(
    _d.id,
    _d.party_id,
    _d.version,
    _d.status,
    _d.feature,
    _d.created_at,
    _d.updated_at,
    _d.confirmed_at,
).where(_d.id == sa.bindparam("declaration_id"))
"""Built once (its compiled form is cached against it): a read of one declaration is mostly
fixed costs, and building the statement was one of the larger."""


def stored_declaration(
    conn: sa.Connection, declaration_id: str, cache: FeatureCache
) -> StoredDeclaration | None:
    """One declaration as stored, its feature parsed at most once per version."""
    row = conn.execute(_BY_ID, {"declaration_id": declaration_id}).first()
    if row is None:
        return None
    feature = cache.get(row.id, row.version)
    if feature is None:
        feature = queries.feature_from_json(row.feature)
        cache.put(row.id, row.version, feature)  # read from the database: committed
    return StoredDeclaration(
        id=row.id,
        party_id=row.party_id,
        version=row.version,
        status=Status(row.status),
        feature=feature,
        created_at=queries.parse_time(row.created_at),
        updated_at=queries.parse_time(row.updated_at),
        confirmed_at=queries.parse_time(row.confirmed_at),
    )
