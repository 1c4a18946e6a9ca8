"""Configuration of one Deconflict deployment, read from arguments or ``DECONFLICT_*`` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from deconflict.core.clock import Clock, SystemClock


@dataclass
class Settings:
    """Everything :func:`deconflict.api.app.create_app` and :class:`Deconflict` are built from.

    Nothing is read at import time: a process can hold several services with different
    settings (the tests do).
    """

    database_url: str = "sqlite:///deconflict.sqlite"
    clock: Clock = field(default_factory=SystemClock)
    max_body_bytes: int = 1_048_576
    default_separation_m: float = 1000.0
    disclosure_precision_m: float = 10_000.0
    disclosure_time_s: int = 3600
    page_size_max: int = 500
    expiry_interval_s: float = 30.0
    record_origin: str = "deconflict.example/local"
    """First line of every checkpoint and the name of the service's signing key (C2SP)."""
    signing_key_path: Path | None = None
    """The service's Ed25519 key; by default ``<database file>.key``, created 0600 on first start."""
    stream_heartbeat_s: float = 15.0
    """How often an idle event stream sends a keep-alive and re-reads the log (the only way a
    stream learns of another process's commits on SQLite; PostgreSQL notifies at once)."""
    tile_url: str | None = None
    """A raster tile URL template (``https://tiles.example/{z}/{x}/{y}.png``) for the console's
    basemap; by default the console draws its offline basemap from data installed with it."""
    tile_attribution: str = ""
    """The credit line the tile server's licence asks for, shown on the console's map."""

    @classmethod
    def from_environment(cls, **overrides: object) -> Settings:
        """Settings from ``DECONFLICT_DATABASE_URL`` and friends, then explicit overrides."""
        values: dict[str, object] = {}
        if url := os.environ.get("DECONFLICT_DATABASE_URL"):
            values["database_url"] = url
        if limit := os.environ.get("DECONFLICT_MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(limit)
        if origin := os.environ.get("DECONFLICT_RECORD_ORIGIN"):
            values["record_origin"] = origin
        if key_path := os.environ.get("DECONFLICT_SIGNING_KEY_PATH"):
            values["signing_key_path"] = Path(key_path)
        if interval := os.environ.get("DECONFLICT_EXPIRY_INTERVAL_S"):
            values["expiry_interval_s"] = float(interval)
        if heartbeat := os.environ.get("DECONFLICT_STREAM_HEARTBEAT_S"):
            values["stream_heartbeat_s"] = float(heartbeat)
        if tile_url := os.environ.get("DECONFLICT_TILE_URL"):
            values["tile_url"] = tile_url
        if attribution := os.environ.get("DECONFLICT_TILE_ATTRIBUTION"):
            values["tile_attribution"] = attribution
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"
