"""Deliver journal notes to a region's FHIR endpoint, with OAuth2 client credentials.

The document Bundle is POSTed to `{base}/Bundle` with `If-None-Exist: identifier=…`, so a
retry after a lost answer finds the first copy instead of filing a second one. The access
token is fetched with the client-credentials grant and kept until shortly before it expires;
a 401 means the region no longer accepts it, so it is fetched again, once. httpx's errors
and the region's answers become the port's two errors here, at the boundary: a 4xx other
than 401, 408 and 429 is a refusal, with the OperationOutcome's text; 5xx and timeouts are
an outage.
https://hl7.org/fhir/R4/http.html#ccreate
https://datatracker.ietf.org/doc/html/rfc6749#section-4.4
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.vis.port import Delivered, JournalRejected, JournalUnavailable, document_identifier

FHIR_JSON = "application/fhir+json"
TRANSIENT = frozenset({408, 429})
# Fetch a new token this long before the old one expires, so none dies in flight.
EXPIRY_MARGIN_S = 30.0


@dataclass(frozen=True)
class FhirJournalConfig:
    """Where a region's FHIR journal endpoint is and how the hub authenticates there."""

    base_url: str
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: str = ""
    timeout_s: float = 10.0


def outcome_text(response: httpx.Response) -> str:
    """Return what an OperationOutcome (or any error body) says, briefly."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, Mapping) and body.get("resourceType") == "OperationOutcome":
        texts = [str(i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code") or "")
                 for i in body.get("issue") or [] if isinstance(i, Mapping)]
        return "; ".join(t for t in texts if t) or response.reason_phrase
    if isinstance(body, Mapping) and body.get("error"):
        return f"{body['error']}: {body.get('error_description', '')}".rstrip(": ")
    return response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


class ClientCredentialsToken:
    """Fetch and cache an OAuth2 access token with the client-credentials grant."""

    def __init__(self, config: FhirJournalConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.clock = config, clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def get(self, http: httpx.Client, *, fresh: bool = False) -> str | None:
        """Return a valid token (None when no token endpoint is configured)."""
        if not self.config.token_url:
            return None
        with self._lock:
            if fresh or self._token is None or self.clock() >= self._expires:
                self._token, self._expires = self._fetch(http)
            return self._token

    def _fetch(self, http: httpx.Client) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if self.config.scope:
            form["scope"] = self.config.scope
        try:
            response = http.post(self.config.token_url, data=form,
                                 auth=(self.config.client_id, self.config.client_secret))
        except httpx.HTTPError as exc:
            raise JournalUnavailable(f"the region's token endpoint did not answer: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code in TRANSIENT:
            raise JournalUnavailable(f"the region's token endpoint answered {response.status_code}",
                                     retry_after=_retry_after(response))
        if response.status_code != 200:
            raise JournalRejected(f"the region's token endpoint refused the hub's credentials "
                                  f"({response.status_code}): {outcome_text(response)}")
        try:
            body = response.json()
            token, lifetime = str(body["access_token"]), float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise JournalUnavailable("the region's token endpoint sent no access_token") from None
        return token, self.clock() + max(lifetime - EXPIRY_MARGIN_S, 0.0)


class FhirJournalExport:
    """The FHIR implementation of the VIS export port for one region.

    Without an `http` client given, each delivery opens and closes its own: notes are one per
    closed case, so a connection kept open between them would mostly sit idle.
    """

    def __init__(self, config: FhirJournalConfig, *, http: httpx.Client | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.http = config, http
        self.tokens = ClientCredentialsToken(config, clock)

    def close(self) -> None:
        """Close the HTTP client given at construction, if any."""
        if self.http is not None:
            self.http.close()

    def __enter__(self) -> FhirJournalExport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def deliver(self, document: Mapping[str, Any]) -> Delivered:
        """POST the document as a conditional create; a 401 refreshes the token once."""
        if self.http is not None:
            return self._deliver(self.http, document)
        with httpx.Client(timeout=httpx.Timeout(self.config.timeout_s)) as http:
            return self._deliver(http, document)

    def _deliver(self, http: httpx.Client, document: Mapping[str, Any]) -> Delivered:
        system, value = document_identifier(document)
        response = self._post(http, document, system, value, self.tokens.get(http))
        if response.status_code == 401 and self.config.token_url:
            response = self._post(http, document, system, value, self.tokens.get(http, fresh=True))
        status = response.status_code
        if status in (200, 201):
            return self._receipt(response)
        if status >= 500 or status in TRANSIENT or status == 401:
            raise JournalUnavailable(f"the region's journal answered {status}: {outcome_text(response)}",
                                     retry_after=_retry_after(response))
        raise JournalRejected(f"the region's journal refused the note ({status}): {outcome_text(response)}")

    def _post(self, http: httpx.Client, document: Mapping[str, Any], system: str, value: str,
              token: str | None) -> httpx.Response:
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON,
                   "If-None-Exist": f"identifier={system}|{value}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return http.post(f"{self.config.base_url.rstrip('/')}/Bundle", json=dict(document), headers=headers)
        except httpx.TimeoutException:
            raise JournalUnavailable("the region's journal did not answer in time") from None
        except httpx.HTTPError as exc:
            raise JournalUnavailable(f"the region's journal could not be reached: {type(exc).__name__}") from None

    @staticmethod
    def _receipt(response: httpx.Response) -> Delivered:
        location = response.headers.get("location") or response.headers.get("content-location") or ""
        remote_id = ""
        try:
            body = response.json()
            remote_id = str(body.get("id") or "") if isinstance(body, Mapping) else ""
        except ValueError:
            pass
        if not remote_id and location:
            parts = location.rstrip("/").split("/")
            remote_id = parts[parts.index("_history") - 1] if "_history" in parts else parts[-1]
        return Delivered(remote_id or location, datetime.now(UTC), location)
