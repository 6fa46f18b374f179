"""Read what a Subscription asks for, and refuse one the hub cannot honour, with where and why.

The hub delivers R4 rest-hook Subscriptions on Task, Encounter, Appointment and Communication.
`channel.payload` application/fhir+json means the full resource (PUT to
`endpoint/Type/id`); no payload means an empty POST to the endpoint. `channel.header` lines
are sent as given (e.g. `Authorization: Bearer …`). A subscriber that wants the body signed
instead puts an HMAC secret in the extension `SIGNATURE_SECRET_URL` (valueString, 16+
characters): each request then carries `X-Ingang-Signature: t=<unix time>, v1=<hex>` over
`<t>.<Idempotency-Key>.<body>`.
https://hl7.org/fhir/R4/subscription.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhir_api.outcomes import Unprocessable

# The outbox kinds of a Subscription's messages.
NOTIFY = "subscription-notification"
HANDSHAKE = "subscription-handshake"
SUBSCRIBABLE = frozenset({"Task", "Encounter", "Appointment", "Communication"})
SIGNATURE_SECRET_URL = "https://ingang.se/fhir/StructureDefinition/subscription-signature-secret"
FULL_PAYLOADS = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
# Statuses whose subscriptions collect notifications; `requested` ones wait for the handshake.
COLLECTING = ("requested", "active", "error")


@dataclass(frozen=True)
class SubscriptionSpec:
    """A Subscription's delivery terms, parsed once and checked."""

    id: str
    status: str
    res_type: str
    params: tuple[tuple[str, str], ...]
    endpoint: str
    full_payload: bool
    headers: tuple[tuple[str, str], ...]
    secret: str | None
    end: str | None


def _bad(message: str, where: str) -> Unprocessable:
    return Unprocessable(message, (where,), issue_code="business-rule")


def parse_subscription(resource: dict[str, Any]) -> SubscriptionSpec:
    """Parse a Subscription; raise Unprocessable naming the element the hub cannot honour."""
    criteria = resource.get("criteria")
    if not isinstance(criteria, str) or not criteria.strip():
        raise _bad("Subscription.criteria is required, e.g. Task?status=ready&owner=Organization/123",
                   "Subscription.criteria")
    type_part, _, query = criteria.strip().partition("?")
    if type_part not in SUBSCRIBABLE:
        raise _bad(f"Subscriptions on {type_part!r} are not offered; criteria must start with one of "
                   f"{', '.join(sorted(SUBSCRIBABLE))}", "Subscription.criteria")
    params = tuple(parse_qsl(query, keep_blank_values=True))
    for name, _value in params:
        if name.startswith("_") and name not in ("_id", "_tag", "_profile", "_security", "_lastUpdated"):
            raise _bad(f"Subscription.criteria cannot use {name!r}: only search parameters select resources",
                       "Subscription.criteria")
    channel = resource.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise _bad(f"Subscription.channel.type {channel.get('type')!r} is not offered; use rest-hook",
                   "Subscription.channel.type")
    endpoint = channel.get("endpoint")
    parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise _bad("Subscription.channel.endpoint must be an absolute http(s) URL", "Subscription.channel.endpoint")
    payload = channel.get("payload")
    if payload is not None and payload not in FULL_PAYLOADS:
        raise _bad(f"Subscription.channel.payload {payload!r} is not offered; use application/fhir+json "
                   "for the full resource, or leave it out for an empty notification", "Subscription.channel.payload")
    headers = []
    for i, line in enumerate(channel.get("header") or []):
        name, sep, value = str(line).partition(":")
        if not sep or not name.strip() or any(c in name for c in " \r\n") or "\n" in value or "\r" in value:
            raise _bad(f"Subscription.channel.header[{i}] must be 'Name: value'", f"Subscription.channel.header[{i}]")
        headers.append((name.strip(), value.strip()))
    secret = None
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == SIGNATURE_SECRET_URL:
            secret = ext.get("valueString")
            if not isinstance(secret, str) or len(secret) < 16:
                raise _bad("The signature secret extension needs a valueString of at least 16 characters",
                           "Subscription.extension")
    return SubscriptionSpec(
        id=str(resource.get("id", "")), status=str(resource.get("status", "")), res_type=type_part,
        params=params, endpoint=endpoint.rstrip("/") if isinstance(endpoint, str) else "",
        full_payload=payload is not None, headers=tuple(headers), secret=secret,
        end=resource.get("end") if isinstance(resource.get("end"), str) else None,
    )


def notification_key(subscription_id: str, res_type: str, res_id: str, version: int) -> str:
    """Return the idempotency key of one notification: the subscription and the resource version."""
    return f"Subscription/{subscription_id}/{res_type}/{res_id}/_history/{version}"


def handshake_key(subscription_id: str, version: int) -> str:
    """Return the idempotency key of the handshake for one version of a Subscription."""
    return f"Subscription/{subscription_id}/_history/{version}/handshake"
