"""Serve the SMART authorization server over HTTP: discovery, JWKS, authorize, callback, token, launch.

The logic is in `adapters.idp.smart`; this module only reads requests and writes responses:
form bodies, redirects, the login cookie, RFC 6749 JSON errors on the token endpoint, and
OperationOutcomes on the launch endpoint (which is part of the hub's API, not of OAuth).
Handlers run the logic in a thread, since stores and login backends block.
https://hl7.org/fhir/smart-app-launch/app-launch.html
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from adapters.idp.smart import discovery
from adapters.idp.smart.authorize import AuthorizeError, begin_authorization, create_launch, finish_login
from adapters.idp.smart.oauth import OAuthError
from adapters.idp.smart.services import (
    AUTHORIZE_PATH,
    CALLBACK_PATH,
    DEV_LOGIN_PATH,
    JWKS_PATH,
    LAUNCH_PATH,
    TOKEN_PATH,
    AuthServices,
)
from adapters.idp.smart.token import token_response
from fhir_api.outcomes import BadRequest, FhirError, internal_error
from hub.auth.choice_page import choice_routes
from hub.auth.dev_login_page import dev_login_page
from hub.auth.forms import read_body, read_form, single

log = logging.getLogger("ingang.auth")
LOGIN_COOKIE = "ingang_login"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Browser apps fetch discovery, keys and tokens cross-origin (SMART public clients).
OPEN = {"Access-Control-Allow-Origin": "*"}


def _error_page(error: str, description: str, status: int = 400) -> HTMLResponse:
    body = (f"<!doctype html><html lang='sv'><meta charset='utf-8'><title>Inloggningen kunde inte göras</title>"
            f"<h1>Inloggningen kunde inte göras</h1><p>{html.escape(description)}</p>"
            f"<p><code>{html.escape(error)}</code></p></html>")
    return HTMLResponse(body, status_code=status, headers=NO_STORE)


def _authorize_failure(services: AuthServices, exc: AuthorizeError, status: int) -> Response:
    url = exc.redirect_url(services.settings.issuer)
    if url is None:
        return _error_page(exc.error, exc.description)
    return RedirectResponse(url, status_code=status, headers=NO_STORE)


def build_routes(services: AuthServices, *, dev_login: bool) -> list[Route]:
    """Return the authorization server's routes, bound to one set of services."""
    settings = services.settings

    async def smart_configuration(request: Request) -> Response:
        return JSONResponse(discovery.smart_configuration(settings), headers=OPEN)

    async def openid_configuration(request: Request) -> Response:
        return JSONResponse(discovery.openid_configuration(settings), headers=OPEN)

    async def jwks(request: Request) -> Response:
        return JSONResponse(services.tokens.keys.jwks(), headers={**OPEN, "Cache-Control": "public, max-age=300"})

    async def authorize(request: Request) -> Response:
        status = 303 if request.method == "POST" else 302
        try:
            params = await read_form(request) if request.method == "POST" else single(request.query_params.multi_items())
        except ValueError as exc:
            return _error_page("invalid_request", str(exc))
        try:
            start = await run_in_threadpool(begin_authorization, services, params)
        except AuthorizeError as exc:
            return _authorize_failure(services, exc, status)
        response = RedirectResponse(start.redirect_url, status_code=status, headers=NO_STORE)
        response.set_cookie(LOGIN_COOKIE, start.login_id, max_age=int(settings.login_ttl.total_seconds()),
                            path="/auth", httponly=True, samesite="lax",
                            secure=settings.issuer.startswith("https://"))
        return response

    async def callback(request: Request) -> Response:
        status = 303 if request.method == "POST" else 302
        try:
            params = await read_form(request) if request.method == "POST" else single(request.query_params.multi_items())
        except ValueError as exc:
            return _error_page("invalid_request", str(exc))
        login_id = request.cookies.get(LOGIN_COOKIE)
        try:
            step = await run_in_threadpool(finish_login, services, login_id, params)
        except AuthorizeError as exc:
            response = _authorize_failure(services, exc, status)
            response.delete_cookie(LOGIN_COOKIE, path="/auth")
            return response
        response = RedirectResponse(step.url, status_code=status, headers=NO_STORE)
        if step.done:
            # A login waiting on the choice page still needs its cookie to find the choice.
            response.delete_cookie(LOGIN_COOKIE, path="/auth")
        return response

    async def token(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        try:
            try:
                form = await read_form(request)
            except ValueError as exc:
                raise OAuthError("invalid_request", str(exc)) from None
            body = await run_in_threadpool(token_response, services, form, authorization)
        except OAuthError as exc:
            headers = {**NO_STORE, **OPEN}
            if exc.status == 401 and authorization:
                headers["WWW-Authenticate"] = 'Basic realm="ingang"'
            return JSONResponse(exc.as_json(), status_code=exc.status, headers=headers)
        except Exception:
            correlation, _ = internal_error()
            log.exception("token endpoint failed, correlation id %s", correlation)
            return JSONResponse({"error": "server_error",
                                 "error_description": f"Internal error. Correlation id: {correlation}"},
                                status_code=500, headers=NO_STORE)
        return JSONResponse(body, headers={**NO_STORE, **OPEN})

    async def launch(request: Request) -> Response:
        try:
            caller = services.tokens.verify_authorization(request.headers.get("authorization"), now=services.clock())
            body = await _launch_body(request)
            result = await run_in_threadpool(create_launch, services, caller, body)
        except FhirError as exc:
            return JSONResponse(exc.outcome(), status_code=exc.status, headers=exc.headers,
                                media_type="application/fhir+json")
        return JSONResponse(result, status_code=201, headers=NO_STORE)

    routes = [
        Route("/.well-known/smart-configuration", smart_configuration, methods=["GET"]),
        Route("/fhir/.well-known/smart-configuration", smart_configuration, methods=["GET"]),
        Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route(JWKS_PATH, jwks, methods=["GET"]),
        Route(AUTHORIZE_PATH, authorize, methods=["GET", "POST"]),
        Route(CALLBACK_PATH, callback, methods=["GET", "POST"]),
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(LAUNCH_PATH, launch, methods=["POST"]),
        *choice_routes(services, LOGIN_COOKIE),
    ]
    if dev_login:
        routes.append(Route(DEV_LOGIN_PATH, dev_login_page(services, _error_page), methods=["GET"]))
    return routes


async def _launch_body(request: Request) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        raw = await read_body(request)
    except ValueError as exc:
        raise BadRequest(f"The launch request is too large: {exc}") from None
    try:
        if media == "application/x-www-form-urlencoded":
            return single(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON or form data: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object with 'patient' and optionally 'encounter'")
    return data
