"""The BankID page's pieces a browser judges: a QR code it can draw, the service's look, a way to English.

Why: the QR code was served as SVG markup for inlining, without the SVG namespace, which a
browser does not draw as an image at all: the citizen saw no QR code. The browser test
(tests/e2e/web/test_citizen_bankid.py) shows the whole login; these pin the markup itself.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from adapters.idp.bankid.browser import PageState
from adapters.idp.bankid.messages import failed_message, pending_message
from hub.auth.bankid_pages import BANKID_PAGE_PATH, STYLESHEET, qr_svg, render_page

SVG = "{http://www.w3.org/2000/svg}"


def test_qr_svg__is_an_svg_document_of_its_own_with_the_svg_namespace() -> None:
    svg = qr_svg("bankid.67df3917-fa0d-44e5-b327-edcc928297f8.0.dc69358e712458a66a7525beef148ae8526b1c71")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert int(root.attrib["width"]) == int(root.attrib["height"]) >= 100
    assert root.find(f".//{SVG}path") is not None


def test_render_page__pending_page_has_the_service_stylesheet_and_a_link_to_the_other_language() -> None:
    state = PageState("pending", pending_message("outstandingTransaction"), "outstandingTransaction",
                      qr_data="bankid.x.0.y", app_link="bankid:///?autostarttoken=t&redirect=null")
    swedish, english = render_page(state, "sv"), render_page(state, "en")
    assert f"<link rel='stylesheet' href='{STYLESHEET}'>" in swedish
    assert f"<a href='{BANKID_PAGE_PATH}?lang=en' lang='en'>In English</a>" in swedish
    assert f"<a href='{BANKID_PAGE_PATH}?lang=sv' lang='sv'>På svenska</a>" in english
    assert "<html lang='en'>" in english and "Log in with BankID" in english


def test_render_page__failed_page_says_why_and_offers_to_try_again_or_cancel() -> None:
    page = render_page(PageState("failed", failed_message("userCancel"), "userCancel"), "sv")
    assert failed_message("userCancel").sv in page and "role='alert'" in page
    assert f"action='{BANKID_PAGE_PATH}/retry?lang=sv'" in page and f"action='{BANKID_PAGE_PATH}/cancel?lang=sv'" in page
    assert "id='qr'" not in page
