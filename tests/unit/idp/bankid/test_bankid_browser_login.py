"""The BankID login page's flow over the fake client and an in-memory store, with a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.idp.bankid import (
    FakeBankIdClient,
    InvalidParameters,
    NoSuchOrder,
    OrderScript,
    RequestTimeout,
    qr_data,
)
from adapters.idp.bankid.browser import ORDER, BankIdBrowserLogin, autostart_url
from adapters.idp.smart.login import CITIZEN, CLINICIAN, LoginFailed, LoginRequest
from adapters.idp.smart.one_time import LOGIN, InMemoryOneTimeStore

IP = "192.0.2.10"
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Flow:
    """A backend, its fake BankID, its store and clock, with one login under way."""

    def __init__(self) -> None:
        self.now = START
        self.fake = FakeBankIdClient()
        self.store = InMemoryOneTimeStore()
        self.backend = BankIdBrowserLogin(self.fake, page_url="https://hub.se/auth/bankid")
        self.backend.attach(self.store, lambda: self.now)

    def begin(self, login_id: str = "login-1") -> LoginRequest:
        request = LoginRequest(login_id, "https://hub.se/auth/callback", "app")
        assert self.backend.start(request, CITIZEN) == "https://hub.se/auth/bankid"
        self.store.put(LOGIN, login_id, {"purpose": CITIZEN, "memo": request.memo},
                       expires_at=self.now + timedelta(minutes=10))
        return request


@pytest.fixture
def flow() -> Flow:
    return Flow()


def test_qr__is_bankids_animated_code_for_the_seconds_since_the_order(flow: Flow) -> None:
    flow.begin()
    state = flow.backend.show("login-1", IP)
    order = flow.store.peek(ORDER, "login-1", now=flow.now)
    assert order is not None and state.qr_data == qr_data(order["qr_start_token"], order["qr_start_secret"], 0)
    flow.now += timedelta(seconds=3.7)
    assert flow.backend.qr("login-1") == qr_data(order["qr_start_token"], order["qr_start_secret"], 3)
    assert state.app_link == autostart_url(order["auto_start_token"])
    assert state.app_link.startswith("bankid:///?autostarttoken=") and state.app_link.endswith("&redirect=null")


def test_show__starts_one_order_per_login_and_then_collects_it(flow: Flow) -> None:
    flow.fake.script(OrderScript(pending=("outstandingTransaction", "userSign")))
    flow.begin()
    flow.backend.show("login-1", IP)
    assert flow.backend.show("login-1", IP).hint_code == "outstandingTransaction"
    assert flow.backend.show("login-1", IP).hint_code == "userSign"
    assert len(flow.fake.open_orders) == 1


def test_finish__redeems_the_completed_order_once_and_only_for_its_own_login(flow: Flow) -> None:
    flow.fake.script(OrderScript(pending=(), personal_number="191212121212"))
    request = flow.begin()
    flow.backend.show("login-1", IP)
    done = flow.backend.collect("login-1")
    key = done.next_url.split("bankid_result=")[1]
    with pytest.raises(LoginFailed):
        flow.backend.finish({"bankid_result": key}, {"bankid_login": "another-login"})
    flow.fake.script(OrderScript(pending=(), personal_number="191212121212"))
    flow.backend.retry("login-1", IP)
    key = flow.backend.collect("login-1").next_url.split("bankid_result=")[1]
    citizen = flow.backend.finish({"bankid_result": key}, request.memo)
    assert getattr(citizen, "person_id", None) == "191212121212"
    with pytest.raises(LoginFailed):
        flow.backend.finish({"bankid_result": key}, request.memo)


def test_start__refuses_a_clinicians_login(flow: Flow) -> None:
    with pytest.raises(LoginFailed, match="citizens only"):
        flow.backend.start(LoginRequest("x", "https://hub.se/auth/callback", "app"), CLINICIAN)


def test_show__a_refused_order_says_why_instead_of_failing_the_page(flow: Flow) -> None:
    flow.begin()
    flow.fake.fail_next_call(InvalidParameters("invalidParameters: Invalid endUserIp"))
    state = flow.backend.show("login-1", "not-an-address")
    assert state.status == "failed" and state.message.sv


def test_cancel__ends_the_order_at_bankid_and_returns_the_cancelled_callback(flow: Flow) -> None:
    flow.begin()
    flow.backend.show("login-1", IP)
    url = flow.backend.cancel("login-1")
    assert url == "https://hub.se/auth/callback?bankid_cancelled=1"
    assert len(flow.fake.cancelled) == 1 and flow.backend.qr("login-1") == ""
    assert flow.backend.cancel("no-such-login") is None


def test_collect__an_order_bankid_no_longer_knows_fails_with_a_message_and_can_be_retried(flow: Flow) -> None:
    flow.begin()
    flow.backend.show("login-1", IP)
    flow.fake.fail_next_call(NoSuchOrder("no such order"))
    state = flow.backend.collect("login-1")
    assert (state.status, state.hint_code) == ("failed", "cancelled") and state.message.sv
    assert flow.backend.collect("login-1").status == "failed"
    assert flow.backend.retry("login-1", IP).status == "pending"


def test_collect__a_passing_fault_keeps_the_order_pending(flow: Flow) -> None:
    flow.begin()
    flow.backend.show("login-1", IP)
    flow.fake.fail_next_call(RequestTimeout("no answer within 5 s"))
    state = flow.backend.collect("login-1")
    assert state.status == "pending" and state.qr_data.startswith("bankid.")
