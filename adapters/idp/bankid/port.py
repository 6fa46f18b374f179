"""Define the BankID port: what the hub asks of BankID, and the answers, as plain typed values.

Why: the login flow, the web pages and the tests depend on this small surface only; the real
client (HTTP with mutual TLS) and the in-memory fake both implement it, and one contract suite
holds them to the same behaviour. Values mirror the RP API v6.0 JSON, with Python names.
Personal numbers, names and signatures are kept out of `repr()` so that logging an answer does
not write patient data to a log (PDL).
https://developers.bankid.com/api-references/auth--sign/overview
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from adapters.idp.bankid.errors import ProtocolError

Status = Literal["pending", "failed", "complete"]


def qr_data(qr_start_token: str, qr_start_secret: str, seconds_since_order: float) -> str:
    """Return the animated QR code content for the given second of the order.

    BankID's QR codes change every second so that a code photographed and passed on goes stale:
    `bankid.{qrStartToken}.{t}.{qrAuthCode}`, where t is whole seconds since the order started and
    qrAuthCode is hex HMAC-SHA256 keyed with qrStartSecret over str(t). The secret never leaves
    the hub; only this string is shown.
    https://developers.bankid.com/how-to-guides/qr-code
    """
    if seconds_since_order < 0 or math.isnan(seconds_since_order):
        raise ValueError("seconds_since_order must be zero or more")
    t = str(int(seconds_since_order))
    code = hmac.new(qr_start_secret.encode("ascii"), t.encode("ascii"), hashlib.sha256).hexdigest()
    return f"bankid.{qr_start_token}.{t}.{code}"


@dataclass(frozen=True)
class Requirement:
    """Conditions the citizen's BankID must meet (the `requirement` object of auth and sign)."""

    personal_number: str | None = field(default=None, repr=False)
    pin_code: bool | None = None
    mrtd: bool | None = None
    card_reader: Literal["class1", "class2"] | None = None
    certificate_policies: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object BankID expects, leaving out what is not set."""
        out: dict[str, Any] = {}
        if self.personal_number is not None:
            out["personalNumber"] = self.personal_number
        if self.pin_code is not None:
            out["pinCode"] = self.pin_code
        if self.mrtd is not None:
            out["mrtd"] = self.mrtd
        if self.card_reader is not None:
            out["cardReader"] = self.card_reader
        if self.certificate_policies:
            out["certificatePolicies"] = list(self.certificate_policies)
        return out


@dataclass(frozen=True)
class OrderStart:
    """A started auth or sign order: its reference and the tokens that start the citizen's app."""

    order_ref: str
    auto_start_token: str = field(repr=False)
    qr_start_token: str = field(repr=False)
    qr_start_secret: str = field(repr=False)

    def qr_data(self, seconds_since_order: float) -> str:
        """Return this order's animated QR content for the given second."""
        return qr_data(self.qr_start_token, self.qr_start_secret, seconds_since_order)


@dataclass(frozen=True)
class User:
    """Who BankID identified."""

    personal_number: str = field(repr=False)
    name: str = field(default="", repr=False)
    given_name: str = field(default="", repr=False)
    surname: str = field(default="", repr=False)


@dataclass(frozen=True)
class Device:
    """The device the citizen used: its IP address as BankID saw it, and a unique hardware id."""

    ip_address: str = field(default="", repr=False)
    uhi: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CompletionData:
    """What a complete order proves: the user, the device, and the signed evidence (base64)."""

    user: User
    device: Device = field(default_factory=Device)
    bank_id_issue_date: str | None = None
    signature: str = field(default="", repr=False)
    ocsp_response: str = field(default="", repr=False)
    step_up_mrtd: bool | None = None
    risk: str | None = None


@dataclass(frozen=True)
class CollectResult:
    """One collect answer: pending (with a hintCode), failed (with a hintCode) or complete (with data)."""

    order_ref: str
    status: Status
    hint_code: str | None = None
    completion: CompletionData | None = None


class BankIdClient(Protocol):
    """The BankID RP API v6.0 as the hub uses it; the real client and the fake both implement it."""

    def auth(self, end_user_ip: str, *, requirement: Requirement | None = None,
             user_visible_data: str | None = None, user_non_visible_data: bytes | None = None,
             return_url: str | None = None) -> OrderStart:
        """Start an identification order for the citizen at end_user_ip."""
        ...

    def sign(self, end_user_ip: str, user_visible_data: str, *, requirement: Requirement | None = None,
             user_non_visible_data: bytes | None = None, return_url: str | None = None) -> OrderStart:
        """Start a signing order: the citizen signs user_visible_data (plain text shown in the app)."""
        ...

    def collect(self, order_ref: str) -> CollectResult:
        """Ask how the order is going; call about every two seconds until it is no longer pending."""
        ...

    def cancel(self, order_ref: str) -> None:
        """Cancel an order that is still running."""
        ...


def _text(data: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = data.get(key)
    if isinstance(value, str) and (value or not required):
        return value
    if value is None and not required:
        return ""
    raise ProtocolError(f"missing or invalid {key}")


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError(f"{what} is not a JSON object")
    return data


def parse_order_start(data: Any) -> OrderStart:
    """Read the answer of /auth or /sign, refusing one that lacks a field the flow needs."""
    body = _object(data, "order answer")
    return OrderStart(
        order_ref=_text(body, "orderRef"),
        auto_start_token=_text(body, "autoStartToken"),
        qr_start_token=_text(body, "qrStartToken"),
        qr_start_secret=_text(body, "qrStartSecret"),
    )


def parse_completion(data: Any) -> CompletionData:
    """Read completionData; unknown fields are ignored, as the API may add some."""
    body = _object(data, "completionData")
    user = _object(body.get("user"), "completionData.user")
    device = _object(body.get("device", {}), "completionData.device")
    step_up = body.get("stepUp")
    mrtd = step_up.get("mrtd") if isinstance(step_up, dict) else None
    return CompletionData(
        user=User(
            personal_number=_text(user, "personalNumber"),
            name=_text(user, "name", required=False),
            given_name=_text(user, "givenName", required=False),
            surname=_text(user, "surname", required=False),
        ),
        device=Device(ip_address=_text(device, "ipAddress", required=False), uhi=device.get("uhi")),
        bank_id_issue_date=body.get("bankIdIssueDate"),
        signature=_text(body, "signature", required=False),
        ocsp_response=_text(body, "ocspResponse", required=False),
        step_up_mrtd=mrtd if isinstance(mrtd, bool) else None,
        risk=body.get("risk") if isinstance(body.get("risk"), str) else None,
    )


def parse_collect(data: Any) -> CollectResult:
    """Read the answer of /collect; a complete order must carry completionData."""
    body = _object(data, "collect answer")
    status = body.get("status")
    if status not in ("pending", "failed", "complete"):
        raise ProtocolError(f"unknown collect status {status!r}")
    hint = body.get("hintCode")
    hint_code = hint if isinstance(hint, str) and hint else None
    completion = parse_completion(body.get("completionData")) if status == "complete" else None
    return CollectResult(order_ref=_text(body, "orderRef"), status=status, hint_code=hint_code,
                         completion=completion)
