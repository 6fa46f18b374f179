"""Serve the dev login page: choose a test person instead of BankID or SITHS. Development mode only.

Why a list and not only a form: a region trying the hub for the first time should be able to
log in as the demo parent, nurse or administrator with one click, and then meet the same steps
a real login has (choose a child, choose a commission), since the chosen person's claims go
through the real mappers. Any other principal can still be typed as JSON, for tests.
https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from adapters.idp.dev.people import DevCitizen, DevClinician, DevDirectory
from adapters.idp.smart.login import CITIZEN, DevLoginBackend
from adapters.idp.smart.services import CALLBACK_PATH, AuthServices

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
EXAMPLES = {
    "citizen": {"kind": "citizen", "person_id": "191212121212", "given_name": "Tolvan", "family_name": "Tolvansson"},
    "clinician": {"kind": "clinician", "employee_hsa_id": "SE2321000016-1003",
                  "commission": {"commission_hsa_id": "SE2321000016-9001", "care_unit_hsa_id": "SE2321000016-15CQ",
                                 "care_provider_hsa_id": "SE2321000016-0001"},
                  "given_name": "Doris", "family_name": "Doktor", "profession": "Läkare"},
}


def _directory(services: AuthServices) -> DevDirectory | None:
    for backend in services.logins.values():
        if isinstance(backend, DevLoginBackend):
            return backend.directory
    return None


def _person_button(person: DevCitizen | DevClinician) -> str:
    if isinstance(person, DevCitizen):
        user_id, name, detail = person.person_id, f"{person.given_name} {person.family_name}", person.person_id
    else:
        units = ", ".join(sorted({c.care_unit_name for c in person.commissions}))
        user_id, name = person.employee_hsa_id, f"{person.given_name} {person.family_name}"
        detail = f"{person.title} · {units}"
    described = f"p-{html.escape(user_id)}"
    return (f"<li><button type='submit' name='person' value='{html.escape(user_id)}' class='full secondary' "
            f"aria-describedby='{described}'>{html.escape(name)}</button>"
            f"<p class='hint' id='{described}'>{html.escape(detail)}</p></li>")


def render_dev_login(directory: DevDirectory | None, purpose: str, client: str) -> str:
    """Return the page: the test people for this kind of login, then a form for any principal."""
    people: list[DevCitizen | DevClinician] = []
    if directory is not None:
        people = list(directory.citizens) if purpose == CITIZEN else list(directory.clinicians)
    who = "testperson" if purpose == CITIZEN else "testanvändare med SITHS-kort"
    listed = (f"<h2>Välj {who}</h2><form method='get' action='{CALLBACK_PATH}'><ul class='stack plain' role='list'>"
              f"{''.join(_person_button(p) for p in people)}</ul></form>") if people else ""
    example = json.dumps(EXAMPLES.get(purpose, EXAMPLES[CITIZEN]), ensure_ascii=False, indent=2)
    return ("<!doctype html><html lang='sv'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'><title>Dev-inloggning</title>"
            "<link rel='stylesheet' href='/web/static/base.css'></head><body><main>"
            f"<h1>Dev-inloggning</h1><p class='notice'>Endast för utveckling och test: i stället för "
            f"{'BankID' if purpose == CITIZEN else 'SITHS'} väljer du vem du är. "
            f"Inloggning till {html.escape(client)}.</p>{listed}"
            "<h2>Annan person</h2><form method='get' action='" + CALLBACK_PATH + "' class='stack'>"
            "<label for='principal'>Vem du är, som JSON</label>"
            f"<textarea id='principal' name='principal' rows='12'>{html.escape(example)}</textarea>"
            "<button type='submit'>Logga in</button></form></main></body></html>")


def dev_login_page(services: AuthServices,
                   error_page: Callable[[str, str, int], HTMLResponse]) -> Callable[[Request], Any]:
    """Return the dev login page's handler."""

    async def page(request: Request) -> Response:
        if services.settings.production:
            return error_page("access_denied", "The dev login is off in production mode", 404)
        principal = request.query_params.get("principal")
        if principal:
            return RedirectResponse(f"{CALLBACK_PATH}?{request.url.query}", status_code=302)
        purpose = request.query_params.get("purpose", CITIZEN)
        client = request.query_params.get("client", "")
        return HTMLResponse(render_dev_login(_directory(services), purpose, client), headers=NO_STORE)

    return page
