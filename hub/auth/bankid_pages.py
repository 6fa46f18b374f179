"""Serve the citizen's BankID login page: the animated QR code, the app link, the messages, cancel.

Plain HTML in Swedish, or English with `?lang=en` or the language the citizen chose on the
citizen pages (the `ingang_lang` cookie they set before sending the browser here), dressed in
the citizen pages' stylesheet so the login looks part of the service. Readable without scripts:
without JavaScript the page reloads itself every two seconds, and each load collects once and
draws a fresh QR code; with JavaScript a few lines swap the QR image every second and poll the
status every two seconds, as BankID's guidelines ask. The flow itself is
`adapters.idp.bankid.browser`; this module only turns its `PageState` into HTML, JSON, an SVG
and redirects.
https://developers.bankid.com/how-to-guides/qr-code
"""

from __future__ import annotations

import html
import io
from typing import Any

import segno
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from adapters.idp.bankid.browser import BankIdBrowserLogin, PageState

BANKID_PAGE_PATH = "/auth/bankid"
# Set by the citizen pages (web/citizen/app.js) when they send the browser to log in.
LANG_COOKIE = "ingang_lang"
STYLESHEET = "/web/static/base.css"
OTHER_LANGUAGE = {"sv": ("en", "In English"), "en": ("sv", "På svenska")}
RELOAD_WITHOUT_SCRIPTS = "<noscript><meta http-equiv='refresh' content='2'></noscript>"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TEXT = {
    "sv": {"title": "Logga in med BankID", "qr": "QR-kod att läsa av med BankID-appen",
           "scan": "Starta BankID-appen i din mobil och tryck på QR-symbolen. Rikta kameran mot QR-koden.",
           "open": "Öppna BankID på den här enheten", "cancel": "Avbryt", "retry": "Försök igen",
           "failed": "Inloggningen kunde inte göras", "back": "Gå tillbaka till tjänsten och börja om."},
    "en": {"title": "Log in with BankID", "qr": "QR code to scan with the BankID app",
           "scan": "Start the BankID app on your phone and tap the QR symbol. Point the camera at the QR code.",
           "open": "Open BankID on this device", "cancel": "Cancel", "retry": "Try again",
           "failed": "The login could not be completed", "back": "Go back to the service and start again."},
}
# Polls the status every two seconds and swaps the QR image every second; the no-JS page reloads.
# Served as a file of its own, so the page's Content-Security-Policy needs no inline script.
SCRIPT = """(function () {
  var base = "%(base)s", lang = document.documentElement.lang === "en" ? "en" : "sv";
  var qr = document.getElementById("qr"), msg = document.getElementById("message");
  var same = false, link = document.getElementById("open-app");
  if (link) { link.addEventListener("click", function () { same = true; }); }
  var qrTimer = setInterval(function () { if (qr) { qr.src = base + "/qr.svg?t=" + Date.now(); } }, 1000);
  function poll() {
    fetch(base + "/status?lang=" + lang + (same ? "&same_device=1" : ""), {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (msg && s.message) { msg.textContent = s.message; }
        if (s.status === "complete") { clearInterval(qrTimer); window.location.assign(s.next); return; }
        if (s.status !== "pending") { clearInterval(qrTimer); window.location.reload(); return; }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
"""
# Only the hub's own script, image and status calls; no framing of a login page.
PAGE_HEADERS = {**NO_STORE, "Content-Security-Policy": (
    "default-src 'none'; script-src 'self'; img-src 'self'; connect-src 'self'; style-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'")}


def _lang(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE, "")
    return "en" if asked.lower().startswith("en") else "sv"


def _address(request: Request) -> str:
    # BankID wants the citizen's address as the hub's TCP peer sees it (endUserIp).
    return request.client.host if request.client else "127.0.0.1"


def qr_svg(data: str) -> str:
    """Return the QR code as an SVG document, black on white with the quiet zone BankID's apps need.

    A document of its own, with the SVG namespace: served as image/svg+xml, markup for inlining
    (which leaves the namespace out) is not an image to a browser, and the QR code never shows.
    """
    out = io.BytesIO()
    segno.make(data, error="l").save(out, kind="svg", xmldecl=False, svgns=True, nl=False, scale=5, border=4,
                                     dark="#000", light="#fff")
    return out.getvalue().decode("utf-8")


