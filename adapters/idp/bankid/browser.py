"""Log a citizen in with BankID directly in the browser, as a login backend of the SMART authorize flow.

Why: a region that runs BankID itself has no OpenID broker in between, so the hub's own login
page must do what the broker would: start an order for the browser's address, show the animated
QR code and the "open BankID on this device" link, poll collect, say every hintCode in words the
citizen understands, and hand the citizen to /auth/callback when the order completes. The order
(with the QR secret) lives server-side in the one-time store, keyed by the pending login's id,
so any replica can serve the page and the QR secret never reaches the browser; a completed
order leaves the citizen under a fresh single-use key that only the callback can redeem.
https://developers.bankid.com/api-references/auth--sign/collect
https://developers.bankid.com/how-to-guides/qr-code
https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from adapters.idp.bankid.errors import BankIdError, InvalidPersonalNumber, NoSuchOrder
from adapters.idp.bankid.login import BankIdLogin
from adapters.idp.bankid.messages import UserMessage, failed_message, pending_message
from adapters.idp.bankid.port import BankIdClient, OrderStart, qr_data
from adapters.idp.smart.login import CITIZEN, LoginFailed, LoginRequest
from adapters.idp.smart.one_time import LOGIN, OneTimeStore
from adapters.idp.tokens.claims import principal_from_claim, principal_to_claim
from cases.principals import Principal

ORDER = "bankid-order"  # the order a pending login's page runs, by login id
RESULT = "bankid-result"  # the citizen a completed order gave, until the callback takes it
RESULT_PARAM = "bankid_result"
CANCELLED_PARAM = "bankid_cancelled"
RESULT_TTL = timedelta(minutes=2)
# What the page says when the login itself is gone (expired, or already finished in another tab).
LOGIN_GONE = UserMessage("INGANG-LOGIN-GONE", "Inloggningen har tagit för lång tid. Gå tillbaka till tjänsten "
                         "och börja om.", "The login took too long. Go back to the service and start again.")
LOGGED_IN = UserMessage("INGANG-LOGGED-IN", "Du är inloggad. Du skickas vidare till tjänsten.",
                        "You are logged in. Taking you back to the service.")
Status = Literal["pending", "complete", "failed", "gone"]


def autostart_url(auto_start_token: str) -> str:
    """Return the link that opens the BankID app on this device; it returns to no URL (`redirect=null`)."""
    return f"bankid:///?{urlencode({'autostarttoken': auto_start_token, 'redirect': 'null'})}"


@dataclass(frozen=True)
class PageState:
    """What the login page shows now: status, the citizen's message, the QR code and the app link."""

    status: Status
    message: UserMessage
    hint_code: str | None = None
    qr_data: str = ""
    app_link: str = ""
    next_url: str = ""  # the callback to go to, when complete


def utc_now() -> datetime:
    """Return the current time, timezone-aware."""
    return datetime.now(UTC)


