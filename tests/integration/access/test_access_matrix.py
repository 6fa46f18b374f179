"""Every kind of caller × every resource kind × read/search/create/update/delete, from one table.

Each cell is one letter, for read, search, create, update and delete in that order:
  A  allowed: 200 with the resource (a search lists it), 201 on create
  H  hidden: 404 by id, exactly as if missing; a search answers 200 without it
  F  403: the caller may never do this to this kind of resource (reveals nothing of any one)
  L  401: log in first
  N  405: not possible through the API for anyone (the access log)
Each column acts on one patient's case at Digitala mottagningen Norr (care provider Region
Norr): Anders's, except the guardians' (Lilly, 11; Teo, 13). Writes act on that case's
resources: a create posts a copy, an update puts the stored one back with `language` set.
Every 2xx on patient data or the log must have written exactly one AuditEvent; every other
answer, none.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

import pytest

from cases.access import Kind, kind_of
from tests.integration.access.conftest import GuardedHub
from tests.integration.access.world import (
    ANDERS,
    ANNA,
    ERIK,
    LILLY_PNR,
    NEW_PNR,
    REVIEWER,
    SYSTEM_NORR,
    SYSTEM_SYD,
    TEO_PNR,
    TOLVAN,
    guardian_of,
    target_id,
)

MATRIX = """
                       anon   self   other  guard  guard13 clin   clinX  clinEm sysOwn sysOth review
Patient                LLLLL  AAFFF  HHFFF  AAFFF  HHFFF   AAAAF  HHAHF  AAAFF  AAAAF  HHAHF  FFFFF
RelatedPerson          LLLLL  AAFFF  HHFFF  AAFFF  HHFFF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
Encounter              LLLLL  AAFFF  HHFFF  AAFFF  HHFFF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
Task                   LLLLL  AAFFF  HHFFF  AAFFF  HHFFF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
QuestionnaireResponse  LLLLL  AAAFF  HHFHF  AAAFF  HHFHF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
Communication          LLLLL  AAAFF  HHFFF  AAAFF  HHFFF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
Media                  LLLLL  AAAFF  HHFFF  AAAFF  HHFFF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
Binary                 LLLLL  AFAFF  HFFFF  AFAFF  HFFFF   AFAAF  HFFHF  AFFFF  AFAAF  HFFHF  FFFFF
Appointment            LLLLL  AAFFF  HHFFF  AAFFF  HHFFF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
Provenance             LLLLL  AAFFF  HHFFF  AAFFF  HHFFF   AAAFF  HHFFF  AAFFF  AAAFF  HHFFF  FFFFF
AuditEvent             LLLNN  AAFNN  HHFNN  HHFNN  HHFNN   FFFNN  FFFNN  FFFNN  FFFNN  FFFNN  AAFNN
Organization           LLLLL  AAFFF  AAFFF  AAFFF  AAFFF   AAFFF  AAFFF  AAFFF  AAAAA  AAFFF  AAFFF
Practitioner           LLLLL  AAFFF  AAFFF  AAFFF  AAFFF   AAFFF  AAFFF  AAFFF  AAAAA  AAAFF  AAFFF
PractitionerRole       LLLLL  AAFFF  AAFFF  AAFFF  AAFFF   AAFFF  AAFFF  AAFFF  AAAAA  AAFFF  AAFFF
Questionnaire          AALLL  AAFFF  AAFFF  AAFFF  AAFFF   AAFFF  AAFFF  AAFFF  AAFFF  AAFFF  AAFFF
Consent                LLLLL  AAFFF  HHFFF  AAFFF  HHFFF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
Observation            LLLLL  AAFFF  HHFFF  AAFFF  HHFFF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
DocumentReference      LLLLL  AAFFF  HHFFF  AAFFF  HHFFF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
Composition            LLLLL  AAFFF  HHFFF  AAFFF  HHFFF   AAAAF  HHFHF  AAFFF  AAAAF  HHFHF  FFFFF
Location               LLLLL  AAFFF  AAFFF  AAFFF  AAFFF   AAFFF  AAFFF  AAFFF  AAAAA  AAFFF  AAFFF
HealthcareService      LLLLL  AAFFF  AAFFF  AAFFF  AAFFF   AAFFF  AAFFF  AAFFF  AAAAA  AAFFF  AAFFF
Schedule               LLLLL  AAFFF  AAFFF  AAFFF  AAFFF   AAFFF  AAFFF  AAFFF  AAAAA  AAFFF  AAFFF
Slot                   LLLLL  AAFFF  AAFFF  AAFFF  AAFFF   AAFFF  AAFFF  AAFFF  AAAAA  AAFFF  AAFFF
"""

# Column → (name in test ids, principal, whose case it acts on).
COLUMNS: dict[str, tuple[str, Any, str]] = {
    "anon": ("anonymous", None, "anders"),
    "self": ("citizen-self", ANDERS, "anders"),
    "other": ("citizen-other", TOLVAN, "anders"),
    "guard": ("guardian-of-child", guardian_of(LILLY_PNR), "lilly"),
    "guard13": ("guardian-of-13-year-old", guardian_of(TEO_PNR), "teo"),
    "clin": ("clinician-at-unit", ANNA, "anders"),
    "clinX": ("clinician-other-unit", ERIK, "anders"),
    "clinEm": ("clinician-with-emergency-access", ERIK, "anders"),
    "sysOwn": ("regional-system-own-region", SYSTEM_NORR, "anders"),
    "sysOth": ("regional-system-other-region", SYSTEM_SYD, "anders"),
    "review": ("log-reviewer", REVIEWER, "anders"),
}
INTERACTIONS = ("read", "search", "create", "update", "delete")
STATUS = {
    "read": {"A": 200, "H": 404, "F": 403, "L": 401, "N": 405},
    "search": {"A": 200, "H": 200, "F": 403, "L": 401},
    "create": {"A": 201, "F": 403, "L": 401},
    "update": {"A": 200, "H": 404, "F": 403, "L": 401, "N": 405},
    "delete": {"A": 200, "H": 404, "F": 403, "L": 401, "N": 405},
}
# A directory resource is anchored in the region through what it points at (a Slot through its
# Schedule, a Schedule through its PractitionerRole, a role and a Location through the unit):
# delete what points before what it points at.
DELETE_FIRST = ("Slot", "Schedule", "Location", "HealthcareService", "Practitioner", "PractitionerRole",
                "Organization")


def parse_matrix(text: str) -> dict[tuple[str, str], str]:
    """Read the table into {(resource type, column): five letters}."""
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    table = {}
    for row in rows:
        assert len(row) == len(header) + 1, f"row {row[0]} has {len(row) - 1} cells, not {len(header)}"
        for column, cell in zip(header, row[1:], strict=True):
            assert len(cell) == 5 and set(cell) <= set("AHFLN"), f"{row[0]} × {column}: bad cell {cell!r}"
            table[(row[0], column)] = cell
    return table


TABLE = parse_matrix(MATRIX)
TYPES = list(dict.fromkeys(t for t, _ in TABLE))


def new_resource(hub: GuardedHub, res_type: str, who: str) -> dict[str, Any]:
    """Return a body to create: a copy of the case's resource (a new Patient, a new unit …)."""
    if res_type == "Patient":
        return {"resourceType": "Patient", "identifier": [{"system": "http://electronichealth.se/identifier/"
                                                                     "personnummer", "value": NEW_PNR}]}
    body = hub.world.get(res_type, target_id(res_type, who))
    body.pop("id")
    body.pop("meta")
    if res_type in ("Organization", "Practitioner"):
        body["identifier"][0]["value"] += "-NEW"
    return body


