"""Serve the page where a person who just logged in chooses whom they act as, or under which commission.

Plain HTML in Swedish (English with `?lang=en`), one button per option, no script: a parent
picks themselves or a child, a clinician one of the commissions the app accepts. The options
and the principals behind them are the hub's own (`adapters.idp.smart.choice`); the form only
sends the key of one of them, with the login cookie that names the login.
https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
"""

from __future__ import annotations

import html

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from adapters.idp.smart.authorize import AuthorizeError, finish_choice, login_options
from adapters.idp.smart.choice import LoginOption
from adapters.idp.smart.services import CHOOSE_PATH, AuthServices
from hub.auth.forms import read_form

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PAGE_HEADERS = {**NO_STORE, "Content-Security-Policy": (
    "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")}
TEXT = {
    "sv": {"title": "Vem gäller det?", "staff_title": "Välj uppdrag",
           "lead": "Du kan söka vård för dig själv eller för ett barn du är vårdnadshavare för.",
           "staff_lead": "Du har flera medarbetaruppdrag. Välj det du ska arbeta under nu.",
           "self": "Mig själv", "child": "Mitt barn", "born": "född", "other_lang": "In English",
           "gone": "Inloggningen har gått ut eller gjorts klart redan. Gå tillbaka till tjänsten och logga in igen.",
           "failed": "Inloggningen kunde inte göras"},
    "en": {"title": "Who is it for?", "staff_title": "Choose a commission",
           "lead": "You can seek care for yourself or for a child you are the guardian of.",
           "staff_lead": "You have several commissions. Choose the one to work under now.",
           "self": "Myself", "child": "My child", "born": "born", "other_lang": "På svenska",
           "gone": "The login has expired or is already finished. Go back to the service and log in again.",
           "failed": "The login could not be completed"},
}


def _lang(request: Request) -> str:
    return "en" if request.query_params.get("lang", "").lower().startswith("en") else "sv"


def _option_text(option: LoginOption, lang: str) -> tuple[str, str]:
    """Return an option's button text and the line under it."""
    t = TEXT[lang]
    if option.kind == "self":
        return t["self"], option.name
    if option.kind == "child":
        detail = f"{t['born']} {option.detail}" if option.detail else ""
        return option.name or t["child"], ", ".join(p for p in (t["child"], detail) if p)
    return option.name, f"{option.purpose} · {option.detail}"


def render_choice(options: list[LoginOption], lang: str) -> str:
    """Return the choice page: a heading, a lead and one submit button per option."""
    t = TEXT[lang]
    staff = any(o.kind == "commission" for o in options)
    title, lead = (t["staff_title"], t["staff_lead"]) if staff else (t["title"], t["lead"])
    buttons = []
    for option in options:
        text, detail = _option_text(option, lang)
        described = f"opt-{html.escape(option.key)}-detail"
        buttons.append(
            f"<li><button type='submit' name='choice' value='{html.escape(option.key)}' class='full' "
            f"aria-describedby='{described}'>{html.escape(text)}</button>"
            f"<p class='hint' id='{described}'>{html.escape(detail)}</p></li>")
    other = "sv" if lang == "en" else "en"
    return (f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title><link rel='stylesheet' href='/web/static/base.css'></head>"
            f"<body><main><h1>{title}</h1><p>{lead}</p>"
            f"<form method='post' action='{CHOOSE_PATH}?lang={lang}'><ul class='stack plain' role='list'>{''.join(buttons)}</ul></form>"
            f"<p><a href='{CHOOSE_PATH}?lang={other}' lang='{other}'>{TEXT[lang]['other_lang']}</a></p>"
            "</main></body></html>")


def _gone(lang: str) -> HTMLResponse:
    t = TEXT[lang]
    return HTMLResponse(f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'><title>{t['failed']}"
                        "</title><link rel='stylesheet' href='/web/static/base.css'></head><body><main>"
                        f"<h1>{t['failed']}</h1><p role='alert'>{t['gone']}</p></main></body></html>",
                        status_code=400, headers=PAGE_HEADERS)


def choice_routes(services: AuthServices, login_cookie: str) -> list[Route]:
    """Return the choice page's routes; the login id comes from the login cookie."""

    async def page(request: Request) -> Response:
        lang = _lang(request)
        options = await run_in_threadpool(login_options, services, request.cookies.get(login_cookie))
        if not options:
            return _gone(lang)
        return HTMLResponse(render_choice(options, lang), headers=PAGE_HEADERS)

    async def choose(request: Request) -> Response:
        lang = _lang(request)
        try:
            key = (await read_form(request)).get("choice", "")
        except ValueError:
            return _gone(lang)
        try:
            url = await run_in_threadpool(finish_choice, services, request.cookies.get(login_cookie), key)
        except AuthorizeError as exc:
            target = exc.redirect_url(services.settings.issuer)
            if target is None:
                return _gone(lang)
            url = target
        response = RedirectResponse(url, status_code=303, headers=NO_STORE)
        response.delete_cookie(login_cookie, path="/auth")
        return response

    return [Route(CHOOSE_PATH, page, methods=["GET"]), Route(CHOOSE_PATH, choose, methods=["POST"])]
