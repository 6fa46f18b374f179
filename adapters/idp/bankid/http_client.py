"""Call the BankID RP API v6.0 over HTTPS with mutual TLS, for regions that run BankID themselves.

Why: BankID authenticates the relying party by its TLS client certificate and publishes a
CA of its own for the server; nothing else (no API key) protects the calls. So the client
trusts only the configured BankID CA, always presents the RP certificate, puts a timeout on
every call, and turns every httpx exception and vendor error into the hub's `BankIdError`s —
callers never need to import httpx. Certificates: BankID issues the RP certificate as PKCS#12;
convert it once with `openssl pkcs12 -in rp.p12 -out rp.pem` (key encrypted, give key_password).
https://developers.bankid.com/api-references/auth--sign/overview
https://developers.bankid.com/getting-started/environments
"""

from __future__ import annotations

import base64
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from adapters.idp.bankid.errors import (
    AlreadyInProgress,
    BankIdConfigurationError,
    BankIdError,
    ClientCertificateRefused,
    InvalidParameters,
    NoSuchOrder,
    ProtocolError,
    RequestTimeout,
    ServerNotTrusted,
    Unavailable,
    error_for,
)
from adapters.idp.bankid.port import (
    CollectResult,
    OrderStart,
    Requirement,
    parse_collect,
    parse_order_start,
)

log = logging.getLogger(__name__)

PRODUCTION_URL = "https://appapi2.bankid.com/rp/v6.0"
TEST_URL = "https://appapi2.test.bankid.com/rp/v6.0"
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class BankIdTls:
    """The mutual TLS material: the RP certificate and key, and the CA that issued BankID's server cert."""

    client_cert: str | Path
    ca_cert: str | Path
    client_key: str | Path | None = None  # None when the key is in the client_cert PEM file
    key_password: str | None = field(default=None, repr=False)

    def ssl_context(self) -> ssl.SSLContext:
        """Build a client TLS context that trusts only the BankID CA and presents the RP certificate."""
        try:
            # A cafile means no system roots: a certificate from any public CA must not pass as BankID.
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_cert))
            context.load_cert_chain(
                str(self.client_cert),
                str(self.client_key) if self.client_key is not None else None,
                password=self.key_password,
            )
        except (OSError, ssl.SSLError) as exc:
            raise BankIdConfigurationError(f"cannot load the TLS files ({type(exc).__name__}: {exc})") from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


