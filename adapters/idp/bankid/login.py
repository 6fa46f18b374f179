"""Log a citizen in with BankID: start an order, poll collect, and turn the result into a Citizen.

Why: the RP API gives building blocks, and the guidelines say how to use them — collect about
every two seconds, show the recommended message for each hintCode, animate the QR code every
second, cancel an order the citizen walks away from. Writing that once here keeps the web pages
thin and lets the rules be tested without a browser, a phone or real time (clock and sleep are
injected). The web layer can drive it step by step (`start`, `poll`, `qr_data`, `cancel`) from
the page's own polling, or run the whole loop with `run`. A PendingLogin holds the QR secret:
keep it on the server, show the citizen only `qr_data`.
https://developers.bankid.com/api-references/auth--sign/collect
https://developers.bankid.com/how-to-guides/qr-code
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from adapters.idp.bankid.errors import (
    BankIdError,
    InvalidPersonalNumber,
    LoginAborted,
    LoginTimedOut,
    Maintenance,
    NoSuchOrder,
    OrderFailed,
    ProtocolError,
    Unavailable,
)
from adapters.idp.bankid.messages import UserMessage, pending_message
from adapters.idp.bankid.personal_number import (
    PersonalNumberCheck,
    is_coordination_number,
    is_valid_personal_number,
)
from adapters.idp.bankid.port import BankIdClient, CompletionData, OrderStart, Requirement
from cases.principals import Citizen

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 2.0
# BankID ends orders itself (expiredTransaction); this only stops a loop whose order never ends.
DEFAULT_TIMEOUT = 180.0


@dataclass(frozen=True)
class PendingLogin:
    """A login under way: the order, when it started (on the login's clock), and how the app opens."""

    order: OrderStart
    started_at: float
    auto_started: bool = False
    requirement: Requirement | None = None

    @property
    def order_ref(self) -> str:
        """Return BankID's reference for the order."""
        return self.order.order_ref


@dataclass(frozen=True)
class LoginProgress:
    """Where a pending login stands: the hintCode, what to tell the citizen, and the current QR code."""

    order_ref: str
    hint_code: str | None
    message: UserMessage
    qr_data: str


class BankIdLogin:
    """The BankID login flow over any BankIdClient (the real one or the fake)."""

    def __init__(self, client: BankIdClient, *, poll_interval: float = DEFAULT_POLL_INTERVAL,
                 timeout: float = DEFAULT_TIMEOUT, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 check_personal_number: PersonalNumberCheck = is_valid_personal_number,
                 max_collect_errors: int = 3) -> None:
        """Configure the flow; check_personal_number is the hook for the hub's personnummer validator."""
        self.client = client
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.max_collect_errors = max_collect_errors
        self._clock = clock
        self._sleep = sleep
        self._check = check_personal_number

    def start(self, end_user_ip: str, *, requirement: Requirement | None = None,
              auto_started: bool = False) -> PendingLogin:
        """Start an auth order for the citizen at end_user_ip (the address their browser came from).

        auto_started says the page opens the app on the same device with the autoStartToken
        rather than showing a QR code; it changes some of the recommended messages.
        """
        order = self.client.auth(end_user_ip, requirement=requirement)
        # The QR code's seconds count from when the order answer arrived.
        return PendingLogin(order, self._clock(), auto_started, requirement)

    def qr_data(self, login: PendingLogin) -> str:
        """Return the QR content for now; the page should ask for a new one every second."""
        return login.order.qr_data(max(0.0, self._clock() - login.started_at))

    def poll(self, login: PendingLogin) -> Citizen | LoginProgress:
        """Collect once: a Citizen when complete, progress when pending; OrderFailed when it failed."""
        result = self.client.collect(login.order_ref)
        if result.status == "pending":
            message = pending_message(result.hint_code, auto_started=login.auto_started)
            return LoginProgress(login.order_ref, result.hint_code, message, self.qr_data(login))
        if result.status == "failed":
            raise OrderFailed(result.hint_code, auto_started=login.auto_started)
        if result.completion is None:
            raise ProtocolError("a complete order without completionData")
        return self.citizen(result.completion, login.requirement)

    def citizen(self, completion: CompletionData, requirement: Requirement | None = None) -> Citizen:
        """Turn a complete order into the hub's Citizen, refusing a personal number that fails the check."""
        number = completion.user.personal_number
        try:
            accepted = bool(self._check(number))
        except ValueError:
            # A validator that raises on a bad number is as good as one that returns False.
            accepted = False
        if not accepted:
            raise InvalidPersonalNumber("the number failed the personal number check")
        if requirement is not None and requirement.personal_number not in (None, number):
            raise InvalidPersonalNumber("BankID identified someone other than the person asked for")
        return Citizen(
            person_id=number,
            given_name=completion.user.given_name,
            family_name=completion.user.surname,
            coordination_number=is_coordination_number(number),
        )

    def cancel(self, login: PendingLogin) -> None:
        """Cancel the order, quietly if it has already ended; never raises a BankIdError."""
        try:
            self.client.cancel(login.order_ref)
        except NoSuchOrder:
            pass
        except BankIdError as exc:
            # The order will expire at BankID by itself; failing to cancel must not hide why we stopped.
            log.warning("could not cancel BankID order %s: %s", login.order_ref, exc)

    def run(self, end_user_ip: str, *, requirement: Requirement | None = None, auto_started: bool = False,
            on_progress: Callable[[LoginProgress], None] | None = None,
            should_abort: Callable[[], bool] | None = None) -> Citizen:
        """Run the whole login: start, poll every poll_interval seconds, return the Citizen.

        Raises OrderFailed (with the citizen's message) when BankID ends the order, LoginAborted
        when should_abort() turns true, LoginTimedOut after `timeout` seconds; in those two cases,
        and on any other error, the order is cancelled at BankID first. A collect that times out
        or meets a passing fault is retried up to max_collect_errors times in a row.
        """
        login = self.start(end_user_ip, requirement=requirement, auto_started=auto_started)
        try:
            return self._wait(login, on_progress, should_abort)
        except (OrderFailed, InvalidPersonalNumber, NoSuchOrder):
            raise  # the order has already ended at BankID: nothing to cancel
        except BaseException:
            self.cancel(login)
            raise

    def _wait(self, login: PendingLogin, on_progress: Callable[[LoginProgress], None] | None,
              should_abort: Callable[[], bool] | None) -> Citizen:
        errors_in_a_row = 0
        while True:
            if should_abort is not None and should_abort():
                raise LoginAborted()
            if self._clock() - login.started_at >= self.timeout:
                raise LoginTimedOut(f"no answer within {self.timeout} s")
            try:
                outcome = self.poll(login)
            except Unavailable as exc:
                # The order lives on at BankID; one lost collect is no reason to fail the login.
                errors_in_a_row += 1
                if isinstance(exc, Maintenance) or errors_in_a_row > self.max_collect_errors:
                    raise
                log.info("BankID collect failed (%s), trying again", exc)
            else:
                errors_in_a_row = 0
                if isinstance(outcome, Citizen):
                    return outcome
                if on_progress is not None:
                    on_progress(outcome)
            self._sleep(self.poll_interval)
