"""The hub serves its pages under /web with a strict policy, and lets them log people in.

No browser here: plain HTTP against the running hub, and the client registration on its own.
https://hl7.org/fhir/smart-app-launch/app-launch.html#support-for-public-and-confidential-apps
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from adapters.idp.smart.clients import ClientRegistration, InMemoryClientRegistry
from hub.auth.wiring import build_auth_services
from hub.web_wiring import CITIZEN_CLIENT_ID, CLINICIAN_CLIENT_ID, register_page_clients
from tests.e2e.web.conftest import WebHub

pytestmark = pytest.mark.e2e


def test_root__redirects_to_the_citizen_start_page(web_hub: WebHub) -> None:
    response = httpx.get(web_hub.url("/"), follow_redirects=False)
    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/web/citizen/"


def test_citizen_page__is_served_with_a_policy_that_keeps_it_to_its_own_origin(web_hub: WebHub) -> None:
    response = httpx.get(web_hub.url("/web/citizen/"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<html lang="sv">' in response.text


def test_web_folder__serves_no_python_source(web_hub: WebHub) -> None:
    assert httpx.get(web_hub.url("/web/__init__.py")).status_code == 404
    assert httpx.get(web_hub.url("/web/static/api.js")).status_code == 200


def test_citizen_client__may_start_a_login_with_pkce_and_only_back_to_its_own_page(web_hub: WebHub) -> None:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 48).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": CITIZEN_CLIENT_ID, "scope": "openid launch/patient patient/*.rs",
              "state": "s", "aud": web_hub.url("/fhir"), "code_challenge": challenge,
              "code_challenge_method": "S256", "redirect_uri": web_hub.url("/web/citizen/")}
    started = httpx.get(web_hub.url("/auth/authorize"), params=params, follow_redirects=False)
    assert started.status_code == 302, started.text
    assert urlsplit(started.headers["location"]).path == "/auth/dev/login"

    elsewhere = httpx.get(web_hub.url("/auth/authorize"), params={**params, "redirect_uri": "http://127.0.0.1:9/cb"},
                          follow_redirects=False)
    assert elsewhere.status_code == 400
    assert "is not registered for client" in elsewhere.text


def test_page_clients__are_registered_unless_the_clients_file_names_them() -> None:
    services = build_auth_services(fhir_base_url="https://hub.example.se/fhir", mode="development",
                                   access_token_ttl=timedelta(minutes=5))
    region_own = ClientRegistration(client_id=CITIZEN_CLIENT_ID, auth_method="none",
                                    redirect_uris=("https://1177.example.se/cb",), scope="openid", login="citizen")
    services.clients = InMemoryClientRegistry([region_own])
    register_page_clients(services)
    assert services.clients.get(CITIZEN_CLIENT_ID) is region_own
    clinician = services.clients.get(CLINICIAN_CLIENT_ID)
    assert clinician is not None and clinician.is_public
    assert clinician.redirect_uris[0] == "https://hub.example.se/web/clinician/"
