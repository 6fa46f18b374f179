"""Check the login flow's rules — poll every two seconds, animate the QR code, retry a lost collect,
cancel what the citizen walks away from — on the fake, with a clock and sleep the test controls.

https://developers.bankid.com/api-references/auth--sign/collect
"""

from __future__ import annotations

import pytest

from adapters.idp.bankid import (
    BankIdLogin,
    FakeBankIdClient,
    InvalidPersonalNumber,
    LoginProgress,
    LoginTimedOut,
    Maintenance,
    OrderFailed,
    RequestTimeout,
    Requirement,
    qr_data,
)
from adapters.idp.bankid.messages import RFA1, RFA9, RFA13, RFA17A
from cases.principals import Citizen

IP = "192.0.2.10"
PERSON = "199001012385"


class Clock:
    """A clock that moves only when the flow sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flow(fake: FakeBankIdClient, clock: Clock, **options: object) -> BankIdLogin:
    return BankIdLogin(fake, clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


def test_run__polls_collect_every_two_seconds_until_complete() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(3, personal_number=PERSON, given_name="Anna", surname="Berg")

    citizen = flow(fake, clock).run(IP)

    assert citizen == Citizen(person_id=PERSON, given_name="Anna", family_name="Berg")
    assert clock.sleeps == [2.0, 2.0, 2.0]
    assert fake.calls == ["auth", "collect", "collect", "collect", "collect"]


def test_run__the_poll_interval_can_be_configured() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(2)

    flow(fake, clock, poll_interval=1.5).run(IP)

    assert clock.sleeps == [1.5, 1.5]


def test_run__reports_progress_with_the_message_and_a_fresh_qr_code() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(2)
    seen: list[LoginProgress] = []

    flow(fake, clock).run(IP, on_progress=seen.append)

    assert [(p.hint_code, p.message) for p in seen] == [("outstandingTransaction", RFA1), ("userSign", RFA9)]
    assert [p.qr_data.split(".")[2] for p in seen] == ["0", "2"]


def test_run__an_app_started_on_the_same_device_gets_the_same_device_wording() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(1)
    seen: list[LoginProgress] = []

    flow(fake, clock).run(IP, auto_started=True, on_progress=seen.append)

    assert seen[0].message == RFA13


def test_qr_data__counts_seconds_from_the_order_on_the_injected_clock() -> None:
    fake, clock = FakeBankIdClient(), Clock(start=50.0)
    login = flow(fake, clock)
    pending = login.start(IP)
    clock.now = 53.7

    assert login.qr_data(pending) == qr_data(pending.order.qr_start_token, pending.order.qr_start_secret, 3)


def test_start_and_poll__let_the_page_drive_the_flow_one_collect_at_a_time() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(1, personal_number=PERSON)
    login = flow(fake, clock)

    pending = login.start(IP)
    first = login.poll(pending)
    second = login.poll(pending)

    assert isinstance(first, LoginProgress) and first.order_ref == pending.order_ref
    assert isinstance(second, Citizen) and second.person_id == PERSON


def test_run__a_failed_order_is_not_cancelled_again() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.fail_after("startFailed", pending=1)

    with pytest.raises(OrderFailed) as failed:
        flow(fake, clock).run(IP, auto_started=True)

    assert failed.value.message == RFA17A
    assert "cancel" not in fake.calls


def test_run__gives_up_after_the_timeout_and_cancels_the_order() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(100)

    with pytest.raises(LoginTimedOut):
        flow(fake, clock, timeout=10.0).run(IP)

    assert len(fake.cancelled) == 1 and fake.open_orders == []
    assert len(clock.sleeps) == 5


def test_run__retries_a_collect_that_timed_out() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(1, personal_number=PERSON)
    login = flow(fake, clock, max_collect_errors=3)
    pending_progress: list[LoginProgress] = []

    def lose_three(_progress: LoginProgress) -> None:
        pending_progress.append(_progress)
        fake.fail_next_call(RequestTimeout(), count=3)

    citizen = login.run(IP, on_progress=lose_three)

    assert citizen.person_id == PERSON
    assert fake.calls.count("collect") == 5


def test_run__too_many_lost_collects_in_a_row_fail_the_login_and_cancel_the_order() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(1)

    def lose_four(_progress: LoginProgress) -> None:
        fake.fail_next_call(RequestTimeout(), count=4)

    with pytest.raises(RequestTimeout):
        flow(fake, clock, max_collect_errors=3).run(IP, on_progress=lose_four)

    assert len(fake.cancelled) == 1


def test_run__maintenance_is_not_retried() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(1)

    def go_down(_progress: LoginProgress) -> None:
        fake.fail_next_call(Maintenance())

    with pytest.raises(Maintenance):
        flow(fake, clock).run(IP, on_progress=go_down)

    assert len(fake.cancelled) == 1


def test_run__an_error_in_the_callers_code_still_cancels_the_order() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(3)

    def broken(_progress: LoginProgress) -> None:
        raise RuntimeError("the page went away")

    with pytest.raises(RuntimeError):
        flow(fake, clock).run(IP, on_progress=broken)

    assert len(fake.cancelled) == 1


def test_cancel__never_raises_when_bankid_cannot_be_reached() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    login = flow(fake, clock)
    pending = login.start(IP)
    fake.fail_next_call(Maintenance())

    login.cancel(pending)
    login.cancel(pending)

    assert fake.cancelled == [pending.order_ref]


def test_citizen__a_validator_that_raises_counts_as_a_refusal() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(0, personal_number=PERSON)

    def strict(number: str) -> bool:
        raise ValueError(f"not a personnummer: {number}")

    with pytest.raises(InvalidPersonalNumber):
        flow(fake, clock, check_personal_number=strict).run(IP)


def test_citizen__someone_other_than_the_person_asked_for_is_refused() -> None:
    fake, clock = FakeBankIdClient(), Clock()
    fake.complete_after(0, personal_number="198112289874")

    with pytest.raises(InvalidPersonalNumber):
        flow(fake, clock).run(IP, requirement=Requirement(personal_number=PERSON))
