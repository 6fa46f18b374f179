"""Run the test OpenID provider (tests/fixtures/oidc-provider, Node.js) and play the browser for it.

`npm ci` runs when node_modules is missing or older than the lock file. Without node and npm the
tests that need the provider are skipped on a developer's machine, and fail in CI (CI=true),
where they must run. Nothing here starts at import; the fixtures call `start_provider`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest

from adapters.idp.oidc import OidcRelyingParty, OidcSettings, VerifiedLogin
from tests.processes import free_port

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "oidc-provider"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CLIENT_ID = "ingang-hub"
CLIENT_SECRET = "ingang-hub-secret"
REDIRECT_URI = "http://127.0.0.1:8080/auth/callback"
SITHS_SCOPES = ("openid", "profile", "siths")


def node_and_npm() -> tuple[str, str]:
    """Return the node and npm executables, or skip (locally) or fail (in CI) without them."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node, npm
    if IN_CI:
        pytest.fail("node and npm are required in CI: the login tests run against a real OpenID provider")
    pytest.skip("node and npm are not installed; the tests against a real OpenID provider need them")


def install_provider(npm: str) -> None:
    """Run `npm ci` for the provider unless its node_modules is already up to date."""
    marker = FIXTURE_DIR / "node_modules" / ".package-lock.json"
    lock = FIXTURE_DIR / "package-lock.json"
    # One install at a time, also across pytest-xdist workers.
    with open(Path(tempfile.gettempdir()) / "ingang-oidc-provider-npm.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
            return
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FIXTURE_DIR, capture_output=True,
                              text=True, timeout=600, check=False)
        if done.returncode != 0:
            pytest.fail(f"npm ci for the test OpenID provider failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def private_key_set(kid: str) -> dict[str, Any]:
    """Return a private RSA JWK set, so two providers can sign with the same key."""
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})
    return {"keys": [key.as_dict(private=True)]}


@dataclass
class RunningProvider:
    """A test OpenID provider process, its issuer, and how to reach its test-only controls."""

    issuer: str
    process: subprocess.Popen[bytes]
    log: Path
    relying_parties: list[OidcRelyingParty] = field(default_factory=list)

    def settings(self, **overrides: Any) -> OidcSettings:
        """Return relying party settings for the hub's client at this provider."""
        values: dict[str, Any] = {"issuer": self.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                  "redirect_uri": REDIRECT_URI, "http_timeout": 10.0}
        values.update(overrides)
        return OidcSettings(**values)

    def relying_party(self, **overrides: Any) -> OidcRelyingParty:
        """Return a fresh relying party (empty caches) for this provider; closed on stop."""
        rp = OidcRelyingParty(self.settings(**overrides))
        self.relying_parties.append(rp)
        return rp

    def rotate_keys(self) -> str:
        """Make the provider sign with a new key from now on; return its key id."""
        kid: str = httpx.post(self.issuer + "/_test/rotate-keys", timeout=30).json()["kid"]
        return kid

    def stop(self) -> None:
        """Stop the provider process and close the relying parties made for it."""
        for rp in self.relying_parties:
            rp.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_provider(workdir: Path, accounts: dict[str, Any], *, keys: dict[str, Any] | None = None) -> RunningProvider:
    """Start the provider on a free port with these accounts (and keys), and wait until it answers."""
    node, npm = node_and_npm()
    install_provider(npm)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PORT": str(port), "OP_ISSUER": issuer, "OP_REDIRECT_URIS": REDIRECT_URI,
           "OP_CLIENT_ID": CLIENT_ID, "OP_CLIENT_SECRET": CLIENT_SECRET,
           "OP_ACCOUNTS": str(workdir / "accounts.json")}
    (workdir / "accounts.json").write_text(json.dumps(accounts), encoding="utf-8")
    if keys is not None:
        (workdir / "keys.json").write_text(json.dumps(keys), encoding="utf-8")
        env["OP_KEYS"] = str(workdir / "keys.json")
    log = workdir / "provider.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([node, "server.js"], cwd=FIXTURE_DIR, stdout=out, stderr=subprocess.STDOUT, env=env)
    running = RunningProvider(issuer=issuer, process=process, log=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the test OpenID provider exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(issuer + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    running.stop()
    pytest.fail(f"the test OpenID provider did not answer within 30 s:\n{log.read_text()[-3000:]}")


def authorize(url: str) -> dict[str, str]:
    """Play a fresh browser: follow the provider's redirects until it sends the browser back."""
    with httpx.Client(timeout=10) as browser:
        for _ in range(12):
            response = browser.get(url)
            location = response.headers.get("location")
            if response.status_code not in (302, 303) or not location:
                raise AssertionError(f"the provider answered {response.status_code}: {response.text[:500]}")
            url = urljoin(str(response.url), location)
            if url.startswith(REDIRECT_URI):
                return dict(parse_qsl(urlsplit(url).query))
    raise AssertionError("the provider never sent the browser back to the hub")


def login(rp: OidcRelyingParty, login_hint: str) -> VerifiedLogin:
    """Log the account named by login_hint in through the whole code flow."""
    redirect = rp.begin_login(login_hint=login_hint)
    return rp.finish_login(redirect.pending, authorize(redirect.url))
