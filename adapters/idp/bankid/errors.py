"""Name every way a BankID call can go wrong in the hub's own terms, never httpx's or the vendor's.

Why: callers (the login pages, the wiring) must be able to tell "try again later" from "the
RP certificate is wrong" from "the citizen cancelled" without knowing the HTTP client or the
BankID error table. Each error carries the message to show the citizen; its `str()` is for
operators and never holds a personal number, so it may be logged.
https://developers.bankid.com/api-references/auth--sign/overview  (section "Errors")
"""

from __future__ import annotations

from typing import ClassVar

from adapters.idp.bankid.messages import (
    RFA4,
    RFA5,
    RFA6,
    RFA8,
    RFA22,
    UserMessage,
    failed_message,
)


class BankIdError(Exception):
    """Anything that stopped a BankID call or order; `user_message` is what to tell the citizen."""

    user_message: ClassVar[UserMessage] = RFA22
    summary: ClassVar[str] = "BankID call failed"

    def __init__(self, details: str = "", *, status: int | None = None) -> None:
        self.details = details
        self.status = status
        super().__init__(f"{self.summary}: {details}" if details else self.summary)

    @property
    def message(self) -> UserMessage:
        """Return what to tell the citizen about this error."""
        return self.user_message


class BankIdConfigurationError(BankIdError):
    """The hub's BankID settings cannot work: missing or unreadable certificate files, a bad URL."""

    user_message = RFA5
    summary = "BankID is not configured correctly"


class InvalidParameters(BankIdError):
    """BankID refused the request's parameters (400 invalidParameters)."""

    summary = "BankID refused the parameters"


class NoSuchOrder(InvalidParameters):
    """BankID does not know the orderRef: it expired, was cancelled, or its final answer was collected."""

    summary = "BankID does not know the order"


class AlreadyInProgress(BankIdError):
    """An order for the same person is already running; BankID cancelled it and refused the new one."""

    user_message = RFA4
    summary = "An order for this person is already in progress"


class Unauthorized(BankIdError):
    """BankID does not accept the hub as a relying party (401/403, or the RP certificate was refused)."""

    user_message = RFA5
    summary = "BankID did not accept the relying party certificate"


class ClientCertificateRefused(Unauthorized):
    """The TLS handshake failed on our side of the mutual TLS: no, an expired or a foreign client certificate."""

    summary = "BankID refused the TLS client certificate"


class ServerNotTrusted(BankIdError):
    """The BankID server's certificate did not verify against the configured BankID CA."""

    user_message = RFA5
    summary = "The BankID server certificate is not trusted"


class NotFound(BankIdError):
    """No such endpoint (404): the base URL or API version in the settings is wrong."""

    user_message = RFA5
    summary = "BankID endpoint not found"


class ProtocolError(BankIdError):
    """BankID answered something the published API does not allow (bad JSON, 405, 415, odd status)."""

    user_message = RFA5
    summary = "BankID answered outside the published API"


class Unavailable(BankIdError):
    """BankID could not be reached or could not answer now; worth trying again later."""

    user_message = RFA5
    summary = "BankID is unavailable"


class RequestTimeout(Unavailable):
    """No answer within the configured timeout, or BankID's own 408 requestTimeout."""

    summary = "BankID did not answer in time"


class InternalError(Unavailable):
    """BankID reported an internal error (500 internalError)."""

    summary = "BankID had an internal error"


class Maintenance(Unavailable):
    """BankID is down for maintenance (503 maintenance)."""

    summary = "BankID is under maintenance"


class OrderFailed(BankIdError):
    """The order ended without an identification or signature; `hint_code` says why (a failed hintCode)."""

    summary = "The BankID order failed"

    def __init__(self, hint_code: str | None, *, auto_started: bool = False) -> None:
        self.hint_code = hint_code
        self._message = failed_message(hint_code, auto_started=auto_started)
        super().__init__(hint_code or "no hintCode")

    @property
    def message(self) -> UserMessage:
        """Return the message BankID recommends for this hintCode."""
        return self._message


class LoginTimedOut(BankIdError):
    """The hub gave up waiting for the order and cancelled it."""

    user_message = RFA8
    summary = "The BankID login took too long and was cancelled"


class LoginAborted(BankIdError):
    """The citizen (or the page on their behalf) stopped the login; the order was cancelled."""

    user_message = RFA6
    summary = "The BankID login was cancelled by the citizen"


class InvalidPersonalNumber(BankIdError):
    """BankID identified someone whose personal number the hub does not accept."""

    summary = "BankID returned a personal number the hub does not accept"


# errorCode values from the published error table; the HTTP status is the fallback.
_BY_ERROR_CODE: dict[str, type[BankIdError]] = {
    "invalidParameters": InvalidParameters,
    "alreadyInProgress": AlreadyInProgress,
    "unauthorized": Unauthorized,
    "notFound": NotFound,
    "methodNotAllowed": ProtocolError,
    "requestTimeout": RequestTimeout,
    "unsupportedMediaType": ProtocolError,
    "internalError": InternalError,
    "maintenance": Maintenance,
}
_BY_STATUS: dict[int, type[BankIdError]] = {
    400: InvalidParameters,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    405: ProtocolError,
    408: RequestTimeout,
    415: ProtocolError,
    500: InternalError,
    503: Maintenance,
}


def error_for(status: int, error_code: str | None, details: str = "") -> BankIdError:
    """Translate a BankID error answer (HTTP status, errorCode, details) into the hub's error."""
    kind = _BY_ERROR_CODE.get(error_code or "") or _BY_STATUS.get(status)
    if kind is None:
        kind = Unavailable if status >= 500 else ProtocolError
    text = f"{error_code}: {details}" if error_code else (details or f"HTTP {status}")
    return kind(text, status=status)
