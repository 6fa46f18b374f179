"""The BankID page's pieces a browser judges: a QR code it can draw.

Why: the QR code was served as SVG markup for inlining, without the SVG namespace, which a
browser does not draw as an image at all: the citizen saw no QR code. The browser test
(tests/e2e/web/test_citizen_bankid.py) shows the whole login; these pin the markup itself.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hub.auth.bankid_pages import qr_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_qr_svg__is_an_svg_document_of_its_own_with_the_svg_namespace() -> None:
    svg = qr_svg("bankid.67df3917-fa0d-44e5-b327-edcc928297f8.0.dc69358e712458a66a7525beef148ae8526b1c71")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert int(root.attrib["width"]) == int(root.attrib["height"]) >= 100
    assert root.find(f".//{SVG}path") is not None
