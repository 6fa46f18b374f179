"""Hold the BankID fake and the real client (over mutual TLS to a local server process) to one contract.

Every test in the first part runs twice: against FakeBankIdClient, and against HttpBankIdClient
talking HTTPS with a client certificate to tests/fixtures/bankid/server.py in its own process.
If the fake and the wire drift apart, one of the two runs fails. The last part covers what only
the real client has: TLS trust and a wrongly configured base URL.
https://developers.bankid.com/api-references/auth--sign/overview
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from adapters.idp.bankid import (
    AlreadyInProgress,
    BankIdLogin,
    BankIdTls,
    ClientCertificateRefused,
    HttpBankIdClient,
    InternalError,
    InvalidParameters,
    InvalidPersonalNumber,
    LoginAborted,
    LoginProgress,
    LoginTimedOut,
    Maintenance,
    NoSuchOrder,
    NotFound,
    OrderFailed,
    OrderScript,
    RequestTimeout,
    Requirement,
    ServerNotTrusted,
    Unauthorized,
    qr_data,
)
from adapters.idp.bankid.messages import FAILED_HINT_CODES, RFA3, RFA4, RFA5, RFA6, RFA8, RFA9, failed_message
from cases.principals import PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM, Citizen
from tests.fixtures.bankid.certs import make_pki
from tests.fixtures.bankid.harness import Backend, FakeBackend, ServerBackend, ServerProcess, running_server

IP = "192.0.2.10"
PERSON = "199001012385"


@pytest.fixture(scope="module")
def bankid_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Start one local BankID server process for this module, with a fresh PKI."""
    directory = tmp_path_factory.mktemp("bankid")
    with running_server(make_pki(directory / "pki"), directory) as server:
        yield server


