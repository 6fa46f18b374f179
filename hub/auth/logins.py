"""Build the hub's login backends from `INGANG_CITIZEN_OIDC_*` and `INGANG_CLINICIAN_OIDC_*` variables.

A region registers the hub as an OIDC client with its BankID broker (citizens) and the Inera IdP
(clinicians), with redirect URI `{issuer}/auth/callback`, and gives the hub the issuer, client id
and secret of each. A region that runs BankID itself sets `INGANG_CITIZEN_BANKID_*` instead of the
citizens' OIDC variables (RP API URL, RP certificate and key, BankID's CA), and citizens log in on
the hub's own BankID page. Nothing configured means the dev login (development only); one purpose
configured means the other falls back to the dev login in development and is a configuration
error in production, so a half-configured production hub never starts.
https://openid.net/specs/openid-connect-core-1_0.html#ClientAuthentication
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.idp.bankid import (
    PRODUCTION_URL,
    BankIdConfigurationError,
    BankIdLogin,
    BankIdTls,
    HttpBankIdClient,
)
from adapters.idp.bankid.browser import BankIdBrowserLogin
from adapters.idp.oidc import CITIZEN_SCOPES, OidcRelyingParty, OidcSettings
from adapters.idp.oidc.login_backend import OidcLoginBackend, clinician_claims_request
from adapters.idp.smart.login import CITIZEN, CLINICIAN, PURPOSES, DevLoginBackend, LoginBackend
from adapters.idp.smart.services import CALLBACK_PATH, DEV_LOGIN_PATH
from hub.auth.bankid_pages import BANKID_PAGE_PATH
from mappings.personnummer import is_personal_identity

PREFIX = {CITIZEN: "INGANG_CITIZEN_OIDC_", CLINICIAN: "INGANG_CLINICIAN_OIDC_"}
BANKID_PREFIX = "INGANG_CITIZEN_BANKID_"
DEFAULT_SCOPES = {CITIZEN: " ".join(CITIZEN_SCOPES), CLINICIAN: "openid"}
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
WHO = {CITIZEN: "citizens (BankID through an OpenID provider)", CLINICIAN: "clinicians (SITHS through the Inera IdP)"}


@dataclass(frozen=True)
class LoginVariable:
    """One environment variable of the login configuration, for the README and `ingang config`."""

    name: str
    default: str
    meaning: str


def login_variables() -> list[LoginVariable]:
    """List the login variables with their defaults and meaning."""
    out = []
    for purpose in PURPOSES:
        p, who = PREFIX[purpose], WHO[purpose]
        out += [
            LoginVariable(f"{p}ISSUER", "", f"issuer URL of the OpenID provider that logs {who} in "
                          "(https; unset: the dev login, development only)"),
            LoginVariable(f"{p}CLIENT_ID", "", "the hub's client id at that provider"),
            LoginVariable(f"{p}CLIENT_SECRET", "", "the hub's client secret at that provider"),
            LoginVariable(f"{p}CLIENT_SECRET_FILE", "", "file holding the client secret, instead of the variable"),
            LoginVariable(f"{p}SCOPES", DEFAULT_SCOPES[purpose], "space-separated scopes to request"),
            LoginVariable(f"{p}TOKEN_AUTH_METHOD", "client_secret_basic",
                          "client_secret_basic or client_secret_post, as registered at the provider"),
        ]
    b = BANKID_PREFIX
    out += [
        LoginVariable(f"{b}URL", "", "BankID RP API v6 base URL, for a region that runs BankID itself "
                      f"(e.g. {PRODUCTION_URL}); citizens then log in on the hub's own BankID page, "
                      "instead of through INGANG_CITIZEN_OIDC_*"),
        LoginVariable(f"{b}CERT_FILE", "", "the region's RP certificate (PEM), for mutual TLS"),
        LoginVariable(f"{b}KEY_FILE", "", "its private key (PEM; empty when it is in the certificate file)"),
        LoginVariable(f"{b}KEY_PASSWORD_FILE", "", "file holding the key's password, if it has one"),
        LoginVariable(f"{b}CA_FILE", "", "the CA that issued BankID's server certificate (PEM)"),
    ]
    return out


def bankid_login_from_env(environ: Mapping[str, str], *, issuer_base_url: str) -> LoginBackend | None:
    """Return the BankID login page backend if `INGANG_CITIZEN_BANKID_URL` is set, else None."""
    b = BANKID_PREFIX
    url = environ.get(f"{b}URL", "").strip()
    if not url:
        stray = sorted(k for k, v in environ.items() if k.startswith(b) and v)
        if stray:
            raise _config_error(f"{', '.join(stray)} set without {b}URL")
        return None
    if environ.get(f"{PREFIX[CITIZEN]}ISSUER", "").strip():
        raise _config_error(f"set {b}URL or {PREFIX[CITIZEN]}ISSUER for citizens' login, not both")
    cert, ca = environ.get(f"{b}CERT_FILE", "").strip(), environ.get(f"{b}CA_FILE", "").strip()
    missing = [name for name, value in (("CERT_FILE", cert), ("CA_FILE", ca)) if not value]
    if missing:
        raise _config_error(f"{b}URL is set, so {' and '.join(b + m for m in missing)} must be set too")
    password = None
    if path := environ.get(f"{b}KEY_PASSWORD_FILE", "").strip():
        try:
            password = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _config_error(f"{b}KEY_PASSWORD_FILE: cannot read {path}: {exc.strerror}") from None
    tls = BankIdTls(client_cert=cert, ca_cert=ca, client_key=environ.get(f"{b}KEY_FILE", "").strip() or None,
                    key_password=password)
    try:
        client = HttpBankIdClient(url, tls)
    except BankIdConfigurationError as exc:
        raise _config_error(f"{b}*: {exc}") from None
    # The number BankID vouches for still goes through the hub's own personnummer rules.
    check = BankIdLogin(client, check_personal_number=is_personal_identity)
    return BankIdBrowserLogin(client, page_url=issuer_base_url.rstrip("/") + BANKID_PAGE_PATH, check=check)


def _config_error(message: str) -> SystemExit:
    return SystemExit(f"configuration error: {message}")


def _secret(environ: Mapping[str, str], prefix: str) -> str:
    inline, path = environ.get(f"{prefix}CLIENT_SECRET", ""), environ.get(f"{prefix}CLIENT_SECRET_FILE", "")
    if inline and path:
        raise _config_error(f"set {prefix}CLIENT_SECRET or {prefix}CLIENT_SECRET_FILE, not both")
    if not path:
        return inline
    try:
        # A secret file from a secret store usually ends with a newline that is not part of the secret.
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _config_error(f"{prefix}CLIENT_SECRET_FILE: cannot read {path}: {exc.strerror}") from None


def oidc_settings_from_env(environ: Mapping[str, str], purpose: str, *, issuer_base_url: str) -> OidcSettings | None:
    """Return the relying party settings for one purpose, or None if its issuer is not set."""
    prefix = PREFIX[purpose]
    issuer = environ.get(f"{prefix}ISSUER", "").strip()
    if not issuer:
        stray = sorted(k for k, v in environ.items() if k.startswith(prefix) and v)
        if stray:
            raise _config_error(f"{', '.join(stray)} set without {prefix}ISSUER")
        return None
    client_id, secret = environ.get(f"{prefix}CLIENT_ID", "").strip(), _secret(environ, prefix)
    missing = [name for name, value in (("CLIENT_ID", client_id), ("CLIENT_SECRET", secret)) if not value]
    if missing:
        raise _config_error(f"{prefix}ISSUER is set, so {' and '.join(prefix + m for m in missing)} "
                            "must be set too")
    scopes = tuple(environ.get(f"{prefix}SCOPES", "").split() or DEFAULT_SCOPES[purpose].split())
    if "openid" not in scopes:
        raise _config_error(f"{prefix}SCOPES must include openid")
    auth_method = environ.get(f"{prefix}TOKEN_AUTH_METHOD", "").strip() or "client_secret_basic"
    if auth_method not in AUTH_METHODS:
        raise _config_error(f"{prefix}TOKEN_AUTH_METHOD must be {' or '.join(AUTH_METHODS)}, not {auth_method!r}")
    values: dict[str, Any] = {
        # The provider must send the browser back to the hub's own callback, which /authorize
        # also names as `LoginRequest.callback_url`; derive both from the one issuer URL.
        # The issuer is kept exactly as given: it must equal the discovery document's, slash and all.
        "issuer": issuer, "client_id": client_id, "client_secret": secret,
        "redirect_uri": issuer_base_url.rstrip("/") + CALLBACK_PATH, "scopes": scopes,
        "token_auth_method": auth_method,
    }
    if purpose == CLINICIAN:
        values["claims_request"] = clinician_claims_request()
    try:
        return OidcSettings(**values)
    except ValueError as exc:
        # Scopes and the auth method are checked above, so what is left to refuse is the issuer.
        raise _config_error(f"{prefix}ISSUER: {exc}") from None


def login_backends_from_env(environ: Mapping[str, str], *, issuer_base_url: str,
                            mode: str = "development") -> dict[str, LoginBackend] | None:
    """Return a login backend per purpose from the environment, or None if no provider is configured."""
    configured = {p: s for p in PURPOSES
                  if (s := oidc_settings_from_env(environ, p, issuer_base_url=issuer_base_url)) is not None}
    bankid = bankid_login_from_env(environ, issuer_base_url=issuer_base_url)
    if not configured and bankid is None:
        return None
    missing = [p for p in PURPOSES if p not in configured and not (p == CITIZEN and bankid is not None)]
    if missing and mode == "production":
        raise _config_error(f"production mode needs an identity provider for {missing[0]}s too: set "
                            f"{PREFIX[missing[0]]}ISSUER, _CLIENT_ID and _CLIENT_SECRET")
    logins: dict[str, LoginBackend] = {
        purpose: OidcLoginBackend(OidcRelyingParty(settings), purpose) for purpose, settings in configured.items()}
    if bankid is not None:
        logins[CITIZEN] = bankid
    for purpose in missing:
        # Development with one real provider (say, a BankID test broker) still lets the other
        # kind of person log in; the dev backend itself refuses anything but development mode.
        logins[purpose] = DevLoginBackend(page_url=issuer_base_url.rstrip("/") + DEV_LOGIN_PATH, mode=mode)
    return logins


def close_login_backends(logins: Mapping[str, LoginBackend] | None) -> None:
    """Close the HTTP clients of the OIDC login backends (call at shutdown)."""
    for backend in (logins or {}).values():
        if isinstance(backend, OidcLoginBackend):
            backend.close()
        elif isinstance(backend, BankIdBrowserLogin) and isinstance(backend.client, HttpBankIdClient):
            backend.client.close()
