"""Start one real OpenID provider (Node.js oidc-provider) for the session's login tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.idp.dev import demo_directory
from tests.integration.idp.op_process import RunningProvider, private_key_set, start_provider

SHARED_KID = "shared-test-key"


@pytest.fixture(scope="session")
def shared_keys() -> dict[str, object]:
    """Return the private key set both test providers sign with, so only their issuers differ."""
    return private_key_set(SHARED_KID)


@pytest.fixture(scope="session")
def openid_provider(tmp_path_factory: pytest.TempPathFactory, shared_keys: dict[str, object]) -> Iterator[RunningProvider]:
    """Run the test OpenID provider with the dev IdP's people as its accounts."""
    provider = start_provider(tmp_path_factory.mktemp("op"), demo_directory().op_accounts(), keys=shared_keys)
    yield provider
    provider.stop()
