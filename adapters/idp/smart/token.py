"""Run the token endpoint: redeem codes, rotate refresh tokens, serve backend services.

Three grants. `authorization_code` redeems a code once, with PKCE, for the client and redirect
URI it was issued to. `refresh_token` rotates: the old token is spent and a new one of the same
family comes back; a spent token presented again revokes the family. `client_credentials` is
SMART Backend Services: a signed assertion in, a five-minute token for a `RegionalSystem`
limited to its region and `system/` scopes out. Everything failing here is an RFC 6749 error.
https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-access-token
https://hl7.org/fhir/smart-app-launch/backend-services.html#obtaining-an-access-token
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.idp.smart.oauth import OAuthError, authenticate_client, check_pkce
from adapters.idp.smart.one_time import CODE
from adapters.idp.smart.services import AuthServices
from adapters.idp.tokens.claims import principal_from_claim
from adapters.idp.tokens.refresh import (
    RefreshGrant,
    RefreshTokenError,
    hash_refresh_token,
    new_family_id,
    new_refresh_token,
)
from adapters.idp.tokens.scopes import ScopeError, Scopes
from cases.principals import Principal, RegionalSystem

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
REFRESH_SCOPES = ("offline_access", "online_access")


def token_response(services: AuthServices, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
    """Answer one token request, or raise OAuthError."""
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant_type not in GRANT_TYPES:
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported; use one of "
                         f"{', '.join(GRANT_TYPES)}")
    now = services.clock()
    client = authenticate_client(form, authorization, clients=services.clients, one_time=services.one_time,
                                 token_endpoint=services.settings.token_endpoint, now=now)
    if grant_type not in client.grant_types:
        raise OAuthError("unauthorized_client", f"Client {client.client_id!r} may not use the {grant_type} grant")
    if grant_type == "authorization_code":
        return _redeem_code(services, form, client.client_id, now)
    if grant_type == "refresh_token":
        return _refresh(services, form, client.client_id, now)
    return _client_credentials(services, form, client.client_id, client.region, client.allowed_scopes, now)


def _redeem_code(services: AuthServices, form: Mapping[str, str], client_id: str, now: datetime) -> dict[str, Any]:
    code = form.get("code")
    if not code:
        raise OAuthError("invalid_request", "code is required")
    record = services.one_time.take(CODE, code, now=now)
    if record is None:
        raise OAuthError("invalid_grant", "The authorization code is unknown, expired or already used")
    if record["client_id"] != client_id:
        raise OAuthError("invalid_grant", "The authorization code was issued to another client")
    if form.get("redirect_uri") != record["redirect_uri"]:
        raise OAuthError("invalid_grant", "redirect_uri must be the one the authorization request used")
    check_pkce(form.get("code_verifier"), record["code_challenge"])
    principal = principal_from_claim(record["principal"])
    scopes = Scopes.parse(record["scope"])
    body = _issue(services, principal, scopes, client_id, now, record)
    if any(scopes.has(s) for s in REFRESH_SCOPES):
        token, token_hash = new_refresh_token()
        services.refresh_tokens.add(RefreshGrant(
            token_hash=token_hash, family_id=new_family_id(), client_id=client_id, principal=record["principal"],
            scope=record["scope"], issued_at=now, expires_at=now + services.settings.refresh_token_ttl,
            subject=record["subject"], patient=record["patient"], encounter=record["encounter"],
            fhir_user=record["fhir_user"]))
        body["refresh_token"] = token
    if scopes.has("openid"):
        body["id_token"] = services.tokens.issue_id_token(
            client_id=client_id, subject=record["subject"], now=now, nonce=record.get("nonce"),
            fhir_user=record["fhir_user"] if scopes.has("fhirUser") else None)
    body["need_patient_banner"] = not record["ehr_launch"]
    return body


def _issue(services: AuthServices, principal: Principal, scopes: Scopes, client_id: str, now: datetime,
           context: Mapping[str, Any]) -> dict[str, Any]:
    fhir_user = context.get("fhir_user") if scopes.has("fhirUser") else None
    issued = services.tokens.issue(
        principal, scopes, client_id=client_id, now=now, subject=context["subject"], patient=context.get("patient"),
        encounter=context.get("encounter"), fhir_user=fhir_user, ttl=services.settings.access_token_ttl)
    body: dict[str, Any] = {"access_token": issued.token, "token_type": "Bearer",
                            "expires_in": issued.expires_in, "scope": str(scopes)}
    for name, value in (("patient", context.get("patient")), ("encounter", context.get("encounter")),
                        ("fhirUser", fhir_user)):
        if value:
            body[name] = value
    return body


def _refresh(services: AuthServices, form: Mapping[str, str], client_id: str, now: datetime) -> dict[str, Any]:
    token = form.get("refresh_token")
    if not token:
        raise OAuthError("invalid_request", "refresh_token is required")
    try:
        grant = services.refresh_tokens.use(hash_refresh_token(token), now=now)
    except RefreshTokenError as exc:
        raise OAuthError("invalid_grant", exc.message) from None
    if grant.client_id != client_id:
        # The token leaked to another client: spend the family rather than let either side keep it.
        services.refresh_tokens.revoke_family(grant.family_id, now=now)
        raise OAuthError("invalid_grant", "The refresh token was issued to another client")
    scope = grant.scope
    if form.get("scope"):
        try:
            narrowed = Scopes.parse(form["scope"])
        except ScopeError as exc:
            raise OAuthError("invalid_scope", str(exc)) from None
        if not narrowed.is_within(Scopes.parse(grant.scope)):
            raise OAuthError("invalid_scope", "A refresh may only narrow the scopes of the original grant")
        scope = str(narrowed)
    new_token, new_hash = new_refresh_token()
    services.refresh_tokens.add(grant.successor(new_hash, now=now, scope=scope))
    context = {"subject": grant.subject, "patient": grant.patient, "encounter": grant.encounter,
               "fhir_user": grant.fhir_user}
    body = _issue(services, principal_from_claim(grant.principal), Scopes.parse(scope), client_id, now, context)
    body["refresh_token"] = new_token
    return body


def _client_credentials(services: AuthServices, form: Mapping[str, str], client_id: str, region: str,
                        allowed: Scopes, now: datetime) -> dict[str, Any]:
    if not form.get("scope"):
        raise OAuthError("invalid_scope", "scope is required, e.g. system/Encounter.rs")
    try:
        requested = Scopes.parse(form["scope"])
    except ScopeError as exc:
        raise OAuthError("invalid_scope", str(exc)) from None
    granted = requested.grant(allowed, contexts=("system",))
    granted = Scopes(granted.resource)
    if not granted.resource:
        raise OAuthError("invalid_scope", f"None of the requested scopes may be granted to {client_id!r}; "
                         "a backend service gets system/ scopes within its registration")
    principal = RegionalSystem(client_id=client_id, region=region, scopes=tuple(granted.words()))
    issued = services.tokens.issue(principal, granted, client_id=client_id, now=now,
                                   subject=services.subject_for(principal, client_id),
                                   ttl=services.settings.system_token_ttl)
    return {"access_token": issued.token, "token_type": "Bearer", "expires_in": issued.expires_in,
            "scope": str(granted)}
