"""Check what HttpBankIdClient sends and how it translates every vendor and transport error.

The transport is httpx.MockTransport, so each BankID answer and each network failure can be
produced exactly; the contract suite covers the same client over real mutual TLS.
https://developers.bankid.com/api-references/auth--sign/overview
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.idp.bankid import (
    AlreadyInProgress,
    BankIdConfigurationError,
    BankIdError,
    BankIdTls,
    ClientCertificateRefused,
    HttpBankIdClient,
    InternalError,
    InvalidParameters,
    Maintenance,
    NoSuchOrder,
    NotFound,
    ProtocolError,
    RequestTimeout,
    Requirement,
    ServerNotTrusted,
    Unauthorized,
    Unavailable,
)

BASE = "https://bankid.example/rp/v6.0"
ORDER = {"orderRef": "ref-1", "autoStartToken": "a", "qrStartToken": "q", "qrStartSecret": "s"}
Handler = Callable[[httpx.Request], httpx.Response]


def client_answering(handler: Handler, *, timeout: float = 0.5) -> HttpBankIdClient:
    return HttpBankIdClient(BASE, None, timeout=timeout, transport=httpx.MockTransport(handler))


def answering(status: int, body: Any = None, *, raw: bytes | None = None) -> Handler:
    def handler(_request: httpx.Request) -> httpx.Response:
        if raw is not None:
            return httpx.Response(status, content=raw)
        return httpx.Response(status, json=body)
    return handler


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return handler


def _tls_failure(kind: type[httpx.TransportError], error: ssl.SSLError) -> httpx.TransportError:
    # httpx raises its own exception from httpcore's, which was raised from the ssl error.
    try:
        try:
            raise error
        except ssl.SSLError as inner:
            raise kind(str(inner)) from inner
    except httpx.TransportError as outer:
        return outer


# What the client sends ---------------------------------------------------------------------------

def test_auth__posts_json_with_the_end_user_ip_requirement_and_base64_texts() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ORDER)

    with client_answering(handler) as client:
        order = client.auth("192.0.2.1", requirement=Requirement(personal_number="199001012385", pin_code=True),
                            user_visible_data="Logga in hos Vårdcentralen Åby", user_non_visible_data=b"\x00case")

    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/rp/v6.0/auth")
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body["endUserIp"] == "192.0.2.1"
    assert body["requirement"] == {"personalNumber": "199001012385", "pinCode": True}
    assert base64.b64decode(body["userVisibleData"]).decode("utf-8") == "Logga in hos Vårdcentralen Åby"
    assert base64.b64decode(body["userNonVisibleData"]) == b"\x00case"
    assert order.order_ref == "ref-1"


def test_auth__sends_only_what_is_given() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=ORDER)

    with client_answering(handler) as client:
        client.auth("192.0.2.1")

    assert seen == [{"endUserIp": "192.0.2.1"}]


@pytest.mark.parametrize("call", ["collect", "cancel"])
def test_collect_and_cancel__post_the_order_ref(call: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"orderRef": "ref-1", "status": "pending", "hintCode": "started"}
                              if call == "collect" else {})

    with client_answering(handler) as client:
        getattr(client, call)("ref-1")

    assert seen[0].url.path == f"/rp/v6.0/{call}"
    assert json.loads(seen[0].content) == {"orderRef": "ref-1"}


def test_every_call__carries_the_configured_timeout() -> None:
    timeouts: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        return httpx.Response(200, json=ORDER)

    with client_answering(handler, timeout=0.5) as client:
        client.auth("192.0.2.1")
        client.sign("192.0.2.1", "Jag godkänner")

    assert timeouts == [{"connect": 0.5, "read": 0.5, "write": 0.5, "pool": 0.5}] * 2


def test_collect__reads_the_completion_data() -> None:
    answer = {"orderRef": "ref-1", "status": "complete", "completionData": {
        "user": {"personalNumber": "199001012385", "name": "Anna Berg", "givenName": "Anna", "surname": "Berg"},
        "device": {"ipAddress": "192.0.2.1", "uhi": "OZvYM9VvyiAmG7NA5jU5zqGcVpo="},
        "stepUp": {"mrtd": True}, "bankIdIssueDate": "2020-02-01", "signature": "PD94bWwg",
        "ocspResponse": "MIIHfgoBAKCC", "risk": "low", "somethingNew": 1}}

    with client_answering(answering(200, answer)) as client:
        result = client.collect("ref-1")

    assert result.completion is not None
    assert result.completion.user.given_name == "Anna" and result.completion.step_up_mrtd is True
    assert result.completion.risk == "low"
    assert "199001012385" not in repr(result), "personal numbers stay out of logs"


# How errors come back ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "error_code", "expected"),
    [
        (400, "invalidParameters", InvalidParameters),
        (400, "alreadyInProgress", AlreadyInProgress),
        (401, "unauthorized", Unauthorized),
        (403, "unauthorized", Unauthorized),
        (404, "notFound", NotFound),
        (405, "methodNotAllowed", ProtocolError),
        (408, "requestTimeout", RequestTimeout),
        (415, "unsupportedMediaType", ProtocolError),
        (500, "internalError", InternalError),
        (503, "maintenance", Maintenance),
        (503, None, Maintenance),
        (502, None, Unavailable),
        (504, None, Unavailable),
        (401, None, Unauthorized),
        (418, None, ProtocolError),
    ],
)
def test_auth__each_vendor_error_becomes_the_hubs_error(status: int, error_code: str | None,
                                                       expected: type[BankIdError]) -> None:
    body = {"errorCode": error_code, "details": "some details"} if error_code else None
    handler = answering(status, body) if body else answering(status, raw=b"<html>Bad gateway</html>")

    with client_answering(handler) as client, pytest.raises(expected) as caught:
        client.auth("192.0.2.1")

    assert type(caught.value) is expected
    assert caught.value.status == status


@pytest.mark.parametrize("call", ["collect", "cancel"])
def test_collect_and_cancel__an_unknown_order_is_no_such_order(call: str) -> None:
    handler = answering(400, {"errorCode": "invalidParameters", "details": "No such order"})

    with client_answering(handler) as client, pytest.raises(NoSuchOrder):
        getattr(client, call)("ref-gone")


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (httpx.ConnectTimeout("timed out"), RequestTimeout),
        (httpx.ReadTimeout("timed out"), RequestTimeout),
        (httpx.WriteTimeout("timed out"), RequestTimeout),
        (httpx.PoolTimeout("timed out"), RequestTimeout),
        (httpx.ConnectError("[Errno 111] Connection refused"), Unavailable),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), Unavailable),
        (httpx.ReadError("connection reset"), Unavailable),
        (_tls_failure(httpx.ConnectError, ssl.SSLCertVerificationError(1, "certificate verify failed")),
         ServerNotTrusted),
        (_tls_failure(httpx.ConnectError, ssl.SSLEOFError(8, "EOF occurred in violation of protocol")),
         ClientCertificateRefused),
        # TLS 1.3: the server's refusal of our certificate arrives as an alert on the first read.
        (_tls_failure(httpx.ReadError, ssl.SSLError(1, "tlsv13 alert certificate required")),
         ClientCertificateRefused),
        (httpx.TooManyRedirects("loop"), ProtocolError),
    ],
)
def test_transport_failures__become_the_hubs_errors_never_httpx_ones(failure: Exception,
                                                                     expected: type[BankIdError]) -> None:
    with client_answering(raising(failure)) as client, pytest.raises(BankIdError) as caught:
        client.auth("192.0.2.1")

    assert type(caught.value) is expected
    assert not isinstance(caught.value, httpx.HTTPError)


@pytest.mark.parametrize(
    "answer",
    [
        b"not json",
        json.dumps({"orderRef": "ref-1"}).encode(),
        json.dumps(["a", "list"]).encode(),
    ],
)
def test_auth__an_answer_outside_the_api_is_a_protocol_error(answer: bytes) -> None:
    with client_answering(answering(200, raw=answer)) as client, pytest.raises(ProtocolError):
        client.auth("192.0.2.1")


@pytest.mark.parametrize(
    "answer",
    [
        {"orderRef": "ref-1", "status": "thinking"},
        {"orderRef": "ref-1", "status": "complete"},
        {"orderRef": "ref-1", "status": "complete", "completionData": {"user": {}}},
        {"status": "pending", "hintCode": "started"},
    ],
)
def test_collect__an_answer_outside_the_api_is_a_protocol_error(answer: dict[str, Any]) -> None:
    with client_answering(answering(200, answer)) as client, pytest.raises(ProtocolError):
        client.collect("ref-1")


def test_sign__without_text_to_sign_is_refused_before_calling_bankid() -> None:
    with client_answering(raising(AssertionError("no call expected"))) as client, \
            pytest.raises(InvalidParameters):
        client.sign("192.0.2.1", "")


# Configuration -----------------------------------------------------------------------------------

def test_configuration__a_plain_http_base_url_is_refused() -> None:
    with pytest.raises(BankIdConfigurationError):
        HttpBankIdClient("http://bankid.example/rp/v6.0", None, transport=httpx.MockTransport(answering(200)))


def test_configuration__mutual_tls_is_required_without_a_test_transport() -> None:
    with pytest.raises(BankIdConfigurationError):
        HttpBankIdClient(BASE, None)


def test_configuration__missing_certificate_files_are_a_configuration_error(tmp_path: Path) -> None:
    tls = BankIdTls(client_cert=tmp_path / "rp.pem", client_key=tmp_path / "rp-key.pem", ca_cert=tmp_path / "ca.pem")

    with pytest.raises(BankIdConfigurationError):
        HttpBankIdClient(BASE, tls)


def test_configuration__the_key_password_stays_out_of_repr(tmp_path: Path) -> None:
    tls = BankIdTls(client_cert=tmp_path / "rp.pem", ca_cert=tmp_path / "ca.pem", key_password="qwerty123")

    assert "qwerty123" not in repr(tls)
