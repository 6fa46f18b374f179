"""Name a case's complaint for people: its Coding with the triage's Swedish name and English translation.

The Encounter keeps only the complaint's code (Encounter.reasonCode, from the findings
vocabulary), as intake writes it; a waiting room that showed `complaint-rash-or-itching`
would make staff learn codes. The names come from the vocabulary the triage asked with, so
staff read the words the citizen chose from. Swedish, the hub's language, is the Coding's
`display`; English rides on `_display` in FHIR's standard translation extension, so any
front end, not only the hub's own pages, can show either. A code the vocabulary does not know
(a case moved here from a hub with a newer one) keeps whatever display it came with.
https://hl7.org/fhir/R4/languages.html, https://hl7.org/fhir/R4/extension-translation.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triage.fhir_io import translated
from triage.vocabulary import FINDING_SYSTEM, load_vocabulary


def named_complaint(code: str, display: Any = None) -> dict[str, Any]:
    """Return the complaint's Coding with its Swedish name as display and the English as a translation."""
    coding: dict[str, Any] = {"system": FINDING_SYSTEM, "code": code}
    option = load_vocabulary().complaints.get(code)
    if option is not None:
        coding["display"] = option.sv
        coding["_display"] = translated(option.sv, option.en)
    elif isinstance(display, str) and display.strip():
        coding["display"] = display
    return coding


def complaint_of(encounter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return the named Coding of an Encounter's complaint (its findings-vocabulary reasonCode), or None."""
    for concept in (encounter or {}).get("reasonCode") or []:
        codings = concept.get("coding") if isinstance(concept, Mapping) else None
        for coding in codings or []:
            if not isinstance(coding, Mapping) or coding.get("system") != FINDING_SYSTEM:
                continue
            code = coding.get("code")
            if isinstance(code, str) and code:
                return named_complaint(code, coding.get("display"))
    return None
