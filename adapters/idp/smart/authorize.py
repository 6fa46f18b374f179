"""Run the authorization endpoint: check the app's request, log the person in, hand back a code.

Standalone launch: the app asks for scopes (and `launch/patient` for the patient the citizen
acts for). EHR launch: the EHR first gets a `launch` id bound to a patient and encounter from
`create_launch`, the app passes it to /authorize, and the token carries that context. Errors
before the redirect URI is trusted are shown to the person; after, they go back to the app by
redirect, as RFC 6749 §4.1.2.1 says. PKCE with S256 is required of every client (SMART v2).
https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from adapters.idp.smart.choice import (
    LoginOption,
    candidates_for,
    choice_record,
    chosen,
    describe,
    options_of,
    purposes_text,
    with_children,
)
from adapters.idp.smart.clients import ClientRegistration
from adapters.idp.smart.login import (
    CITIZEN,
    CLINICIAN,
    COMMISSION_HINT,
    COMMISSION_PURPOSES,
    CommissionChoice,
    LoginFailed,
    LoginRequest,
    principal_fits,
)
from adapters.idp.smart.one_time import CHOICE, CODE, LAUNCH, LOGIN
from adapters.idp.smart.services import CALLBACK_PATH, CHOOSE_PATH, AuthServices
from adapters.idp.tokens.access import AccessContext
from adapters.idp.tokens.claims import principal_from_claim, principal_to_claim
from adapters.idp.tokens.scopes import ScopeError, Scopes
from cases.principals import CARE_PURPOSE, Citizen, Clinician, Principal, RegionalSystem
from fhir_api.outcomes import BadRequest, Forbidden

log = logging.getLogger("ingang.auth")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class AuthorizeError(Exception):
    """An authorization failure: sent back to the app if its redirect URI is trusted, else shown."""

    def __init__(self, error: str, description: str, *, redirect_uri: str | None = None,
                 state: str | None = None) -> None:
        super().__init__(description)
        self.error, self.description = error, description
        self.redirect_uri, self.state = redirect_uri, state

    def redirect_url(self, issuer: str) -> str | None:
        """Return the app's redirect URI carrying the error, or None if it must be shown instead."""
        if self.redirect_uri is None:
            return None
        query = {"error": self.error, "error_description": self.description, "iss": issuer}
        if self.state:
            query["state"] = self.state
        return _with_query(self.redirect_uri, query)


@dataclass(frozen=True)
class LoginStart:
    """Where to send the browser, and the login id the browser must bring back (as a cookie)."""

    redirect_url: str
    login_id: str


def _with_query(uri: str, query: Mapping[str, str]) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(query)}"


def _trusted_client(services: AuthServices, params: Mapping[str, str]) -> tuple[ClientRegistration, str]:
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    client = services.clients.get(client_id) if client_id else None
    if client is None:
        raise AuthorizeError("invalid_request", f"Client {client_id!r} is not registered with this hub")
    if redirect_uri not in client.redirect_uris:
        raise AuthorizeError("invalid_request", f"redirect_uri {redirect_uri!r} is not registered for client "
                             f"{client_id!r}")
    return client, redirect_uri


