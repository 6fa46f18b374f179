"""Stand in for BankID in memory, scripted per test: complete after N collects, or fail with a hintCode.

Why: every test above the adapter (login pages, access rules, the whole hub in its embedded
default) needs BankID answers without certificates, a network or a phone. The fake follows the
same rules as the service — endUserIp is required, a second order for the same personal number
is refused and cancels the first, a final answer is given once — and the contract suite runs
against it and against the real client alike, so tests that pass on the fake mean something.
https://developers.bankid.com/api-references/auth--sign/collect
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field

from adapters.idp.bankid.errors import (
    AlreadyInProgress,
    BankIdError,
    ClientCertificateRefused,
    InvalidParameters,
    NoSuchOrder,
)
from adapters.idp.bankid.port import (
    CollectResult,
    CompletionData,
    Device,
    OrderStart,
    Requirement,
    User,
)

# A personal number that passes the date and Luhn checks (a published test number, not a person).
DEFAULT_PERSONAL_NUMBER = "198112289874"
DEFAULT_GIVEN_NAME = "Tolvan"
DEFAULT_SURNAME = "Tolvansson"


@dataclass(frozen=True)
class OrderScript:
    """How the next order behaves: the hintCodes of its pending collects, then its outcome.

    outcome is "complete" or a failed hintCode (e.g. "userCancel"); personal_number defaults to
    the one the order required, else DEFAULT_PERSONAL_NUMBER.
    """

    pending: tuple[str, ...] = ("outstandingTransaction", "userSign")
    outcome: str = "complete"
    personal_number: str | None = field(default=None, repr=False)
    given_name: str = DEFAULT_GIVEN_NAME
    surname: str = DEFAULT_SURNAME

    @staticmethod
    def hints(pending: int) -> tuple[str, ...]:
        """Return the hintCodes a citizen's order typically shows over `pending` collects."""
        return ("outstandingTransaction", *(["userSign"] * (pending - 1)))[:pending] if pending > 0 else ()


@dataclass
class _Order:
    ref: str
    end_user_ip: str
    requirement: Requirement
    script: OrderScript
    collects: int = 0
    forced_hint: str | None = None


