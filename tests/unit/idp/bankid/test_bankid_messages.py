"""Check that every hintCode and every error reaches the citizen as words, Swedish first, then English.

https://developers.bankid.com/resources/user-messages
"""

from __future__ import annotations

import pytest

from adapters.idp.bankid import (
    AlreadyInProgress,
    BankIdError,
    ClientCertificateRefused,
    InternalError,
    InvalidPersonalNumber,
    LoginAborted,
    LoginTimedOut,
    Maintenance,
    NoSuchOrder,
    OrderFailed,
    ProtocolError,
    RequestTimeout,
    Unavailable,
    collect_message,
    failed_message,
    pending_message,
)
from adapters.idp.bankid.messages import (
    FAILED_HINT_CODES,
    PENDING_HINT_CODES,
    RFA1,
    RFA3,
    RFA4,
    RFA5,
    RFA6,
    RFA8,
    RFA9,
    RFA13,
    RFA14B,
    RFA15B,
    RFA16,
    RFA17A,
    RFA17B,
    RFA21,
    RFA22,
    RFA23,
    UserMessage,
)


def _readable(message: UserMessage, hint_code: str) -> None:
    assert message.sv and message.en and message.sv != message.en
    # The code itself is no message ("cancelled" may of course appear in an English sentence).
    assert hint_code not in message.sv and message.en.rstrip(".").lower() != hint_code.lower()


@pytest.mark.parametrize("hint_code", PENDING_HINT_CODES)
@pytest.mark.parametrize("auto_started", [False, True])
def test_pending_message__every_pending_hint_code_is_said_in_swedish_and_english(
        hint_code: str, auto_started: bool) -> None:
    _readable(pending_message(hint_code, auto_started=auto_started), hint_code)


@pytest.mark.parametrize("hint_code", FAILED_HINT_CODES)
@pytest.mark.parametrize("auto_started", [False, True])
def test_failed_message__every_failed_hint_code_is_said_in_swedish_and_english(
        hint_code: str, auto_started: bool) -> None:
    message = failed_message(hint_code, auto_started=auto_started)
    _readable(message, hint_code)
    assert message != RFA22, "a documented code deserves more than 'unknown error'"


@pytest.mark.parametrize(
    ("hint_code", "auto_started", "expected"),
    [
        ("outstandingTransaction", False, RFA1),
        ("outstandingTransaction", True, RFA13),
        ("noClient", False, RFA1),
        ("started", False, RFA15B),
        ("started", True, RFA14B),
        ("userSign", False, RFA9),
        ("userMrtd", False, RFA23),
        ("processing", False, RFA21),
    ],
)
def test_pending_message__follows_bankids_recommended_message_for_each_code(
        hint_code: str, auto_started: bool, expected: UserMessage) -> None:
    assert pending_message(hint_code, auto_started=auto_started) == expected


@pytest.mark.parametrize(
    ("hint_code", "auto_started", "expected"),
    [
        ("expiredTransaction", False, RFA8),
        ("certificateErr", False, RFA16),
        ("userCancel", False, RFA6),
        ("cancelled", False, RFA3),
        ("startFailed", False, RFA17B),
        ("startFailed", True, RFA17A),
    ],
)
def test_failed_message__follows_bankids_recommended_message_for_each_code(
        hint_code: str, auto_started: bool, expected: UserMessage) -> None:
    assert failed_message(hint_code, auto_started=auto_started) == expected


def test_messages__use_bankids_own_words() -> None:
    assert RFA1.sv == "Starta BankID-appen."
    assert RFA9.sv == "Skriv in din säkerhetskod i BankID-appen och välj Identifiera eller Skriv under."
    assert RFA9.en == "Enter your security code in the BankID app and select Identify or Sign."
    assert RFA6.sv == "Åtgärden avbruten."


def test_messages__unknown_codes_get_a_safe_generic_message() -> None:
    assert pending_message("somethingNew") == RFA21
    assert pending_message(None) == RFA21
    assert failed_message("somethingNew") == RFA22
    assert failed_message(None) == RFA22
    assert collect_message("someNewStatus", None) == RFA22


def test_collect_message__picks_by_status_first() -> None:
    assert collect_message("pending", "userSign") == RFA9
    assert collect_message("failed", "userCancel") == RFA6
    assert collect_message("complete", None).sv


@pytest.mark.parametrize(("language", "expected"), [("sv", "sv"), ("sv-SE", "sv"), ("en", "en"),
                                                     ("en-GB", "en"), ("EN", "en"), ("fi", "sv")])
def test_user_message__speaks_swedish_unless_english_is_asked_for(language: str, expected: str) -> None:
    assert RFA1.text(language) == getattr(RFA1, expected)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AlreadyInProgress(), RFA4),
        (Maintenance(), RFA5),
        (InternalError(), RFA5),
        (RequestTimeout(), RFA5),
        (Unavailable(), RFA5),
        (ClientCertificateRefused(), RFA5),
        (ProtocolError(), RFA5),
        (OrderFailed("userCancel"), RFA6),
        (OrderFailed("startFailed", auto_started=True), RFA17A),
        (OrderFailed(None), RFA22),
        (LoginTimedOut(), RFA8),
        (LoginAborted(), RFA6),
        (InvalidPersonalNumber(), RFA22),
        (NoSuchOrder(), RFA22),
        (BankIdError(), RFA22),
    ],
)
def test_errors__each_carries_a_message_for_the_citizen(error: BankIdError, expected: UserMessage) -> None:
    assert error.message == expected


def test_errors__say_what_happened_for_the_operator_without_the_citizens_words() -> None:
    error = OrderFailed("expiredTransaction")

    assert "expiredTransaction" in str(error) and error.hint_code == "expiredTransaction"
