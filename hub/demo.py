"""Load the demo regions, units, staff and citizens into the embedded default.

The demo is a transaction Bundle of conditional creates keyed by HSA-id or personnummer, so
loading it again on every start changes nothing. It goes through the FHIR server like any
client's Bundle would, so it is validated the same way.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from fhir_api.messages import FhirRequest

if TYPE_CHECKING:
    from hub.app import Hub

HSA = "urn:oid:1.2.752.29.4.19"
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"


def demo_bundle() -> dict[str, Any]:
    """Return the demo data as a transaction Bundle of conditional creates."""
    raw = resources.files("hub.demo_data").joinpath("demo.json").read_text(encoding="utf-8")
    items: list[dict[str, Any]] = json.loads(raw)
    entries = []
    for item in items:
        resource = item["resource"]
        ident = resource["identifier"][0]
        entries.append({
            "fullUrl": item["fullUrl"],
            "resource": resource,
            "request": {
                "method": "POST",
                "url": resource["resourceType"],
                "ifNoneExist": f"identifier={ident['system']}|{ident['value']}",
            },
        })
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def load_demo_data(hub: Hub) -> None:
    """Create whatever of the demo data is not there yet."""
    hub.fhir.handle(FhirRequest(method="POST", path="", body=demo_bundle(), base_url=""))
