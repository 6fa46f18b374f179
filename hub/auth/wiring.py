"""Build the authorization server's services from configuration, with safe defaults per mode.

Development (the embedded default) needs nothing configured: a signing key is made at start-up
(tokens then die with the process), the subject secret is random, and the dev login stands in
for BankID and SITHS. Production refuses each of those shortcuts by name, because a hub that
silently signed with a throwaway key, or let anyone log in as anyone, would look like it works.
https://hl7.org/fhir/smart-app-launch/
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import Engine

from adapters.idp.smart.choice import CustodyRegister
from adapters.idp.smart.clients import ClientConfigError, InMemoryClientRegistry, load_client_registry
from adapters.idp.smart.login import (
    CITIZEN,
    CLINICIAN,
    DevLoginBackend,
    IdentityDirectory,
    LoginBackend,
    NoDirectory,
)
from adapters.idp.smart.one_time import InMemoryOneTimeStore, OneTimeStore
from adapters.idp.smart.services import DEV_LOGIN_PATH, AuthServices, AuthSettings
from adapters.idp.tokens.access import AccessTokens
from adapters.idp.tokens.keys import KeyConfigError, KeyRing
from adapters.idp.tokens.refresh import InMemoryRefreshTokenStore, RefreshTokenStore

log = logging.getLogger("ingang.auth")
DEV_BASE_URL = "http://127.0.0.1:8000/fhir"


def _config_error(message: str) -> SystemExit:
    return SystemExit(f"configuration error: {message}")


def build_auth_services(*, fhir_base_url: str, mode: str, engine: Engine | None = None, clients_file: str = "",
                        keys_file: str = "", subject_secret: str = "",
                        logins: Mapping[str, LoginBackend] | None = None,
                        directory: IdentityDirectory | None = None, register: CustodyRegister | None = None,
                        access_token_ttl: timedelta = timedelta(minutes=10)) -> AuthServices:
    """Return the services `mount_auth` needs; raise SystemExit naming what production lacks."""
    production = mode == "production"
    if production:
        missing = [name for name, value in (("INGANG_BASE_URL", fhir_base_url), ("INGANG_TOKEN_KEYS_FILE", keys_file),
                                            ("INGANG_TOKEN_SUBJECT_SECRET", subject_secret)) if not value]
        if missing:
            raise _config_error(f"production mode needs {', '.join(missing)} for the hub's own tokens")
        if not fhir_base_url.startswith("https://"):
            raise _config_error("INGANG_BASE_URL must be https in production mode (tokens name it as audience)")
        if not logins:
            raise _config_error("production mode needs real login backends for citizens and clinicians")
    base_url = fhir_base_url or DEV_BASE_URL
    try:
        keys = KeyRing.load(keys_file) if keys_file else KeyRing.generate()
    except KeyConfigError as exc:
        raise _config_error(f"INGANG_TOKEN_KEYS_FILE: {exc}") from None
    if not keys_file:
        log.warning("no INGANG_TOKEN_KEYS_FILE: signing tokens with a key made at start-up (development only)")
    secret = subject_secret.encode("utf-8") if subject_secret else secrets.token_bytes(32)
    try:
        settings = AuthSettings(fhir_base_url=base_url, subject_secret=secret, mode=mode,
                                access_token_ttl=access_token_ttl)
    except ValueError as exc:
        raise _config_error(str(exc)) from None
    try:
        clients = load_client_registry(clients_file) if clients_file else InMemoryClientRegistry()
    except ClientConfigError as exc:
        raise _config_error(f"INGANG_CLIENTS_FILE: {exc}") from None
    if logins is None:
        dev = DevLoginBackend(page_url=settings.url(DEV_LOGIN_PATH), mode=mode)
        logins = {CITIZEN: dev, CLINICIAN: dev}
    refresh: RefreshTokenStore
    one_time: OneTimeStore
    if engine is not None:
        # Imported here so the tables join the store's MetaData only when the hub uses them.
        from adapters.idp.smart.one_time_sql import SqlOneTimeStore
        from adapters.idp.tokens.refresh_sql import SqlRefreshTokenStore

        refresh, one_time = SqlRefreshTokenStore(engine), SqlOneTimeStore(engine)
    else:
        refresh, one_time = InMemoryRefreshTokenStore(), InMemoryOneTimeStore()
    tokens = AccessTokens(keys, issuer=settings.issuer, audience=settings.fhir_base_url, ttl=access_token_ttl)
    if directory is None and engine is not None:
        from hub.auth.directory import StoreDirectory

        directory = StoreDirectory(engine)
    return AuthServices(settings=settings, tokens=tokens, refresh_tokens=refresh, clients=clients,
                        one_time=one_time, logins=logins, directory=directory or NoDirectory(),
                        register=register)
