"""Check the fake's scripting verbs, which other packages' tests rely on to stand in for BankID."""

from __future__ import annotations

import pytest

from adapters.idp.bankid import FakeBankIdClient, Maintenance, OrderScript, Requirement
from adapters.idp.bankid.fake import DEFAULT_PERSONAL_NUMBER

IP = "192.0.2.10"


def test_fake__an_unscripted_order_completes_after_two_pending_collects_for_a_test_person() -> None:
    fake = FakeBankIdClient()
    order = fake.auth(IP)

    statuses = [fake.collect(order.order_ref).status for _ in range(3)]
    assert statuses == ["pending", "pending", "complete"]


def test_fake__scripts_apply_to_orders_in_the_order_they_were_given() -> None:
    fake = FakeBankIdClient()
    fake.fail_after("userCancel", pending=0)
    fake.complete_after(0, personal_number="198112289874")

    first, second = fake.auth(IP), fake.auth(IP)

    assert fake.collect(first.order_ref).hint_code == "userCancel"
    completion = fake.collect(second.order_ref).completion
    assert completion is not None and completion.user.personal_number == "198112289874"


def test_fake__the_person_required_is_the_person_identified_unless_scripted_otherwise() -> None:
    fake = FakeBankIdClient()
    fake.script(OrderScript(pending=()))
    order = fake.auth(IP, requirement=Requirement(personal_number="199001012385", mrtd=True))

    completion = fake.collect(order.order_ref).completion

    assert completion is not None and completion.user.personal_number == "199001012385"
    assert completion.step_up_mrtd is True
    assert DEFAULT_PERSONAL_NUMBER != "199001012385"


def test_fake__a_scripted_fault_hits_the_next_calls_only() -> None:
    fake = FakeBankIdClient()
    fake.fail_next_call(Maintenance(), count=2)

    for _ in range(2):
        with pytest.raises(Maintenance):
            fake.auth(IP)
    assert fake.auth(IP).order_ref


def test_fake__hint_codes_for_n_pending_collects_start_with_outstanding_transaction() -> None:
    assert OrderScript.hints(0) == ()
    assert OrderScript.hints(1) == ("outstandingTransaction",)
    assert OrderScript.hints(3) == ("outstandingTransaction", "userSign", "userSign")
