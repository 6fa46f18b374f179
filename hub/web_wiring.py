"""Serve the hub's own pages under `/web/` and register them as public SMART clients.

The citizen pages and the clinician workspace are plain HTML, CSS and ES modules with no
build step, so a region can read, restyle and install them in an afternoon. They use only the
hub's public API (FHIR at `/fhir`, SMART at `/auth`, WebSockets at `/live`, `/api/...`): what
they do, an outside front end can do too. Like any browser app they are public clients (no
secret, PKCE), registered here so the embedded default needs no clients file; a clients file
that already names them wins, so a region can narrow their scopes or add redirect URIs.
https://hl7.org/fhir/smart-app-launch/app-launch.html#support-for-public-and-confidential-apps
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from adapters.idp.smart.clients import ClientRegistration, InMemoryClientRegistry
from adapters.idp.smart.services import AuthServices
from cases.principals import CARE_PURPOSE

log = logging.getLogger("ingang.web")
WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
WEB_PREFIX = "/web"
CITIZEN_START = f"{WEB_PREFIX}/citizen/"
CITIZEN_CLIENT_ID = "ingang-citizen"
CLINICIAN_CLIENT_ID = "ingang-clinician"
REGION_CLIENT_ID = "ingang-region"
# A region's administrators log in to the statistics page under commissions that are seldom for
# care; the page reads no patient data, and the statistics API itself asks for the right.
ADMINISTRATION_PURPOSES = (CARE_PURPOSE, "Administration", "Statistik", "Uppföljning", "Kvalitetssäkring")
# The pages are served from the hub's own origin; nothing here may be framed or run foreign script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
}
# Only what a browser needs; the folder is also a Python package, whose files are not for serving.
SERVED_SUFFIXES = frozenset({"", ".html", ".css", ".js", ".json", ".svg", ".png", ".ico", ".webmanifest"})


class WebPages(StaticFiles):
    """Static files with the pages' security headers, revalidated on every load."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """Serve one file, adding the headers that keep the pages to their own origin."""
        if Path(path).suffix.lower() not in SERVED_SUFFIXES:
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        # A region that changes a page must not wait for browsers' caches to notice.
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def page_clients(issuer: str) -> tuple[ClientRegistration, ...]:
    """Return the pages' public client registrations for a hub at `issuer` (its origin)."""
    base = issuer.rstrip("/")
    return (
        ClientRegistration(
            client_id=CITIZEN_CLIENT_ID, auth_method="none", name="1177 direkt (Ingång)",
            redirect_uris=(f"{base}{WEB_PREFIX}/citizen/",), login="citizen",
            scope="openid fhirUser launch/patient patient/*.cruds offline_access",
        ),
        ClientRegistration(
            client_id=CLINICIAN_CLIENT_ID, auth_method="none", name="Ingång arbetsyta",
            redirect_uris=(f"{base}{WEB_PREFIX}/clinician/",), login="clinician",
            scope="openid fhirUser launch user/*.cruds offline_access",
        ),
        ClientRegistration(
            client_id=REGION_CLIENT_ID, auth_method="none", name="Ingång statistik",
            redirect_uris=(f"{base}{WEB_PREFIX}/region/",), login="clinician",
            scope="openid fhirUser offline_access", commission_purposes=ADMINISTRATION_PURPOSES,
        ),
    )


def register_page_clients(auth: AuthServices) -> None:
    """Add the pages' clients to the registry, unless the clients file already names them."""
    registry = auth.clients
    if not isinstance(registry, InMemoryClientRegistry):
        log.warning("the client registry is not the hub's own; the web pages' clients are not registered")
        return
    for client in page_clients(auth.settings.issuer):
        if registry.get(client.client_id) is None:
            registry.add(client)


def mount_web(app: FastAPI, auth: AuthServices) -> None:
    """Serve `web/` at `/web/` and let the pages log people in."""
    register_page_clients(auth)
    app.mount(WEB_PREFIX, WebPages(directory=WEB_ROOT, html=True, follow_symlink=False), name="web")