def begin_authorization(services: AuthServices, params: Mapping[str, str]) -> LoginStart:
    """Check an authorization request and start the login that will answer it."""
    client, redirect_uri = _trusted_client(services, params)
    state = params.get("state") or None

    def fail(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri=redirect_uri, state=state)

    if params.get("response_type") != "code":
        raise fail("unsupported_response_type", "response_type must be 'code'")
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", f"Client {client.client_id!r} may not use the authorization code grant")
    if not state:
        raise fail("invalid_request", "state is required (SMART App Launch 2.0)")
    if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
        raise fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
    if params.get("aud", "").rstrip("/") != services.settings.fhir_base_url:
        raise fail("invalid_request", f"aud must be this hub's FHIR base URL {services.settings.fhir_base_url!r}")
    try:
        requested = Scopes.parse(params.get("scope", ""))
    except ScopeError as exc:
        raise fail("invalid_scope", str(exc)) from None
    granted = requested.grant(client.allowed_scopes, contexts=("patient", "user"))
    if not granted.resource and not granted.other:
        raise fail("invalid_scope", f"None of the requested scopes may be granted to client {client.client_id!r}")
    launch: dict[str, Any] | None = None
    if params.get("launch"):
        if not granted.has("launch"):
            raise fail("invalid_scope", "An EHR launch needs the 'launch' scope")
        launch = services.one_time.take(LAUNCH, params["launch"], now=services.clock())
        if launch is None:
            raise fail("invalid_request", "launch is unknown, already used or expired; ask the EHR to launch again")
        if launch.get("client_id") not in (None, client.client_id):
            raise fail("invalid_request", "launch was created for another app")
    else:
        # A standalone launch: `launch` alone means nothing without a launch id, so do not grant it.
        granted = Scopes(granted.resource, granted.other - {"launch"})
    purpose = CLINICIAN if launch is not None or "user" in granted.contexts else (client.login or CITIZEN)
    if client.login and client.login != purpose:
        raise fail("invalid_scope", f"Client {client.client_id!r} logs in {client.login}s, but asked for "
                   f"{'an EHR launch' if launch else 'user/ scopes'}")
    backend = services.logins.get(purpose)
    if backend is None:
        raise fail("temporarily_unavailable", f"No login is configured for {purpose}s")
    login_id = secrets.token_urlsafe(32)
    # A clinician's app may name the commission to act under, so a login with several needs no picker;
    # the purposes tell the backend which of the clinician's commissions this app may use at all.
    memo: dict[str, Any] = {COMMISSION_PURPOSES: list(client.commission_purposes)}
    if params.get("commission"):
        memo[COMMISSION_HINT] = str(params["commission"])
    request = LoginRequest(login_id=login_id, callback_url=services.settings.url(CALLBACK_PATH),
                           client_id=client.client_id, client_name=client.name, memo=memo)
    try:
        url = backend.start(request, purpose)
    except LoginFailed as exc:
        raise fail("temporarily_unavailable", str(exc)) from None
    now = services.clock()
    services.one_time.put(LOGIN, login_id, {
        "client_id": client.client_id, "redirect_uri": redirect_uri, "state": state, "purpose": purpose,
        "scope": str(granted), "code_challenge": params["code_challenge"], "nonce": params.get("nonce"),
        "launch": launch, "memo": request.memo,
    }, expires_at=now + services.settings.login_ttl)
    return LoginStart(url, login_id)


@dataclass(frozen=True)
class LoginNext:
    """Where the browser goes after the identity provider: the app (done) or the hub's choice page."""

    url: str
    done: bool


def finish_login(services: AuthServices, login_id: str | None, params: Mapping[str, str]) -> LoginNext:
    """Finish the login the browser comes back from: a code for the app, or a choice to make first."""
    pending = services.one_time.take(LOGIN, login_id, now=services.clock()) if login_id else None
    if pending is None:
        raise AuthorizeError("invalid_request", "This login is unknown or took too long (the browser must "
                             "keep cookies for this site); start again from the app")
    purpose = pending["purpose"]
    try:
        outcome = services.logins[purpose].finish(params, pending["memo"])
    except LoginFailed as exc:
        raise _deny(pending, str(exc)) from None
    except Exception:
        log.exception("login backend for %s failed", purpose)
        raise _deny(pending, "The login did not complete") from None
    client = services.clients.get(pending["client_id"])
    purposes = client.commission_purposes if client is not None else (CARE_PURPOSE,)
    candidates = candidates_for(outcome, purposes)
    if not candidates:
        refused = outcome.candidates[0] if isinstance(outcome, CommissionChoice) else outcome
        what = refused.commission.purpose if isinstance(refused, Clinician) else refused.kind
        raise _deny(pending, f"You logged in with a commission for {what}; this app takes commissions "
                    f"for {purposes_text(purposes)}")
    first = candidates[0]
    if len(candidates) == 1 and isinstance(first, Citizen) and pending["launch"] is None \
            and Scopes.parse(pending["scope"]).has("launch/patient"):
        candidates = with_children(first, services.register, services.clock().date())
    if len(candidates) == 1:
        return LoginNext(_issue_code(services, pending, candidates[0]), done=True)
    options = describe(candidates, services.directory)
    services.one_time.put(CHOICE, str(login_id), {**pending, **choice_record(candidates, options)},
                          expires_at=services.clock() + services.settings.login_ttl)
    return LoginNext(services.settings.url(CHOOSE_PATH), done=False)


def login_options(services: AuthServices, login_id: str | None) -> list[LoginOption] | None:
    """Return the options of the choice this login waits on, or None if it waits on none."""
    record = services.one_time.peek(CHOICE, login_id, now=services.clock()) if login_id else None
    return options_of(record) if record is not None else None


