"""Log a person in through an OpenID provider: authorization code flow with PKCE, state and nonce.

`begin_login` gives the URL to send the browser to and a `PendingLogin` the web layer keeps in
the browser's session (server-side or encrypted: it holds the PKCE verifier); `finish_login`
takes the query of the redirect back, checks that it belongs to that login, exchanges the code
and verifies the ID token. What comes out is a `VerifiedLogin` whose claims the mappers in
`claims.py` turn into a Principal; nothing past this adapter sees the claims.
https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
https://www.rfc-editor.org/rfc/rfc7636 (PKCE), https://www.rfc-editor.org/rfc/rfc9207 (iss)
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from adapters.idp.oidc.errors import (
    InvalidCallback,
    InvalidIdentityClaims,
    LoginCancelled,
    ProviderMisconfigured,
    ProviderUnavailable,
    TokenRequestRejected,
)
from adapters.idp.oidc.idtoken import ALLOWED_ALGS, verify_id_token
from adapters.idp.oidc.provider import Provider, ProviderMetadata, request_json

# Errors an OP sends back when the person (not the configuration) ended the login (Core §3.1.2.6).
USER_ENDED = {"access_denied", "login_required", "consent_required", "interaction_required",
              "account_selection_required"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class OidcSettings:
    """How the hub is registered with one OpenID provider, and how patient it is with it."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: tuple[str, ...] = ("openid",)
    claims_request: Mapping[str, Any] | None = None
    token_auth_method: str = "client_secret_basic"
    use_userinfo: bool = False
    clock_skew: float = 60.0
    http_timeout: float = 5.0
    login_max_age: float = 600.0
    metadata_max_age: float = 3600.0
    jwks_max_age: float = 3600.0
    jwks_refetch_cooldown: float = 60.0
    allowed_algs: tuple[str, ...] = ALLOWED_ALGS

    def __post_init__(self) -> None:
        if "openid" not in self.scopes:
            raise ValueError("the scopes must include 'openid'")
        unsafe = [a for a in self.allowed_algs if a not in ALLOWED_ALGS]
        if unsafe or not self.allowed_algs:
            raise ValueError(f"allowed_algs may only name {', '.join(ALLOWED_ALGS)}, not {unsafe}")
        if self.token_auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ValueError("token_auth_method must be client_secret_basic or client_secret_post")
        url = urlsplit(self.issuer)
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname in LOOPBACK_HOSTS):
            raise ValueError(f"the issuer must be an https URL (http only on loopback), not {self.issuer!r}")
        if min(self.http_timeout, self.login_max_age) <= 0 or self.clock_skew < 0:
            raise ValueError("timeouts must be positive and the clock skew not negative")


