"""Load the demo regions, units, staff, citizens and bookable times into the embedded default.

The directory is a transaction Bundle of conditional creates keyed by HSA-id or personnummer
(Schedules by a demo identifier), so loading it again on every start changes nothing. It goes
through the FHIR server like any client's Bundle would, so it is validated the same way.

Each demo Schedule (one per PractitionerRole: a nurse, doctor, psychologist or
physiotherapist at a unit) gets free Slots on weekdays, Swedish local time, for the 14 days
from the day the hub starts. The times are made here rather than stored in the JSON, so the
demo always has something to book. A Slot's id is made of its Schedule's identifier and its
local start, so a restart creates only the days that have come into the window, and a Slot a
clinician has booked stays busy.
https://hl7.org/fhir/R4/schedule.html, https://hl7.org/fhir/R4/slot.html
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

from cases.access import HubItself
from fhir_api.messages import FhirRequest
from fhir_api.outcomes import Conflict
from mappings.hsa import SWEDEN

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from fhir_api.server import FhirServer
    from hub.app import Hub

HSA = "urn:oid:1.2.752.29.4.19"
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
DEMO_SCHEDULE = "https://ingang.example/fhir/NamingSystem/demo-schedule"
WINDOW_DAYS = 14
log = logging.getLogger("ingang.demo")


def _items() -> list[dict[str, Any]]:
    raw = resources.files("hub.demo_data").joinpath("demo.json").read_text(encoding="utf-8")
    items: list[dict[str, Any]] = json.loads(raw)
    return items


def demo_bundle() -> dict[str, Any]:
    """Return the demo directory as a transaction Bundle of conditional creates."""
    entries = []
    for item in _items():
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


@dataclass(frozen=True)
class OpeningHours:
    """When a demo Schedule's times are: weekdays from `opens` to `closes`, `minutes` each."""

    identifier: str
    minutes: int
    opens: time
    closes: time

    def times(self, today: date, now: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Yield the (start, end) of the times from `today` for WINDOW_DAYS days that have not ended by `now`."""
        length = timedelta(minutes=self.minutes)
        for offset in range(WINDOW_DAYS):
            day = today + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            # Wall-clock arithmetic on an aware datetime: 08:00 stays 08:00 across a DST change.
            start, closes = datetime.combine(day, self.opens, SWEDEN), datetime.combine(day, self.closes, SWEDEN)
            while start + length <= closes:
                if start + length > now:
                    yield start, start + length
                start += length

    def slot_id(self, start: datetime) -> str:
        """Return the Slot's stable id: the Schedule's identifier and the local start.

        A FHIR id has at most 64 characters, so a demo Schedule's identifier takes at most 46.
        """
        return f"demo-{self.identifier}-{start.astimezone(SWEDEN):%Y%m%d%H%M}"


def opening_hours() -> list[OpeningHours]:
    """Return the opening hours of the demo Schedules, as the JSON's `slots` beside each gives them."""
    hours = []
    for item in _items():
        resource, slots = item["resource"], item.get("slots")
        if resource["resourceType"] == "Schedule" and slots:
            hours.append(OpeningHours(resource["identifier"][0]["value"], int(slots["minutes"]),
                                      time.fromisoformat(slots["from"]), time.fromisoformat(slots["until"])))
    return hours


def _slot(schedule_id: str, schedule: dict[str, Any], slot_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    slot: dict[str, Any] = {"resourceType": "Slot", "id": slot_id, "schedule": {"reference": f"Schedule/{schedule_id}"},
                            "status": "free", "start": start.isoformat(), "end": end.isoformat()}
    # Copied from the Schedule so `Slot?service-type=` finds the profession without a chain.
    for key in ("serviceCategory", "serviceType", "specialty"):
        if schedule.get(key):
            slot[key] = schedule[key]
    return slot


def _missing_slots(server: FhirServer, conn: Connection, hours: OpeningHours, today: date,
                   now: datetime) -> list[dict[str, Any]]:
    found = server.matcher.ids(conn, "Schedule", [("identifier", f"{DEMO_SCHEDULE}|{hours.identifier}")])
    if not found:
        log.warning("demo Schedule %s is not in the store; it gets no times", hours.identifier)
        return []
    schedule_id = found[0]
    stored = server.repo.read(conn, "Schedule", schedule_id)
    if stored is None or stored.deleted or stored.json().get("active") is False:
        return []
    # Only the window's Slots: the past ones a long-used demo database gathers need not be read.
    window = datetime.combine(today, time(0), SWEDEN).isoformat()
    have = set(server.matcher.ids(conn, "Slot", [("schedule", f"Schedule/{schedule_id}"), ("start", f"ge{window}")]))
    return [_slot(schedule_id, stored.json(), hours.slot_id(start), start, end)
            for start, end in hours.times(today, now) if hours.slot_id(start) not in have]


def add_demo_times(server: FhirServer, now: datetime | None = None) -> int:
    """Create the free Slots of the demo Schedules that the window lacks; return how many were created."""
    now = now or datetime.now(UTC)
    today = now.astimezone(SWEDEN).date()
    created = 0
    try:
        # One unit of work: the check and the creates see the same store, so none is made twice.
        with server.unit_of_work(True) as conn:
            for hours in opening_hours():
                for slot in _missing_slots(server, conn, hours, today, now):
                    server.dispatch(conn, FhirRequest(method="PUT", path=f"Slot/{slot['id']}", body=slot,
                                                      caller=HubItself(), base_url=""))
                    created += 1
    except Conflict:
        # Another process of this hub started at the same moment and made them first.
        log.info("the demo times were added by another process")
        return 0
    return created


def load_demo_data(hub: Hub, now: datetime | None = None) -> None:
    """Create whatever of the demo data is not there yet, and the demo times of the coming days."""
    hub.fhir.handle(FhirRequest(method="POST", path="", body=demo_bundle(), base_url=""))
    created = add_demo_times(hub.fhir, now)
    if created:
        log.info("added %d free demo times for the coming %d days", created, WINDOW_DAYS)
