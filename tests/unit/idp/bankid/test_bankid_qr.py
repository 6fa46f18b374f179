"""Check the animated QR code content against BankID's worked example and an HMAC computed by hand.

https://developers.bankid.com/how-to-guides/qr-code
"""

from __future__ import annotations

import hashlib
import hmac
import math

import pytest

from adapters.idp.bankid import OrderStart, qr_data

# The worked example in BankID's QR code guide (and the RP guidelines before it).
TOKEN = "67df3917-fa0d-44e5-b327-edcc928297f8"
SECRET = "d28db9a7-4cde-429e-a983-359be676944c"
PUBLISHED = {
    0: "dc69358e712458a66a7525beef148ae8526b1c71610eff2c16cdffb4cdac9bf8",
    1: "949d559bf23403952a94d103e67743126381eda00f0b3cbddbf7c96b1adcbce2",
    2: "a9e5ec59cb4eee4ef4117150abc58fad7a85439a6a96ccbecc3668b41795b3f3",
}


@pytest.mark.parametrize("seconds", sorted(PUBLISHED))
def test_qr_data__matches_the_worked_example_bankid_publishes(seconds: int) -> None:
    assert qr_data(TOKEN, SECRET, seconds) == f"bankid.{TOKEN}.{seconds}.{PUBLISHED[seconds]}"


def test_qr_data__is_an_hmac_of_the_seconds_keyed_with_the_secret() -> None:
    token, secret = "a-token", "another-secret"
    by_hand = hmac.new(b"another-secret", b"17", hashlib.sha256).hexdigest()

    assert qr_data(token, secret, 17) == "bankid.a-token.17." + by_hand


def test_qr_data__counts_whole_seconds_since_the_order() -> None:
    assert qr_data(TOKEN, SECRET, 1.999) == qr_data(TOKEN, SECRET, 1)
    assert qr_data(TOKEN, SECRET, 0.4).split(".")[2] == "0"


def test_qr_data__changes_every_second_so_a_photographed_code_goes_stale() -> None:
    codes = {qr_data(TOKEN, SECRET, t) for t in range(30)}

    assert len(codes) == 30


@pytest.mark.parametrize("seconds", [-1, -0.5, math.nan])
def test_qr_data__refuses_a_time_before_the_order(seconds: float) -> None:
    with pytest.raises(ValueError):
        qr_data(TOKEN, SECRET, seconds)


def test_order_start__gives_the_qr_code_of_its_own_tokens_and_hides_the_secret_from_repr() -> None:
    order = OrderStart("ref-1", "auto-token", TOKEN, SECRET)

    assert order.qr_data(2) == qr_data(TOKEN, SECRET, 2)
    assert SECRET not in repr(order) and "auto-token" not in repr(order)