@dataclass(frozen=True)
class PendingLogin:
    """What ties the redirect back to the login this browser started; keep it in the session."""

    state: str
    nonce: str
    code_verifier: str
    started_at: float

    def to_dict(self) -> dict[str, Any]:
        """Return the pending login as JSON-ready values, for the session store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingLogin:
        """Read a pending login back from the session store."""
        try:
            return cls(state=str(data["state"]), nonce=str(data["nonce"]),
                       code_verifier=str(data["code_verifier"]), started_at=float(data["started_at"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidCallback("no login was started in this browser, or it was lost; start again") from None


@dataclass(frozen=True)
class LoginRedirect:
    """Where to send the browser, and what to remember until it comes back."""

    url: str
    pending: PendingLogin


@dataclass(frozen=True)
class VerifiedLogin:
    """The verified outcome of a login: who the provider says logged in, for the claim mappers."""

    issuer: str
    subject: str
    claims: Mapping[str, Any]
    id_token: str = field(repr=False)


class OidcRelyingParty:
    """The hub as a client of one OpenID provider; one instance serves every login, thread-safe."""

    def __init__(self, settings: OidcSettings, *, http: httpx.Client | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=settings.http_timeout, follow_redirects=False)
        self._clock = clock
        self.provider = Provider(
            settings.issuer, self._http, timeout=settings.http_timeout,
            metadata_max_age=settings.metadata_max_age, jwks_max_age=settings.jwks_max_age,
            jwks_refetch_cooldown=settings.jwks_refetch_cooldown)

    def close(self) -> None:
        """Close the HTTP client, if this relying party made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> OidcRelyingParty:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin_login(self, *, login_hint: str | None = None, prompt: str | None = None) -> LoginRedirect:
        """Return the provider's authorization URL for a new login and the state to keep for it."""
        s = self.settings
        pending = PendingLogin(state=generate_token(43), nonce=generate_token(43),
                               code_verifier=generate_token(64), started_at=self._clock())
        url = prepare_grant_uri(
            self.provider.metadata().authorization_endpoint, s.client_id, "code", s.redirect_uri,
            list(s.scopes), pending.state, nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.code_verifier), code_challenge_method="S256",
            login_hint=login_hint, prompt=prompt,
            claims=json.dumps(s.claims_request) if s.claims_request else None)
        return LoginRedirect(url=url, pending=pending)

    def finish_login(self, pending: PendingLogin, callback: Mapping[str, str]) -> VerifiedLogin:
        """Check the redirect back against the pending login, redeem the code, verify the ID token."""
        metadata = self.provider.metadata()
        code = self._check_callback(pending, callback, metadata)
        tokens = self._redeem(code, pending, metadata)
        access_token = tokens.get("access_token")
        access_token = access_token if isinstance(access_token, str) else None
        claims = verify_id_token(
            tokens["id_token"], provider=self.provider, client_id=self.settings.client_id,
            nonce=pending.nonce, now=self._clock(), clock_skew=self.settings.clock_skew,
            allowed_algs=self.settings.allowed_algs, access_token=access_token)
        if self.settings.use_userinfo and metadata.userinfo_endpoint and access_token:
            claims = {**self._userinfo(metadata.userinfo_endpoint, access_token, claims["sub"]), **claims}
        return VerifiedLogin(issuer=metadata.issuer, subject=claims["sub"],
                             claims=MappingProxyType(claims), id_token=tokens["id_token"])

    def _check_callback(self, pending: PendingLogin, callback: Mapping[str, str],
                        metadata: ProviderMetadata) -> str:
        state = callback.get("state")
        # Compare in constant time: the state is what stops another site's login being
        # completed in this browser (CSRF, Core §3.1.2.7).
        if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise InvalidCallback("the answer from the identity provider does not belong to the login "
                                  "this browser started; start again")
        if self._clock() - pending.started_at > self.settings.login_max_age:
            raise InvalidCallback(
                f"the login took longer than {self.settings.login_max_age / 60:g} minutes; start again")
        iss = callback.get("iss")
        # RFC 9207: an answer from another provider is a mix-up attack, not a login.
        if iss is not None and iss != metadata.issuer:
            raise InvalidCallback(f"the answer names the issuer {iss!r}, not {metadata.issuer!r}")
        if iss is None and metadata.issuer_in_response:
            raise InvalidCallback("the answer does not name its issuer, though the identity provider says it does")
        error = callback.get("error")
        if error in USER_ENDED:
            raise LoginCancelled(f"the identity provider ended the login ({error})")
        if error in ("server_error", "temporarily_unavailable"):
            raise ProviderUnavailable(f"the identity provider could not complete the login ({error})")
        if error:
            raise ProviderMisconfigured(f"the identity provider refused the login request ({error})")
        code = callback.get("code")
        if not code:
            raise InvalidCallback("the answer from the identity provider has no authorization code")
        return code

    def _redeem(self, code: str, pending: PendingLogin, metadata: ProviderMetadata) -> dict[str, Any]:
        s = self.settings
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": s.redirect_uri,
                "code_verifier": pending.code_verifier}
        auth: tuple[str, str] | None = None
        if s.token_auth_method == "client_secret_basic":
            # RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
            auth = (quote(s.client_id, safe=""), quote(s.client_secret, safe=""))
        else:
            form.update(client_id=s.client_id, client_secret=s.client_secret)
        status, body = request_json(self._http, "POST", metadata.token_endpoint, "token", s.http_timeout,
                                    data=form, auth=auth, headers={"Accept": "application/json"})
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"the token endpoint answered HTTP {status} without a JSON object")
        if status != 200:
            error = body.get("error", f"HTTP {status}")
            if error == "invalid_client":
                raise ProviderMisconfigured("the identity provider did not accept the hub's client credentials")
            raise TokenRequestRejected(f"the identity provider would not redeem the authorization code ({error})")
        if not isinstance(body.get("id_token"), str):
            raise TokenRequestRejected("the identity provider's token response has no ID token")
        return body

    def _userinfo(self, endpoint: str, access_token: str, subject: str) -> dict[str, Any]:
        status, body = request_json(self._http, "GET", endpoint, "userinfo", self.settings.http_timeout,
                                    headers={"Authorization": f"Bearer {access_token}"})
        if status != 200 or not isinstance(body, dict):
            raise ProviderUnavailable(f"the userinfo endpoint answered HTTP {status}")
        # Core §5.3.4: userinfo about another subject must not be mixed into this login.
        if body.get("sub") != subject:
            raise InvalidIdentityClaims("the userinfo answer is about another person than the ID token")
        return body