def _ssl_error_in(exc: BaseException) -> ssl.SSLError | None:
    """Find the ssl.SSLError behind an httpx exception (httpx wraps httpcore, which wraps ssl)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        for arg in current.args:
            if isinstance(arg, ssl.SSLError):
                return arg
        current = current.__cause__ or current.__context__
    return None


def _tls_reason(error: ssl.SSLError) -> str:
    # OpenSSL fills in reason and verify_message; an SSLError made elsewhere may lack both.
    text = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
    return f"{type(error).__name__}: {text}"


def _transport_error(path: str, exc: httpx.TransportError) -> BankIdError:
    tls = _ssl_error_in(exc)
    if isinstance(tls, ssl.SSLCertVerificationError):
        return ServerNotTrusted(f"/{path}: {_tls_reason(tls)}")
    if tls is not None:
        # The handshake (or, under TLS 1.3, the first read) failed with an alert or an abrupt end:
        # the server did not accept our certificate. Nothing reached the API, so nothing to undo.
        return ClientCertificateRefused(f"/{path}: {_tls_reason(tls)}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return Unavailable(f"/{path}: BankID closed the connection without answering "
                           "(if every call fails like this, check the RP certificate)")
    return Unavailable(f"/{path}: {type(exc).__name__}")


def _error_from(response: httpx.Response) -> BankIdError:
    error_code: str | None = None
    details = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code, text = body.get("errorCode"), body.get("details")
        error_code = code if isinstance(code, str) else None
        details = text[:200] if isinstance(text, str) else ""
    return error_for(response.status_code, error_code, details)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class HttpBankIdClient:
    """The BankID port over httpx: one connection pool, mutual TLS, a timeout on every call."""

    def __init__(self, base_url: str, tls: BankIdTls | None, *, timeout: float = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None) -> None:
        """Connect to base_url (e.g. PRODUCTION_URL); tls may be None only with a test transport."""
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise BankIdConfigurationError(f"invalid base URL {base_url!r}") from exc
        if url.scheme != "https":
            # Personal numbers and signatures travel in these bodies: never in the clear.
            raise BankIdConfigurationError(f"the BankID base URL must be https, not {url.scheme!r}")
        if transport is None and tls is None:
            raise BankIdConfigurationError("BankID needs mutual TLS: give the RP certificate and the BankID CA")
        verify: ssl.SSLContext | bool = tls.ssl_context() if tls is not None and transport is None else True
        self.base_url = str(url).rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            timeout=httpx.Timeout(timeout),
            verify=verify,
            transport=transport,
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )

    def __enter__(self) -> HttpBankIdClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def auth(self, end_user_ip: str, *, requirement: Requirement | None = None,
             user_visible_data: str | None = None, user_non_visible_data: bytes | None = None,
             return_url: str | None = None) -> OrderStart:
        """Start an identification order (POST /auth)."""
        body = self._order_body(end_user_ip, requirement, user_visible_data, user_non_visible_data, return_url)
        return parse_order_start(self._post("auth", body))

    def sign(self, end_user_ip: str, user_visible_data: str, *, requirement: Requirement | None = None,
             user_non_visible_data: bytes | None = None, return_url: str | None = None) -> OrderStart:
        """Start a signing order (POST /sign); BankID requires the text the citizen signs."""
        if not user_visible_data:
            raise InvalidParameters("sign needs user_visible_data")
        body = self._order_body(end_user_ip, requirement, user_visible_data, user_non_visible_data, return_url)
        return parse_order_start(self._post("sign", body))

    def collect(self, order_ref: str) -> CollectResult:
        """Ask how the order is going (POST /collect)."""
        return parse_collect(self._post("collect", {"orderRef": order_ref}, about_order=True))

    def cancel(self, order_ref: str) -> None:
        """Cancel a running order (POST /cancel)."""
        self._post("cancel", {"orderRef": order_ref}, about_order=True)

    @staticmethod
    def _order_body(end_user_ip: str, requirement: Requirement | None, user_visible_data: str | None,
                    user_non_visible_data: bytes | None, return_url: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"endUserIp": end_user_ip}
        if requirement is not None and requirement.to_json():
            body["requirement"] = requirement.to_json()
        # The API takes both data fields base64-encoded; the visible one as UTF-8 text.
        if user_visible_data:
            body["userVisibleData"] = _b64(user_visible_data.encode("utf-8"))
        if user_non_visible_data:
            body["userNonVisibleData"] = _b64(user_non_visible_data)
        if return_url:
            body["returnUrl"] = return_url
        return body

    def _post(self, path: str, body: dict[str, Any], *, about_order: bool = False) -> Any:
        try:
            response = self._http.post(path, json=body)
        except httpx.TimeoutException as exc:
            raise RequestTimeout(f"/{path}: no answer within {self.timeout} s") from exc
        except httpx.TransportError as exc:
            raise _transport_error(path, exc) from exc
        except httpx.HTTPError as exc:
            raise ProtocolError(f"/{path}: {type(exc).__name__}") from exc
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError as exc:
                raise ProtocolError(f"/{path} answered 200 with a body that is not JSON") from exc
        error = _error_from(response)
        if about_order and type(error) is InvalidParameters:
            # collect and cancel take only orderRef, so a refused parameter is an unknown order.
            error = NoSuchOrder(error.details, status=error.status)
        # Refused parameters and a busy person are part of normal flows; the rest needs an operator.
        level = logging.INFO if isinstance(error, (InvalidParameters, AlreadyInProgress)) else logging.WARNING
        log.log(level, "BankID /%s answered %s: %s", path, response.status_code, error)
        raise error