def _head(title: str, lang: str, extra: str = "") -> str:
    return (f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title><link rel='stylesheet' href='{STYLESHEET}'>{extra}</head>")


def _language_link(lang: str) -> str:
    other, name = OTHER_LANGUAGE[lang]
    return f"<p><a href='{BANKID_PAGE_PATH}?lang={other}' lang='{other}'>{name}</a></p>"


def render_page(state: PageState, lang: str) -> str:
    """Return the HTML of the pending or failed page."""
    t = TEXT[lang]
    message = html.escape(state.message.text(lang))
    cancel = (f"<form method='post' action='{BANKID_PAGE_PATH}/cancel?lang={lang}'>"
              f"<button type='submit' class='secondary full'>{t['cancel']}</button></form>")
    if state.status == "failed":
        return (f"{_head(t['failed'], lang)}<body><main><section class='card stack'><h1>{t['failed']}</h1>"
                f"<p id='message' class='notice error' role='alert'>{message}</p>"
                f"<form method='post' action='{BANKID_PAGE_PATH}/retry?lang={lang}'>"
                f"<button type='submit' class='full'>{t['retry']}</button></form>{cancel}"
                f"{_language_link(lang)}</section></main></body></html>")
    base = BANKID_PAGE_PATH
    return (f"{_head(t['title'], lang, RELOAD_WITHOUT_SCRIPTS)}<body><main><section class='card stack'><h1>{t['title']}</h1>"
            f"<p id='message' class='notice' role='status' aria-live='polite'>{message}</p>"
            f"<p>{t['scan']}</p>"
            f"<img id='qr' src='{base}/qr.svg' alt='{t['qr']}' width='200' height='200'>"
            f"<p><a id='open-app' class='button secondary full' href='{html.escape(state.app_link)}'>{t['open']}</a></p>"
            f"{cancel}{_language_link(lang)}<script src='{base}/page.js'></script></section></main></body></html>")


def _gone_page(state: PageState, lang: str) -> HTMLResponse:
    t = TEXT[lang]
    body = (f"{_head(t['failed'], lang)}<body><main><section class='card stack'><h1>{t['failed']}</h1>"
            f"<p class='notice error' role='alert'>{html.escape(state.message.text(lang))}</p>"
            "</section></main></body></html>")
    return HTMLResponse(body, status_code=400, headers=PAGE_HEADERS)


def build_bankid_routes(backend: BankIdBrowserLogin, login_cookie: str) -> list[Route]:
    """Return the BankID page's routes for one backend; the login id comes from the login cookie."""

    async def page(request: Request) -> Response:
        lang, login_id = _lang(request), request.cookies.get(login_cookie)
        same = request.query_params.get("same_device") == "1"
        state = await run_in_threadpool(backend.show, login_id, _address(request), same_device=same)
        if state.status == "complete":
            return RedirectResponse(state.next_url, status_code=303, headers=NO_STORE)
        if state.status == "gone":
            return _gone_page(state, lang)
        return HTMLResponse(render_page(state, lang), headers=PAGE_HEADERS)

    async def status(request: Request) -> Response:
        lang, login_id = _lang(request), request.cookies.get(login_cookie)
        same = request.query_params.get("same_device") == "1"
        state = await run_in_threadpool(backend.collect, login_id, same_device=same)
        body: dict[str, Any] = {"status": state.status, "hintCode": state.hint_code,
                                "message": state.message.text(lang)}
        if state.next_url:
            body["next"] = state.next_url
        return JSONResponse(body, headers=NO_STORE)

    async def qr(request: Request) -> Response:
        data = await run_in_threadpool(backend.qr, request.cookies.get(login_cookie))
        if not data:
            return Response(status_code=404, headers=NO_STORE)
        return Response(qr_svg(data), media_type="image/svg+xml", headers=NO_STORE)

    async def retry(request: Request) -> Response:
        lang = _lang(request)
        state = await run_in_threadpool(backend.retry, request.cookies.get(login_cookie), _address(request))
        if state.status == "gone":
            return _gone_page(state, lang)
        return RedirectResponse(f"{BANKID_PAGE_PATH}?lang={lang}", status_code=303, headers=NO_STORE)

    async def cancel(request: Request) -> Response:
        url = await run_in_threadpool(backend.cancel, request.cookies.get(login_cookie))
        if url is None:
            return _gone_page(await run_in_threadpool(backend.collect, None), _lang(request))
        return RedirectResponse(url, status_code=303, headers=NO_STORE)

    async def script(request: Request) -> Response:
        return Response(SCRIPT % {"base": BANKID_PAGE_PATH}, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=300"})

    return [
        Route(BANKID_PAGE_PATH, page, methods=["GET"]),
        Route(f"{BANKID_PAGE_PATH}/page.js", script, methods=["GET"]),
        Route(f"{BANKID_PAGE_PATH}/status", status, methods=["GET"]),
        Route(f"{BANKID_PAGE_PATH}/qr.svg", qr, methods=["GET"]),
        Route(f"{BANKID_PAGE_PATH}/retry", retry, methods=["POST"]),
        Route(f"{BANKID_PAGE_PATH}/cancel", cancel, methods=["POST"]),
    ]