def finish_choice(services: AuthServices, login_id: str | None, key: str) -> str:
    """Take the person's choice; return the app's redirect URI with a code for the chosen principal."""
    record = services.one_time.take(CHOICE, login_id, now=services.clock()) if login_id else None
    if record is None:
        raise AuthorizeError("invalid_request", "This login is unknown or took too long (the browser must "
                             "keep cookies for this site); start again from the app")
    principal = chosen(record, key)
    if principal is None:
        raise _deny(record, "The choice was not one of those offered; log in again")
    return _issue_code(services, record, principal)


def _deny(pending: Mapping[str, Any], description: str) -> AuthorizeError:
    return AuthorizeError("access_denied", description, redirect_uri=pending["redirect_uri"],
                          state=pending["state"])


def _issue_code(services: AuthServices, pending: Mapping[str, Any], principal: Principal) -> str:
    """Return the app's redirect URI with a code for the principal, once it fits the login."""
    purpose, redirect_uri, state = pending["purpose"], pending["redirect_uri"], pending["state"]

    def deny(description: str) -> AuthorizeError:
        return _deny(pending, description)

    if not principal_fits(principal, purpose):
        raise deny(f"Logged in as a {principal.kind}, but this app needs a {purpose}")
    scopes = Scopes.parse(pending["scope"])
    scopes = scopes.without_contexts(("system",) if isinstance(principal, Clinician) else ("system", "user"))
    launch, patient, encounter = pending["launch"], None, None
    if launch is not None:
        creator = principal_from_claim(launch["created_by"])
        same = isinstance(principal, Clinician) and principal.employee_hsa_id == getattr(creator, "employee_hsa_id", "")
        if isinstance(creator, Clinician) and not same:
            raise deny("The EHR launched this app for another clinician")
        patient, encounter = launch["patient"], launch.get("encounter")
    elif scopes.has("launch/patient"):
        if isinstance(principal, Clinician):
            raise deny("A clinician's standalone launch cannot choose a patient here; launch the app from the EHR")
        patient = services.directory.own_patient(principal)
        if patient is None:
            raise deny("No patient record was found for the person who logged in")
    if patient is None:
        scopes = Scopes(scopes.without_contexts(("patient",)).resource, scopes.other - {"launch/patient"})
    code = secrets.token_urlsafe(32)
    now = services.clock()
    services.one_time.put(CODE, code, {
        "client_id": pending["client_id"], "redirect_uri": redirect_uri, "code_challenge": pending["code_challenge"],
        "principal": principal_to_claim(principal), "scope": str(scopes), "patient": patient,
        "encounter": encounter, "fhir_user": services.directory.fhir_user(principal),
        "subject": services.subject_for(principal, pending["client_id"]), "nonce": pending["nonce"],
        "ehr_launch": launch is not None,
    }, expires_at=now + services.settings.code_ttl)
    query = {"code": code, "state": state, "iss": services.settings.issuer}
    return _with_query(redirect_uri, query)


def create_launch(services: AuthServices, caller: AccessContext, body: Mapping[str, Any]) -> dict[str, Any]:
    """Bind a patient (and encounter) to a fresh launch id for an EHR launch; return it."""
    principal = caller.principal
    if not isinstance(principal, (Clinician, RegionalSystem)):
        raise Forbidden("Only a clinician or a regional system may create an EHR launch context")
    context = "system" if isinstance(principal, RegionalSystem) else "user"
    if not caller.scopes.allows("Patient", "r", context):
        raise Forbidden(f"Creating a launch context needs read access to Patient ({context}/Patient.rs)")
    values: dict[str, str | None] = {}
    for name in ("patient", "encounter", "client_id"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"'{name}' must be a string", (name,))
        values[name] = value or None
    if values["patient"] is None or not _FHIR_ID.match(values["patient"]):
        raise BadRequest("'patient' must be a Patient id", ("patient",))
    if values["encounter"] is not None and not _FHIR_ID.match(values["encounter"]):
        raise BadRequest("'encounter' must be an Encounter id", ("encounter",))
    if values["client_id"] is not None and services.clients.get(values["client_id"]) is None:
        raise BadRequest(f"Client {values['client_id']!r} is not registered", ("client_id",))
    launch_id = secrets.token_urlsafe(24)
    ttl = services.settings.launch_ttl
    services.one_time.put(LAUNCH, launch_id, {**values, "created_by": principal_to_claim(principal)},
                          expires_at=services.clock() + ttl)
    return {"launch": launch_id, "expires_in": int(ttl.total_seconds())}
