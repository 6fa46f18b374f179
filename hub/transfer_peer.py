"""Know the other Ingång hubs and talk to them: SMART Backend Services tokens, unit look-up, the transfer post.

Each peer hub registers this hub as a backend service (private_key_jwt, client_credentials),
so this hub signs a short client assertion with its own key for the peer's token endpoint,
and keeps the token until shortly before it expires; a 401 fetches a new one, once. The
peer's answers are turned into the outbox's two failures here: 5xx, 408, 429 and network
errors are RetryLater, any other 4xx is GiveUp with the OperationOutcome's text.
https://hl7.org/fhir/smart-app-launch/backend-services.html
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key

from adapters.vis.fhir_export import outcome_text
from cases.principals import HSA_SYSTEM
from hub.outbox import GiveUp, RetryLater

FHIR_JSON = "application/fhir+json"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_SCOPE = "system/Organization.rs system/Task.c"
EXPIRY_MARGIN_S = 30.0


class PeerConfigError(ValueError):
    """A peer hubs file the hub cannot use: which peer and field."""


@dataclass(frozen=True)
class PeerHub:
    """Another hub cases can be transferred to, and how this hub authenticates there."""

    name: str
    fhir_base: str
    token_url: str
    client_id: str
    key: Key
    scope: str = DEFAULT_SCOPE
    timeout_s: float = 10.0

    @property
    def algorithm(self) -> str:
        """Return the JWS algorithm for the key (SMART asks for ES384 or RS384)."""
        return "ES384" if isinstance(self.key, ECKey) else "RS384"


@dataclass(frozen=True)
class PeerHubs:
    """The configured peers by name, and the client ids of peers that may transfer cases here."""

    peers: Mapping[str, PeerHub] = field(default_factory=dict)
    accept_from: frozenset[str] = frozenset()


def load_peer_hubs(path: str) -> PeerHubs:
    """Read the peer hubs file: `peers: {name: {fhir_base, token_url, client_id, key_file, scope}}, accept_from: […]`."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if source.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise PeerConfigError(f"{source}: cannot read the peer hubs file: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"peers", "accept_from"}:
        raise PeerConfigError(f"{source}: the peer hubs file has 'peers' and 'accept_from' only")
    accept = data.get("accept_from") or []
    if not isinstance(accept, list) or not all(isinstance(a, str) for a in accept):
        raise PeerConfigError(f"{source}: accept_from must be a list of client ids")
    peers = {}
    for name, entry in (data.get("peers") or {}).items():
        peers[str(name)] = _peer(str(name), entry, source)
    return PeerHubs(peers, frozenset(accept))


def _peer(name: str, entry: Any, source: Path) -> PeerHub:
    where = f"{source}: peer {name}"
    known = {"fhir_base", "token_url", "client_id", "key_file", "scope", "timeout_s"}
    if not isinstance(entry, dict):
        raise PeerConfigError(f"{where}: must be a mapping")
    missing = sorted(k for k in ("fhir_base", "token_url", "client_id", "key_file") if not entry.get(k))
    extra = sorted(set(entry) - known)
    if missing or extra:
        raise PeerConfigError(f"{where}: " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(extra)}"] if extra else [])))
    try:
        key_data = json.loads(Path(str(entry["key_file"])).read_text(encoding="utf-8"))
        key = JWKRegistry.import_key(key_data)
    except (OSError, ValueError, JoseError) as exc:
        raise PeerConfigError(f"{where}: key_file: {exc}") from None
    if not key.is_private or not key.kid:
        raise PeerConfigError(f"{where}: key_file must hold a private JWK with a 'kid'")
    return PeerHub(name, str(entry["fhir_base"]).rstrip("/"), str(entry["token_url"]), str(entry["client_id"]), key,
                   str(entry.get("scope") or DEFAULT_SCOPE), float(entry.get("timeout_s", 10.0)))


def _fail(what: str, response: httpx.Response) -> Exception:
    status = response.status_code
    text = f"{what} answered {status}: {outcome_text(response)}"
    if status >= 500 or status in (401, 408, 429):
        after = response.headers.get("retry-after", "")
        return RetryLater(text, after=float(after) if after.isdigit() else None)
    return GiveUp(text)


class PeerClient:
    """Call one peer hub's token endpoint and FHIR API."""

    def __init__(self, peer: PeerHub, *, http: httpx.Client | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.peer, self.clock = peer, clock
        self.http = http or httpx.Client(timeout=httpx.Timeout(peer.timeout_s))
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    def assertion(self) -> str:
        """Return a fresh signed client assertion for the peer's token endpoint (one jti per request)."""
        now = int(self.clock())
        claims = {"iss": self.peer.client_id, "sub": self.peer.client_id, "aud": self.peer.token_url,
                  "jti": secrets.token_hex(16), "iat": now, "exp": now + 240}
        return jwt.encode({"alg": self.peer.algorithm, "kid": self.peer.key.kid, "typ": "JWT"}, claims,
                          self.peer.key, algorithms=[self.peer.algorithm])

    def token(self, *, fresh: bool = False) -> str:
        """Return a valid access token, fetching one when there is none or it is about to expire."""
        with self._lock:
            if fresh or self._token is None or self.clock() >= self._expires:
                form = {"grant_type": "client_credentials", "scope": self.peer.scope,
                        "client_assertion_type": JWT_BEARER, "client_assertion": self.assertion()}
                response = self._call("the peer's token endpoint", "POST", self.peer.token_url, data=form)
                if response.status_code != 200:
                    raise _fail(f"hub {self.peer.name}'s token endpoint", response)
                body = response.json()
                self._token = str(body["access_token"])
                self._expires = self.clock() + max(float(body.get("expires_in", 300)) - EXPIRY_MARGIN_S, 0.0)
            return self._token

    def _call(self, what: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise RetryLater(f"{what} at hub {self.peer.name} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise RetryLater(f"{what} at hub {self.peer.name} could not be reached: {type(exc).__name__}") from None

    def _fhir(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.peer.fhir_base}/{path}"
        headers = {"Accept": FHIR_JSON, **kwargs.pop("headers", {})}
        response = self._call("the FHIR API", method, url,
                              headers={**headers, "Authorization": f"Bearer {self.token()}"}, **kwargs)
        if response.status_code == 401:
            response = self._call("the FHIR API", method, url,
                                  headers={**headers, "Authorization": f"Bearer {self.token(fresh=True)}"}, **kwargs)
        return response

    def unit_id(self, hsa_id: str) -> str:
        """Return the id of the peer's Organization with this HSA-id; GiveUp when it has none."""
        response = self._fhir("GET", "Organization", params={"identifier": f"{HSA_SYSTEM}|{hsa_id}"})
        if response.status_code != 200:
            raise _fail(f"hub {self.peer.name}", response)
        entries = [e.get("resource") or {} for e in response.json().get("entry") or []]
        ids = [str(r["id"]) for r in entries if r.get("resourceType") == "Organization" and r.get("id")]
        if len(ids) != 1:
            found = "no care unit" if not ids else f"{len(ids)} care units"
            raise GiveUp(f"hub {self.peer.name} knows {found} with HSA-id {hsa_id}")
        return ids[0]

    def send(self, unit_id: str, bundle: Mapping[str, Any]) -> dict[str, Any]:
        """Post the transfer to the unit; return the peer's transaction-response Bundle."""
        response = self._fhir("POST", f"Organization/{unit_id}/$receive-transfer", json=dict(bundle),
                              headers={"Content-Type": FHIR_JSON})
        if response.status_code != 200:
            raise _fail(f"hub {self.peer.name}", response)
        body: dict[str, Any] = response.json()
        return body
