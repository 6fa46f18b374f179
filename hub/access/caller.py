"""Say who is calling: verify the bearer token, find the client's address, and remember both.

`Caller` is what the guard's `authenticate` returns and the server keeps in `req.caller` for
the rest of the request, so each request verifies its token once and resolves what the caller
can see once (the `view`). The token verifier is a port: the hub's own `AccessTokens`
(adapters/idp/tokens) fits it as it is. The client's address comes from the TCP peer, which
`PeerAddressMiddleware` copies into a header only it may set, or from X-Forwarded-For
counted from the right past the configured number of trusted proxies, never from the left,
which the client writes itself.
https://www.rfc-editor.org/rfc/rfc6750#section-2.1, https://hl7.org/fhir/R4/auditevent.html
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cases.access import SCOPE_LETTER, Action, HubItself, scope_contexts
from cases.principals import Principal
from fhir_api.messages import FhirRequest

if TYPE_CHECKING:
    from hub.access.visibility import View

PEER_HEADER = "x-ingang-peer"
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ScopeSet(Protocol):
    """The part of a parsed SMART scope set the guard asks (adapters.idp.tokens.Scopes fits)."""

    def allows(self, resource_type: str, interaction: str, context: str) -> bool:
        """Tell whether an unrestricted scope of this context grants the interaction on the type."""
        ...


class VerifiedToken(Protocol):
    """What a verified access token says (adapters.idp.tokens.AccessContext fits)."""

    @property
    def principal(self) -> Principal: ...

    @property
    def scopes(self) -> ScopeSet: ...

    @property
    def patient(self) -> str | None: ...


class TokenVerifier(Protocol):
    """Verify an `Authorization` header; raise fhir_api.outcomes.Unauthorized when it is not valid."""

    def verify_authorization(self, authorization: str | None, *, now: datetime) -> VerifiedToken:
        """Return what the token says."""
        ...


class AllScopes:
    """Every scope granted: for the hub itself, and for callers built in tests without a token."""

    def allows(self, resource_type: str, interaction: str, context: str) -> bool:
        """Grant everything."""
        return True


@dataclass
class Caller:
    """An authenticated caller, for one request: principal, scopes, launch patient, address."""

    principal: Principal | HubItself
    scopes: ScopeSet = field(default_factory=AllScopes)
    launch_patient: str | None = None
    address: str = ""
    view: View | None = None  # resolved on first use, then reused by every check of the request

    def contexts_allowing(self, res_type: str, action: Action) -> tuple[str, ...]:
        """Return the scope contexts in which the token grants this action on the type."""
        if isinstance(self.principal, HubItself):
            return ("system",)
        letter = SCOPE_LETTER.get(action, "r")
        return tuple(c for c in scope_contexts(self.principal) if self.scopes.allows(res_type, letter, c))

    def may_read(self, res_type: str) -> bool:
        """Tell whether the token lets the caller see this type at all (read or search)."""
        return bool(self.contexts_allowing(res_type, Action.READ) or self.contexts_allowing(res_type, Action.SEARCH))

    def only_patient_context(self, res_type: str) -> bool:
        """Tell whether only `patient/` scopes grant reading the type, so the launch patient limits it."""
        contexts = set(self.contexts_allowing(res_type, Action.READ)) | set(
            self.contexts_allowing(res_type, Action.SEARCH))
        return contexts == {"patient"}


def hub_caller() -> Caller:
    """Return the caller the hub's own work runs as: set it on `FhirRequest.caller`; it is never audited."""
    return Caller(HubItself())


def client_address(req: FhirRequest, forwarded_hops: int) -> str:
    """Return the client's IP address: the peer, or X-Forwarded-For past the trusted proxies."""
    if forwarded_hops > 0:
        hops = [h.strip() for h in (req.header("x-forwarded-for") or "").split(",") if h.strip()]
        if hops:
            return hops[-forwarded_hops] if len(hops) >= forwarded_hops else hops[0]
    return req.header(PEER_HEADER) or "unknown"


class PeerAddressMiddleware:
    """Copy the TCP peer's address into a header the guard trusts, dropping any the client sent."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite the headers of HTTP requests; pass everything else through."""
        if scope.get("type") == "http":
            client = scope.get("client")
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != PEER_HEADER.encode()]
            if client:
                headers.append((PEER_HEADER.encode(), str(client[0]).encode("latin-1")))
            scope = dict(scope)
            scope["headers"] = headers
        await self.app(scope, receive, send)
