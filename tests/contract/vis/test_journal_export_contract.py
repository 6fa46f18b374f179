"""Hold every VIS journal export to the port's promises: the in-memory fake and the FHIR adapter.

The FHIR adapter talks to a receiver process over real HTTP (tests/fixtures/fhir_receiver),
with its token endpoint; the fake is told to fail the same way. Whatever a region plugs in
must pass the same suite: one filing per document identifier, the same receipt on a repeat,
an outage is "try again", a refusal is final and says why.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, Protocol

import httpx
import pytest

from adapters.vis.fake import InMemoryJournal
from adapters.vis.fhir_export import FhirJournalConfig, FhirJournalExport
from adapters.vis.port import JournalExport, JournalRejected, JournalUnavailable
from tests.fixtures.fhir_receiver.harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    Receiver,
    free_port,
    running_receiver,
)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """Start the FHIR receiver process on a free port; stop it after the module."""
    with running_receiver() as running:
        yield running


@pytest.fixture
def tag() -> str:
    """Return a value unique to this test, so filings of other tests do not count."""
    return uuid.uuid4().hex


class Journal(Protocol):
    """What the contract needs beyond the port: make the next deliveries fail, count filings."""

    export: JournalExport

    def fail_next(self, status: int) -> None: ...

    def filed(self) -> int: ...


class FakeJournal:
    """The in-memory fake under the contract."""

    def __init__(self) -> None:
        self.fake = InMemoryJournal()
        self.export: JournalExport = self.fake

    def fail_next(self, status: int) -> None:
        self.fake.fail_next(status)

    def filed(self) -> int:
        return self.fake.filed()


class HttpJournal:
    """The FHIR adapter against the receiver process."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.start = receiver.control("stats")["filed"]
        self.export = FhirJournalExport(FhirJournalConfig(
            base_url=f"{receiver.base}/fhir", token_url=f"{receiver.base}/token",
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, scope="system/Bundle.c", timeout_s=5.0))

    def fail_next(self, status: int) -> None:
        self.receiver.control("fail", {"statuses": [status]})

    def filed(self) -> int:
        filed: int = self.receiver.control("stats")["filed"] - self.start
        return filed


@pytest.fixture(params=["fake", "fhir"])
def journal(request: pytest.FixtureRequest) -> Iterator[Journal]:
    """Return each implementation of the port, with its controls."""
    if request.param == "fake":
        yield FakeJournal()
        return
    http = HttpJournal(request.getfixturevalue("receiver"))
    yield http
    http.export.close()  # type: ignore[attr-defined]


def document(value: str) -> dict[str, Any]:
    """Return a small document Bundle with the given identifier value."""
    return {"resourceType": "Bundle", "type": "document", "timestamp": "2026-01-01T10:00:00Z",
            "identifier": {"system": "https://ingang.example/fhir/NamingSystem/journal-note", "value": value},
            "entry": [{"fullUrl": "urn:uuid:0c4a3e8e-8d4f-4c53-9d8b-5b0b8f0f6a11",
                       "resource": {"resourceType": "Composition", "status": "final", "title": "Anteckning"}}]}


def test_deliver__same_document_twice_is_filed_once_with_the_same_receipt(journal: Journal, tag: str) -> None:
    first = journal.export.deliver(document(tag))
    second = journal.export.deliver(document(tag))

    assert first.remote_id and second.remote_id == first.remote_id
    assert journal.filed() == 1


def test_deliver__different_documents_are_filed_apart(journal: Journal, tag: str) -> None:
    a = journal.export.deliver(document(f"{tag}-a"))
    b = journal.export.deliver(document(f"{tag}-b"))

    assert a.remote_id != b.remote_id
    assert journal.filed() == 2


@pytest.mark.parametrize("status", [500, 503, 429, 408])
def test_deliver__outage_is_unavailable_and_a_retry_files_it_once(journal: Journal, tag: str, status: int) -> None:
    journal.fail_next(status)
    with pytest.raises(JournalUnavailable):
        journal.export.deliver(document(tag))

    journal.export.deliver(document(tag))
    journal.export.deliver(document(tag))
    assert journal.filed() == 1


@pytest.mark.parametrize("status", [400, 403, 422])
def test_deliver__refusal_is_rejected_with_a_reason_and_files_nothing(journal: Journal, tag: str, status: int) -> None:
    journal.fail_next(status)
    with pytest.raises(JournalRejected) as refused:
        journal.export.deliver(document(tag))

    assert str(status) in refused.value.reason
    assert journal.filed() == 0


def test_deliver__document_without_identifier_is_rejected(journal: Journal) -> None:
    nameless = {k: v for k, v in document("x").items() if k != "identifier"}
    with pytest.raises(JournalRejected, match="identifier"):
        journal.export.deliver(nameless)
    assert journal.filed() == 0


# --- only the FHIR adapter: tokens cached and refreshed once, network failures translated ---


def export_to(base: str, **overrides: object) -> FhirJournalExport:
    """Return the adapter pointed at a receiver, with the receiver's credentials."""
    values: dict[str, object] = {"base_url": f"{base}/fhir", "token_url": f"{base}/token", "client_id": CLIENT_ID,
                                 "client_secret": CLIENT_SECRET, "timeout_s": 5.0}
    values.update(overrides)
    return FhirJournalExport(FhirJournalConfig(**values))  # type: ignore[arg-type]


def test_token__is_fetched_once_for_several_deliveries(receiver: Receiver) -> None:
    before = receiver.control("stats")["tokens_issued"]
    with export_to(receiver.base) as export:
        export.deliver(document("cached-1"))
        export.deliver(document("cached-2"))

    assert receiver.control("stats")["tokens_issued"] - before == 1


def test_token__a_401_fetches_a_new_token_once_and_delivers(receiver: Receiver) -> None:
    with export_to(receiver.base) as export:
        export.deliver(document("refresh-1"))
        before = receiver.control("expire-tokens")["tokens_issued"]

        receipt = export.deliver(document("refresh-2"))

    assert receipt.remote_id
    assert receiver.control("stats")["tokens_issued"] - before == 1


def test_token__wrong_credentials_are_rejected_with_the_endpoints_reason(receiver: Receiver) -> None:
    with export_to(receiver.base, client_secret="wrong") as export, \
            pytest.raises(JournalRejected, match="invalid_client"):
        export.deliver(document("wrong-secret"))


def test_deliver__unreachable_journal_is_unavailable() -> None:
    with export_to(f"http://127.0.0.1:{free_port()}") as export, \
            pytest.raises(JournalUnavailable, match=r"did not answer|could not be reached"):
        export.deliver(document("nobody-home"))


def test_deliver__a_timeout_is_unavailable() -> None:
    def slow(_request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    with FhirJournalExport(FhirJournalConfig(base_url="http://journal.invalid/fhir"),
                           http=httpx.Client(transport=httpx.MockTransport(slow))) as export, \
            pytest.raises(JournalUnavailable, match="in time"):
        export.deliver(document("slow"))
