"""Read a patient's care documentation and care contacts from the region over RIV-TA.

The journal view port, its zeep implementation (GetCareDocumentation and GetCareContacts over
the real WSDLs, through adapters.riv.soap) and an in-memory fake, side by side. Answers come
back as FHIR DocumentReference and Encounter (mappings/riv_journal.py), never stored. A source
that is slow or fails raises an `adapters.riv.errors.RivError`, so the caller can say which
source failed instead of showing an empty journal.
https://hl7.org/fhir/R4/documentreference.html
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from adapters.riv.contracts import GET_CARE_CONTACTS, GET_CARE_DOCUMENTATION
from adapters.riv.errors import RivBadAnswer, RivError
from adapters.riv.soap import RivCaller
from mappings.hsa import UnmappedIdentifier, riv_date, riv_person_id
from mappings.riv_journal import document_reference, encounter


@dataclass(frozen=True)
class JournalQuery:
    """Whose journal, and from which days (inclusive); `patient` is a FHIR personnummer Identifier."""

    patient: dict[str, str]
    start: date | None = None
    end: date | None = None

    def riv_body(self) -> dict[str, Any]:
        """Return the request elements both contracts share: patientId and timePeriod."""
        body: dict[str, Any] = {"patientId": riv_person_id(self.patient)}
        if self.start and self.end:
            body["timePeriod"] = {"start": riv_date(self.start), "end": riv_date(self.end)}
        return body


class JournalView(Protocol):
    """The region's journal, read-only, as FHIR resources."""

    name: str

    def care_documentation(self, query: JournalQuery) -> list[dict[str, Any]]:
        """Return the patient's notes as DocumentReferences; RivError when the source fails."""
        ...

    def care_contacts(self, query: JournalQuery) -> list[dict[str, Any]]:
        """Return the patient's care contacts as Encounters; RivError when the source fails."""
        ...


def _mapped(source: str, items: list[dict[str, Any]], mapper: Any) -> list[dict[str, Any]]:
    try:
        return [mapper(item) for item in items]
    except (UnmappedIdentifier, KeyError, TypeError, AttributeError) as exc:
        raise RivBadAnswer(source, f"could not read the answer: {type(exc).__name__}") from None


class ZeepJournalView:
    """The journal view over RIV-TA with zeep; one caller per region's endpoint."""

    def __init__(self, name: str, caller: RivCaller) -> None:
        self.name, self.caller = name, caller

    def care_documentation(self, query: JournalQuery) -> list[dict[str, Any]]:
        """Call GetCareDocumentation and map each note."""
        operation = GET_CARE_DOCUMENTATION.operation
        answer = self.caller.call(operation, **query.riv_body())
        return _mapped(self.caller.source(operation), answer.get("careDocumentation") or [], document_reference)

    def care_contacts(self, query: JournalQuery) -> list[dict[str, Any]]:
        """Call GetCareContacts and map each contact."""
        operation = GET_CARE_CONTACTS.operation
        answer = self.caller.call(operation, **query.riv_body())
        return _mapped(self.caller.source(operation), answer.get("careContact") or [], encounter)


class FakeJournalView:
    """An in-memory region journal holding RIV-TA-shaped entries, with scriptable failures."""

    def __init__(self, name: str = "fake journal") -> None:
        self.name = name
        self.documents: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.contacts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.failures: dict[str, deque[RivError]] = defaultdict(deque)
        self.lock = threading.Lock()

    def fail_next(self, operation: str, error: RivError) -> None:
        """Make the next call of `operation` raise `error`."""
        with self.lock:
            self.failures[operation].append(error)

    def _answer(self, operation: str, query: JournalQuery, store: dict[str, list[dict[str, Any]]],
                mapper: Any) -> list[dict[str, Any]]:
        person = query.riv_body()["patientId"]["id"]
        with self.lock:
            if self.failures[operation]:
                raise self.failures[operation].popleft()
            items = list(store.get(person, []))
        return _mapped(f"{operation} at {self.name}", items, mapper)

    def care_documentation(self, query: JournalQuery) -> list[dict[str, Any]]:
        """Return the stored notes of the patient as DocumentReferences."""
        return self._answer(GET_CARE_DOCUMENTATION.operation, query, self.documents, document_reference)

    def care_contacts(self, query: JournalQuery) -> list[dict[str, Any]]:
        """Return the stored contacts of the patient as Encounters."""
        return self._answer(GET_CARE_CONTACTS.operation, query, self.contacts, encounter)