def act(hub: GuardedHub, headers: dict[str, str], res_type: str, interaction: str, who: str) -> Any:
    """Send one cell's request."""
    res_id = target_id(res_type, who)
    c = hub.client
    if interaction == "read":
        return c.get(f"/fhir/{res_type}/{res_id}", headers=headers)
    if interaction == "search":
        return c.get(f"/fhir/{res_type}", params={"_id": res_id}, headers=headers)
    if interaction == "create":
        return c.post(f"/fhir/{res_type}", json=new_resource(hub, res_type, who), headers=headers)
    if interaction == "update":
        body = copy.deepcopy(hub.world.get(res_type, res_id))
        body.pop("meta")
        body["language"] = "sv"
        return c.put(f"/fhir/{res_type}/{res_id}", json=body, headers=headers)
    return c.delete(f"/fhir/{res_type}/{res_id}", headers=headers)


def check(hub: GuardedHub, headers: dict[str, str], res_type: str, interaction: str, letter: str,
          who: str, audited: bool) -> str | None:
    """Run one cell; return what was wrong with it, or None."""
    before = len(hub.audit_events())
    resp = act(hub, headers, res_type, interaction, who)
    expected = STATUS[interaction][letter]
    if interaction == "delete" and letter == "A":
        expected = resp.status_code if resp.status_code in (200, 204) else 200
    problem = None
    if resp.status_code != expected:
        problem = f"expected {expected} ({letter}), got {resp.status_code}: {resp.text[:160]}"
    elif interaction == "search" and letter in "AH":
        found = [e["resource"]["id"] for e in resp.json().get("entry", []) if e["search"]["mode"] == "match"]
        listed = target_id(res_type, who) in found
        if listed != (letter == "A"):
            problem = f"search {'should' if letter == 'A' else 'should not'} list it, found {found}"
    written = len(hub.audit_events()) - before
    wanted = int(audited and 200 <= resp.status_code < 300 and kind_of(res_type) in (Kind.PATIENT, Kind.AUDIT))
    if problem is None and written != wanted:
        problem = f"wrote {written} AuditEvents, expected {wanted}"
    return f"{res_type} {interaction}: {problem}" if problem else None


@pytest.mark.parametrize("column", list(COLUMNS), ids=[v[0] for v in COLUMNS.values()])
def test_access_matrix__each_cell_answers_as_the_table_says(hub: GuardedHub, column: str) -> None:
    _name, principal, who = COLUMNS[column]
    headers = hub.headers(principal)
    if column == "clinEm":
        opened = hub.client.get(f"/fhir/Patient/{who}", headers={
            **headers, "X-Emergency-Access-Reason": quote("Medvetslös, anhöriga nås inte")})
        assert opened.status_code == 200, opened.text
    cells = [(t, i) for i in ("read", "search", "create", "update") for t in TYPES]
    cells += [(t, "delete") for t in sorted(TYPES, key=lambda t: (t not in DELETE_FIRST, DELETE_FIRST.index(t)
                                                                   if t in DELETE_FIRST else 0))]
    problems = [p for t, i in cells
                if (p := check(hub, headers, t, i, TABLE[(t, column)][INTERACTIONS.index(i)], who,
                               principal is not None))]
    assert not problems, f"{len(problems)} cells differ from the table:\n" + "\n".join(problems)