@pytest.fixture(params=["fake", "http"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Give each contract test the fake, then the real client against the local server."""
    side: Backend = FakeBackend() if request.param == "fake" else ServerBackend(
        request.getfixturevalue("bankid_server"))
    yield side
    side.close()


def login_over(backend: Backend, **options: object) -> BankIdLogin:
    """Make a login flow that polls without waiting: the scripts advance per collect, not per second."""
    return BankIdLogin(backend.client, sleep=lambda _seconds: None, **options)  # type: ignore[arg-type]


# Orders and collect ------------------------------------------------------------------------------

def test_auth__answers_with_an_order_ref_and_the_tokens_that_start_the_app(backend: Backend) -> None:
    order = backend.client.auth(IP)

    assert order.order_ref and order.auto_start_token and order.qr_start_token and order.qr_start_secret
    assert order.qr_data(0) == qr_data(order.qr_start_token, order.qr_start_secret, 0)


def test_auth_and_collect__a_completed_order_gives_the_citizen_bankid_identified(backend: Backend) -> None:
    backend.script(OrderScript(("outstandingTransaction", "userSign"), "complete", PERSON, "Anna", "Berg"))

    citizen = login_over(backend).run(IP)

    assert citizen == Citizen(person_id=PERSON, given_name="Anna", family_name="Berg")
    assert citizen.identifier_system == PERSONNUMMER_SYSTEM


def test_auth_and_collect__a_coordination_number_gives_a_citizen_with_one(backend: Backend) -> None:
    backend.script(OrderScript((), "complete", "198112889871"))

    citizen = login_over(backend).run(IP)

    assert citizen.coordination_number and citizen.identifier_system == SAMORDNINGSNUMMER_SYSTEM


def test_collect__pending_orders_report_each_hint_code_with_its_message(backend: Backend) -> None:
    backend.script(OrderScript(("outstandingTransaction", "started", "userSign"), "complete", PERSON))
    seen: list[LoginProgress] = []

    login_over(backend).run(IP, on_progress=seen.append)

    assert [p.hint_code for p in seen] == ["outstandingTransaction", "started", "userSign"]
    assert seen[-1].message == RFA9
    assert all(p.qr_data.startswith("bankid.") for p in seen)


def test_collect__a_complete_order_carries_the_evidence_of_the_identification(backend: Backend) -> None:
    backend.script(OrderScript((), "complete", PERSON, "Anna", "Berg"))
    order = backend.client.auth(IP)

    result = backend.client.collect(order.order_ref)

    assert result.status == "complete" and result.completion is not None
    data = result.completion
    assert (data.user.personal_number, data.user.name) == (PERSON, "Anna Berg")
    assert data.device.ip_address == IP
    assert data.signature and data.ocsp_response and data.bank_id_issue_date


def test_collect__user_cancel_gives_a_message_the_citizen_understands(backend: Backend) -> None:
    backend.script(OrderScript(("outstandingTransaction",), "userCancel"))

    with pytest.raises(OrderFailed) as failed:
        login_over(backend).run(IP)

    assert failed.value.hint_code == "userCancel"
    assert failed.value.message == RFA6
    assert failed.value.message.text("sv") == "Åtgärden avbruten."


def test_collect__expired_transaction_tells_the_citizen_the_app_did_not_answer(backend: Backend) -> None:
    backend.script(OrderScript(("outstandingTransaction", "outstandingTransaction"), "expiredTransaction"))

    with pytest.raises(OrderFailed) as failed:
        login_over(backend).run(IP)

    assert failed.value.hint_code == "expiredTransaction"
    assert failed.value.message == RFA8


@pytest.mark.parametrize("hint_code", [*FAILED_HINT_CODES, "somethingBankIdAddsNextYear"])
def test_collect__every_failed_hint_code_reaches_the_citizen_as_a_message(backend: Backend, hint_code: str) -> None:
    backend.script(OrderScript((), hint_code))

    with pytest.raises(OrderFailed) as failed:
        login_over(backend).run(IP)

    assert failed.value.hint_code == hint_code
    assert failed.value.message == failed_message(hint_code)
    assert hint_code not in failed.value.message.sv


def test_collect__a_final_answer_is_given_once(backend: Backend) -> None:
    backend.script(OrderScript((), "complete", PERSON))
    order = backend.client.auth(IP)
    backend.client.collect(order.order_ref)

    with pytest.raises(NoSuchOrder):
        backend.client.collect(order.order_ref)


def test_auth__without_end_user_ip_is_invalid_parameters(backend: Backend) -> None:
    with pytest.raises(InvalidParameters):
        backend.client.auth("")


def test_auth__an_end_user_ip_that_is_no_ip_address_is_invalid_parameters(backend: Backend) -> None:
    with pytest.raises(InvalidParameters):
        backend.client.auth("not-an-ip")


def test_auth__a_second_order_for_the_same_person_is_already_in_progress_and_cancels_the_first(
        backend: Backend) -> None:
    first = backend.client.auth(IP, requirement=Requirement(personal_number=PERSON))

    with pytest.raises(AlreadyInProgress) as refused:
        backend.client.auth(IP, requirement=Requirement(personal_number=PERSON))

    assert refused.value.message == RFA4
    result = backend.client.collect(first.order_ref)
    assert (result.status, result.hint_code) == ("failed", "cancelled")
    assert failed_message(result.hint_code) == RFA3


def test_auth__orders_for_different_people_run_side_by_side(backend: Backend) -> None:
    backend.client.auth(IP, requirement=Requirement(personal_number=PERSON))
    other = backend.client.auth(IP, requirement=Requirement(personal_number="198112289874"))

    assert backend.client.collect(other.order_ref).status == "pending"


def test_auth__the_person_required_is_the_person_identified(backend: Backend) -> None:
    citizen = login_over(backend).run(IP, requirement=Requirement(personal_number=PERSON))

    assert citizen.person_id == PERSON


def test_sign__a_completed_signing_carries_the_signature(backend: Backend) -> None:
    backend.script(OrderScript(("userSign",), "complete", PERSON))
    order = backend.client.sign(IP, "Jag samtycker till videosamtal.", user_non_visible_data=b"case-42")

    assert backend.client.collect(order.order_ref).status == "pending"
    result = backend.client.collect(order.order_ref)
    assert result.completion is not None and result.completion.signature


def test_sign__without_text_to_sign_is_invalid_parameters(backend: Backend) -> None:
    with pytest.raises(InvalidParameters):
        backend.client.sign(IP, "")


# Cancel ------------------------------------------------------------------------------------------

def test_cancel__a_cancelled_order_can_no_longer_be_collected(backend: Backend) -> None:
    order = backend.client.auth(IP)

    backend.client.cancel(order.order_ref)

    assert order.order_ref in backend.cancelled()
    with pytest.raises(NoSuchOrder):
        backend.client.collect(order.order_ref)


def test_cancel__an_unknown_order_is_no_such_order(backend: Backend) -> None:
    with pytest.raises(NoSuchOrder):
        backend.client.cancel("9f1d1c3e-0000-4000-8000-000000000000")


def test_login__is_cancelled_at_bankid_when_the_citizen_aborts(backend: Backend) -> None:
    backend.script(OrderScript(("outstandingTransaction",) * 10, "complete", PERSON))
    answers = iter([False, False, True])

    with pytest.raises(LoginAborted) as aborted:
        login_over(backend).run(IP, should_abort=lambda: next(answers))

    assert len(backend.cancelled()) == 1
    assert aborted.value.message == RFA6


def test_login__is_cancelled_at_bankid_when_it_takes_too_long(backend: Backend) -> None:
    backend.script(OrderScript(("outstandingTransaction",) * 10, "complete", PERSON))
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    login = BankIdLogin(backend.client, timeout=5.0, clock=lambda: now[0], sleep=sleep)
    with pytest.raises(LoginTimedOut):
        login.run(IP)

    assert len(backend.cancelled()) == 1


def test_login__a_personal_number_that_fails_the_check_is_refused(backend: Backend) -> None:
    backend.script(OrderScript((), "complete", "199001012384"))

    with pytest.raises(InvalidPersonalNumber):
        login_over(backend).run(IP)


def test_login__the_hubs_own_personal_number_validator_decides(backend: Backend) -> None:
    backend.script(OrderScript((), "complete", PERSON))
    asked: list[str] = []

    def refuse(number: str) -> bool:
        asked.append(number)
        return False

    with pytest.raises(InvalidPersonalNumber):
        login_over(backend, check_personal_number=refuse).run(IP)
    assert asked == [PERSON]


# Faults ------------------------------------------------------------------------------------------

def test_bad_client_certificate__is_refused_as_unauthorized(backend: Backend) -> None:
    client = backend.misconfigured_client()

    with pytest.raises(Unauthorized) as refused:
        client.auth(IP)

    assert isinstance(refused.value, ClientCertificateRefused)
    assert refused.value.message == RFA5


def test_slow_server__gives_request_timeout_within_the_configured_timeout(backend: Backend) -> None:
    client = backend.slow_client(timeout=0.5)

    with pytest.raises(RequestTimeout):
        client.auth(IP)


def test_maintenance__gives_maintenance_and_asks_the_citizen_to_try_again(backend: Backend) -> None:
    backend.fail_next_call(503, "maintenance")

    with pytest.raises(Maintenance) as down:
        backend.client.auth(IP)

    assert down.value.message == RFA5


def test_internal_error__gives_internal_error(backend: Backend) -> None:
    backend.fail_next_call(500, "internalError")

    with pytest.raises(InternalError):
        backend.client.auth(IP)


def test_login__a_single_lost_collect_does_not_fail_the_login(backend: Backend) -> None:
    backend.script(OrderScript(("outstandingTransaction", "userSign"), "complete", PERSON))
    faults = iter([True])

    def lose_the_next_collect(_progress: LoginProgress) -> None:
        if next(faults, False):
            backend.fail_next_call(500, "internalError")

    citizen = login_over(backend).run(IP, on_progress=lose_the_next_collect)

    assert citizen.person_id == PERSON


# The real client only: TLS trust and configuration -----------------------------------------------

def test_http_client__a_server_certificate_from_another_ca_is_not_trusted(bankid_server: ServerProcess) -> None:
    pki = bankid_server.pki
    tls = BankIdTls(client_cert=pki.client_cert, client_key=pki.client_key, ca_cert=pki.other_ca_cert)

    with HttpBankIdClient(bankid_server.base_url, tls) as client, pytest.raises(ServerNotTrusted):
        client.auth(IP)


def test_http_client__without_a_client_certificate_the_handshake_is_refused(bankid_server: ServerProcess) -> None:
    context = ssl.create_default_context(cafile=str(bankid_server.pki.ca_cert))
    transport = httpx.HTTPTransport(verify=context)

    with HttpBankIdClient(bankid_server.base_url, None, transport=transport) as client, \
            pytest.raises(ClientCertificateRefused):
        client.auth(IP)


def test_http_client__a_wrong_api_version_in_the_base_url_is_not_found(bankid_server: ServerProcess) -> None:
    with HttpBankIdClient(bankid_server.root + "/rp/v5.1", bankid_server.tls()) as client, \
            pytest.raises(NotFound):
        client.auth(IP)
