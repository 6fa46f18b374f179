"""Read the hub's configuration from `INGANG_*` environment variables, once, at start-up.

Every setting has a default that gives the embedded default (SQLite file, in-process workers,
dev IdP, demo data), so `ingang serve` works on a fresh machine with nothing configured.
The README lists the same variables; `Settings.describe()` is what it was written from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

MIN_TOKEN_SECONDS, MAX_TOKEN_SECONDS = 5, 3600


def _bool(value: str) -> bool:
    if value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if value.strip().lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


@dataclass(frozen=True)
class Settings:
    """The hub's configuration; build it with `Settings.from_env()`."""

    database_url: str = field(default="sqlite:///var/ingang.db", metadata={"help": "SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db"})
    mode: str = field(default="development", metadata={"help": "development or production (production refuses the dev IdP and demo data)"})
    base_url: str = field(default="", metadata={"help": "public FHIR base URL, e.g. https://hub.region.se/fhir (default: from the request)"})
    auto_migrate: bool | None = field(default=None, metadata={"help": "run migrations at start-up (default: on for SQLite, off for PostgreSQL)"})
    demo_data: bool = field(default=True, metadata={"help": "load demo regions, units and staff on start (default: on in development)"})
    bundle_max_entries: int = field(default=1000, metadata={"help": "largest transaction or batch Bundle accepted, in entries"})
    max_body_bytes: int = field(default=10 * 1024 * 1024, metadata={"help": "largest request body accepted, in bytes"})
    photo_max_bytes: int = field(default=15 * 1024 * 1024, metadata={"help": "largest photo accepted, in bytes (as sent; FHIR JSON bodies also stay under INGANG_MAX_BODY_BYTES)"})
    photo_max_pixels: int = field(default=50_000_000, metadata={"help": "most pixels (width × height) a photo may have; checked from the header before decoding"})
    photo_thumbnail_px: int = field(default=320, metadata={"help": "longest side of a photo's thumbnail, in pixels"})
    default_page_size: int = field(default=20, metadata={"help": "search page size when _count is not given"})
    max_page_size: int = field(default=1000, metadata={"help": "largest _count honoured"})
    db_pool_size: int = field(default=10, metadata={"help": "database connections per process"})
    clients_file: str = field(default="", metadata={"help": "JSON or YAML file of SMART apps and regional systems allowed to get tokens"})
    token_keys_file: str = field(default="", metadata={"help": "the hub's private token signing keys as a JWKS file (required in production and with several workers)"})
    token_subject_secret: str = field(default="", metadata={"help": "secret (16+ bytes) that keys the anonymised user id in ID tokens (required in production)"})
    access_token_seconds: int = field(default=600, metadata={"help": "how long the hub's access tokens live, in seconds (5 to 3600); apps with offline_access or online_access refresh them, the hub's pages shortly before expiry"})
    access_control: bool = field(default=True, metadata={"help": "require tokens and enforce PDL access rules with an audit trail (always on in production)"})
    regions_dir: str = field(default="", metadata={"help": "folder of the regions' routing rules (*.yaml); default: the demo regions shipped with the hub"})
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})
    riv_services_file: str = field(default="", metadata={"help": "YAML file of the RIV-TA journal sources and the units booking in a regional system (endpoints, logical addresses, timeouts); see adapters/riv/config.py. Without it: a demo journal in development, the hub's own times for every unit"})
    live_bus: str = field(default="memory", metadata={"help": "bus for live pushes (chat, receipts, waiting rooms, video signalling): memory (one process) or redis (several API replicas)"})
    live_redis_url: str = field(default="redis://127.0.0.1:6379/0", metadata={"help": "Redis for the live bus when INGANG_LIVE_BUS=redis"})
    ice_stun_urls: str = field(default="", metadata={"help": "STUN servers for video calls, comma-separated, e.g. stun:stun.region.se:3478"})
    ice_turn_urls: str = field(default="", metadata={"help": "TURN servers for video calls, comma-separated, e.g. turns:turn.region.se:5349?transport=tcp"})
    ice_turn_secret: str = field(default="", metadata={"help": "secret shared with the TURN servers; each caller then gets time-limited credentials (TURN REST convention)"})
    ice_turn_ttl_seconds: int = field(default=3600, metadata={"help": "how long TURN credentials handed out by the hub stay valid"})
    outbox_dispatcher: str = field(default="inline", metadata={"help": "who delivers outbox messages: inline (a thread in each API process), celery (`ingang worker` processes) or off"})
    broker_url: str = field(default="", metadata={"help": "Celery broker for the outbox workers, e.g. amqp://guest:guest@127.0.0.1:5672// or redis://127.0.0.1:6379/0 (needed when the dispatcher is celery)"})
    outbox_max_attempts: int = field(default=12, metadata={"help": "delivery attempts before an outbox message is dead"})
    outbox_backoff_base: float = field(default=2.0, metadata={"help": "seconds before the first retry; doubles each attempt, half of it random"})
    outbox_backoff_cap: float = field(default=3600.0, metadata={"help": "longest wait between retries, in seconds"})
    outbox_lease_seconds: float = field(default=60.0, metadata={"help": "how long a worker holds a message; after that a killed worker's message is due again"})
    outbox_poll_seconds: float = field(default=1.0, metadata={"help": "inline dispatcher's poll interval, and Celery's sweep interval for messages whose task was lost"})
    outbox_retention_days: int = field(default=7, metadata={"help": "days delivered outbox messages are kept for replay"})
    outbox_operators: str = field(default="", metadata={"help": "comma-separated client ids (from the clients file) whose client-credentials tokens may list and replay outbox messages at /api/outbox"})
    statistics_right: str = field(default="Statistik", metadata={"help": "the commission right (first part of an Inera commissionRight, e.g. Statistik;Alla;Alla) that lets a clinician read their region's statistics at /api/regions/{hsa-id}/statistics"})
    subscription_error_after: int = field(default=5, metadata={"help": "failed notification attempts in a row before a Subscription's status becomes error"})
    journals_file: str = field(default="", metadata={"help": "JSON or YAML file of each region's FHIR journal endpoint and client credentials, where closed cases' notes go (default: an in-memory journal; production needs one per region)"})
    peer_hubs_file: str = field(default="", metadata={"help": "JSON or YAML file of the other Ingång hubs cases may be transferred to, and which of their clients may transfer cases here"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment; a bad value names its variable."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            key = "INGANG_" + f.name.upper()
            if key not in env:
                continue
            raw = env[key]
            try:
                if f.type in ("bool", "bool | None"):
                    values[f.name] = _bool(raw)
                elif f.type == "int":
                    values[f.name] = int(raw)
                elif f.type == "float":
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except ValueError as exc:
                raise SystemExit(f"configuration error: {key}: {exc}") from None
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.mode not in {"development", "production"}:
            raise SystemExit("configuration error: INGANG_MODE must be development or production")
        if not MIN_TOKEN_SECONDS <= settings.access_token_seconds <= MAX_TOKEN_SECONDS:
            # Below a few seconds a token dies on the wire; above an hour a stolen one is worth too much.
            raise SystemExit(f"configuration error: INGANG_ACCESS_TOKEN_SECONDS must be {MIN_TOKEN_SECONDS} to "
                             f"{MAX_TOKEN_SECONDS}, not {settings.access_token_seconds}")
        if settings.mode == "production" and not settings.access_control:
            raise SystemExit("configuration error: INGANG_ACCESS_CONTROL cannot be off in production mode")
        if settings.mode == "production" and "INGANG_DEMO_DATA" not in env:
            settings = cls(**{**values, "demo_data": False})  # type: ignore[arg-type]
        return settings

    @property
    def is_sqlite(self) -> bool:
        """Tell whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def should_auto_migrate(self) -> bool:
        """Migrate at start-up: the embedded default does, a shared PostgreSQL waits for its admin."""
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    def sqlite_path(self) -> Path | None:
        """Return the SQLite file's path, if the database is a SQLite file."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix) or ":memory:" in self.database_url:
            return None
        return Path(self.database_url[len(prefix):].split("?")[0])

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """List (variable, default, meaning) for the README and `ingang config`."""
        out = []
        for f in fields(cls):
            out.append(("INGANG_" + f.name.upper(), str(f.default), f.metadata["help"]))
        # The identity providers' variables are read by hub.auth.logins, which lists them.
        from hub.auth.logins import login_variables

        out.extend((v.name, v.default, v.meaning) for v in login_variables())
        return out