class BankIdBrowserLogin:
    """The BankID RP API as a `LoginBackend` for citizens, driven by the hub's login page.

    The page calls `show` (start or resume the order), `qr` every second, `collect` every two
    seconds (or `show` again on each reload when scripts are off), `retry` and `cancel`; the
    authorization server calls `start` and `finish`. `attach` gives it the authorization server's
    one-time store and clock, which exist only once the services are built.
    """

    dev_only = False

    def __init__(self, client: BankIdClient, *, page_url: str, check: BankIdLogin | None = None) -> None:
        self.client = client
        self.page_url = page_url
        # The personnummer check of a complete order is BankIdLogin's; polling is the page's.
        self._check = check or BankIdLogin(client)
        self._store: OneTimeStore | None = None
        self._clock: Callable[[], datetime] = utc_now

    def attach(self, store: OneTimeStore, clock: Callable[[], datetime]) -> None:
        """Use the authorization server's one-time store and clock."""
        self._store, self._clock = store, clock

    @property
    def store(self) -> OneTimeStore:
        """Return the one-time store; refuse to run before `attach`."""
        if self._store is None:
            raise RuntimeError("BankIdBrowserLogin.attach() must be called before the login page is served")
        return self._store

    # The authorization server's side (LoginBackend) -------------------------------------------------

    def start(self, request: LoginRequest, purpose: str) -> str:
        """Send the browser to the BankID page; the order starts when the page knows the citizen's address."""
        if purpose != CITIZEN:
            raise LoginFailed("BankID logs in citizens only; clinicians log in with SITHS")
        request.memo["bankid_login"] = request.login_id
        request.memo["bankid_callback"] = request.callback_url
        return self.page_url

    def finish(self, params: Mapping[str, str], memo: Mapping[str, Any]) -> Principal:
        """Redeem the completed order's key for the citizen, once, and only for the login that ran it."""
        if params.get(CANCELLED_PARAM):
            raise LoginFailed("The citizen cancelled the BankID login")
        key = params.get(RESULT_PARAM, "")
        result = self.store.take(RESULT, key, now=self._clock()) if key else None
        if result is None or result.get("login") != memo.get("bankid_login"):
            raise LoginFailed("The BankID login is unknown, already used or expired; log in again")
        return principal_from_claim(result["principal"])

    # The login page's side ---------------------------------------------------------------------------

    def login_open(self, login_id: str | None) -> bool:
        """Tell whether a citizen login with this id is under way."""
        pending = self.store.peek(LOGIN, login_id, now=self._clock()) if login_id else None
        return pending is not None and pending.get("purpose") == CITIZEN

    def show(self, login_id: str | None, end_user_ip: str, *, same_device: bool = False) -> PageState:
        """Start the login's order if it has none, else collect once; return what to show."""
        if not login_id or not self.login_open(login_id):
            return PageState("gone", LOGIN_GONE)
        order = self.store.peek(ORDER, login_id, now=self._clock())
        if order is None:
            return self._start_order(login_id, end_user_ip)
        return self.collect(login_id, same_device=same_device)

    def retry(self, login_id: str | None, end_user_ip: str) -> PageState:
        """Cancel the login's order, if any, and start a new one (after a failed or expired order)."""
        if not login_id or not self.login_open(login_id):
            return PageState("gone", LOGIN_GONE)
        self._end_order(login_id)
        return self._start_order(login_id, end_user_ip)

    def qr(self, login_id: str | None) -> str:
        """Return the QR content for this second, or "" when there is no running order."""
        order = self.store.peek(ORDER, login_id, now=self._clock()) if login_id else None
        if order is None or order.get("failed") is not None:
            return ""
        return self._qr(order)

    def collect(self, login_id: str | None, *, same_device: bool = False) -> PageState:
        """Ask BankID once how the order stands; on completion, leave the citizen for the callback."""
        now = self._clock()
        order = self.store.peek(ORDER, login_id, now=now) if login_id else None
        if login_id is None or order is None or not self.login_open(login_id):
            return PageState("gone", LOGIN_GONE)
        if order.get("failed") is not None:
            return self._failed(order["failed"], same_device)
        try:
            result = self.client.collect(order["order_ref"])
        except NoSuchOrder:
            # BankID ended the order itself, e.g. because another was started for the same person.
            self.store.take(ORDER, login_id, now=now)
            self.store.put(ORDER, login_id, {**order, "failed": "cancelled"}, expires_at=self._expiry())
            return self._failed("cancelled", same_device)
        except BankIdError as exc:
            # A passing fault (timeout, maintenance) keeps the order: the page asks again.
            return PageState("pending", exc.user_message, None, self._qr(order),
                             autostart_url(order["auto_start_token"]))
        if result.status == "pending":
            return self._pending(login_id, result.hint_code, same_device, order)
        self.store.take(ORDER, login_id, now=now)
        if result.status == "failed" or result.completion is None:
            hint = result.hint_code or "unknown"
            self.store.put(ORDER, login_id, {**order, "failed": hint}, expires_at=self._expiry())
            return self._failed(hint, same_device)
        try:
            citizen = self._check.citizen(result.completion)
        except InvalidPersonalNumber as exc:
            self.store.put(ORDER, login_id, {**order, "failed": "invalidPersonalNumber"},
                           expires_at=self._expiry())
            return PageState("failed", exc.user_message, "invalidPersonalNumber")
        key = secrets.token_urlsafe(32)
        self.store.put(RESULT, key, {"login": login_id, "principal": principal_to_claim(citizen)},
                       expires_at=now + RESULT_TTL)
        return PageState("complete", LOGGED_IN, None,
                         next_url=f"{self._callback(login_id)}?{urlencode({RESULT_PARAM: key})}")

    def cancel(self, login_id: str | None) -> str | None:
        """Cancel the login's order at BankID; return the callback URL that tells the app, or None if gone."""
        if not login_id or not self.login_open(login_id):
            return None
        callback = self._callback(login_id)
        self._end_order(login_id)
        return f"{callback}?{urlencode({CANCELLED_PARAM: '1'})}"

    # Helpers -----------------------------------------------------------------------------------------

    def _callback(self, login_id: str) -> str:
        # Kept with the login, not in this process: another replica may have started it.
        pending = self.store.peek(LOGIN, login_id, now=self._clock()) or {}
        return str(pending.get("memo", {}).get("bankid_callback", ""))

    def _expiry(self) -> datetime:
        # The order lives as long as BankID's own orders do, well within the login's lifetime.
        return self._clock() + timedelta(minutes=5)

    def _start_order(self, login_id: str, end_user_ip: str) -> PageState:
        try:
            order = self.client.auth(end_user_ip)
        except BankIdError as exc:
            # No order to keep: the page says why and offers to try again.
            return PageState("failed", exc.user_message, None)
        self.store.put(ORDER, login_id, _order_json(order, self._clock()), expires_at=self._expiry())
        return self._pending(login_id, None, False)

    def _end_order(self, login_id: str) -> None:
        old = self.store.take(ORDER, login_id, now=self._clock())
        if old is not None and old.get("failed") is None:
            # The order ends at BankID by itself; failing to cancel must not stop the citizen.
            with contextlib.suppress(BankIdError):
                self.client.cancel(old["order_ref"])

    def _qr(self, order: Mapping[str, Any]) -> str:
        started = datetime.fromisoformat(order["started_at"])
        seconds = max(0.0, (self._clock() - started).total_seconds())
        return qr_data(order["qr_start_token"], order["qr_start_secret"], seconds)

    def _pending(self, login_id: str, hint: str | None, same_device: bool,
                 order: Mapping[str, Any] | None = None) -> PageState:
        order = order or self.store.peek(ORDER, login_id, now=self._clock()) or {}
        message = pending_message(hint, auto_started=same_device)
        return PageState("pending", message, hint, self._qr(order) if order else "",
                         autostart_url(order.get("auto_start_token", "")))

    @staticmethod
    def _failed(hint: str, same_device: bool) -> PageState:
        return PageState("failed", failed_message(hint, auto_started=same_device), hint)


def _order_json(order: OrderStart, now: datetime) -> dict[str, Any]:
    # The QR code's seconds count from when the order answer arrived (BankID's QR guide).
    return {"order_ref": order.order_ref, "auto_start_token": order.auto_start_token,
            "qr_start_token": order.qr_start_token, "qr_start_secret": order.qr_start_secret,
            "started_at": now.isoformat()}