class FakeBankIdClient:
    """The BankID port in memory; thread-safe, so a test hub may call it from a thread pool."""

    def __init__(self, *, refuse_certificate: bool = False) -> None:
        """Make an empty fake; refuse_certificate makes every call fail as a refused RP certificate does."""
        self.refuse_certificate = refuse_certificate
        self.calls: list[str] = []
        self.cancelled: list[str] = []
        self._lock = threading.Lock()
        self._orders: dict[str, _Order] = {}
        self._scripts: deque[OrderScript] = deque()
        self._faults: deque[BankIdError] = deque()

    # Scripting -------------------------------------------------------------------------------

    def script(self, script: OrderScript) -> None:
        """Make the next order (auth or sign) behave as script says; scripts queue up in order."""
        with self._lock:
            self._scripts.append(script)

    def complete_after(self, pending: int = 2, *, personal_number: str | None = None,
                       given_name: str = DEFAULT_GIVEN_NAME, surname: str = DEFAULT_SURNAME) -> None:
        """Make the next order answer pending `pending` times, then complete for this person."""
        self.script(OrderScript(OrderScript.hints(pending), "complete", personal_number, given_name, surname))

    def fail_after(self, hint_code: str, pending: int = 1) -> None:
        """Make the next order answer pending `pending` times, then fail with hint_code."""
        self.script(OrderScript(OrderScript.hints(pending), hint_code))

    def fail_next_call(self, error: BankIdError, *, count: int = 1) -> None:
        """Make the next `count` calls (of any kind) raise error, e.g. Maintenance() or RequestTimeout()."""
        with self._lock:
            self._faults.extend([error] * count)

    @property
    def open_orders(self) -> list[str]:
        """Return the orderRefs that are still running."""
        with self._lock:
            return sorted(self._orders)

    # The port --------------------------------------------------------------------------------

    def auth(self, end_user_ip: str, *, requirement: Requirement | None = None,
             user_visible_data: str | None = None, user_non_visible_data: bytes | None = None,
             return_url: str | None = None) -> OrderStart:
        """Start an identification order."""
        return self._start("auth", end_user_ip, requirement or Requirement())

    def sign(self, end_user_ip: str, user_visible_data: str, *, requirement: Requirement | None = None,
             user_non_visible_data: bytes | None = None, return_url: str | None = None) -> OrderStart:
        """Start a signing order; like BankID, refuse one without text to sign."""
        return self._start("sign", end_user_ip, requirement or Requirement(), to_sign=user_visible_data)

    def collect(self, order_ref: str) -> CollectResult:
        """Answer as the scripted order would at this collect."""
        with self._lock:
            self._enter("collect")
            order = self._orders.get(order_ref)
            if order is None:
                raise NoSuchOrder("No such order")
            order.collects += 1
            if order.forced_hint is not None:
                del self._orders[order_ref]
                return CollectResult(order_ref, "failed", order.forced_hint)
            script = order.script
            if order.collects <= len(script.pending):
                return CollectResult(order_ref, "pending", script.pending[order.collects - 1])
            # The final answer is given once; afterwards the order is unknown, as with the service.
            del self._orders[order_ref]
            if script.outcome != "complete":
                return CollectResult(order_ref, "failed", script.outcome)
            return CollectResult(order_ref, "complete", completion=self._completion(order))

    def cancel(self, order_ref: str) -> None:
        """Cancel a running order; an unknown one is NoSuchOrder, as with the service."""
        with self._lock:
            self._enter("cancel")
            if self._orders.pop(order_ref, None) is None:
                raise NoSuchOrder("No such order")
            self.cancelled.append(order_ref)

    # Inside ----------------------------------------------------------------------------------

    def _enter(self, call: str) -> None:
        """Record the call and raise what a misconfigured or misbehaving service would."""
        self.calls.append(call)
        if self.refuse_certificate:
            raise ClientCertificateRefused("the fake was told to refuse the RP certificate")
        if self._faults:
            raise self._faults.popleft()

    def _start(self, kind: str, end_user_ip: str, requirement: Requirement, *,
               to_sign: str | None = None) -> OrderStart:
        with self._lock:
            self._enter(kind)
            if kind == "sign" and not to_sign:
                raise InvalidParameters("Missing userVisibleData")
            if not end_user_ip:
                raise InvalidParameters("Missing endUserIp")
            try:
                ipaddress.ip_address(end_user_ip)
            except ValueError as exc:
                raise InvalidParameters("Invalid endUserIp") from exc
            pnr = requirement.personal_number
            if pnr is not None and not (len(pnr) == 12 and pnr.isdigit()):
                raise InvalidParameters("Invalid personalNumber")
            if pnr is not None:
                for other in self._orders.values():
                    if other.requirement.personal_number == pnr and other.forced_hint is None:
                        # BankID refuses the new order and cancels the running one (hintCode cancelled).
                        other.forced_hint = "cancelled"
                        raise AlreadyInProgress("Order already in progress for pno")
            script = self._scripts.popleft() if self._scripts else OrderScript()
            ref = str(uuid.uuid4())
            self._orders[ref] = _Order(ref, end_user_ip, requirement, script)
            return OrderStart(ref, str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))

    @staticmethod
    def _completion(order: _Order) -> CompletionData:
        script = order.script
        pnr = script.personal_number or order.requirement.personal_number or DEFAULT_PERSONAL_NUMBER
        signed = f"<bankIdSignedData><orderRef>{order.ref}</orderRef></bankIdSignedData>"
        return CompletionData(
            user=User(pnr, f"{script.given_name} {script.surname}", script.given_name, script.surname),
            device=Device(order.end_user_ip, secrets.token_urlsafe(16)),
            bank_id_issue_date="2023-05-04",
            signature=base64.b64encode(signed.encode()).decode(),
            ocsp_response=base64.b64encode(secrets.token_bytes(64)).decode(),
            step_up_mrtd=True if order.requirement.mrtd else None,
        )
