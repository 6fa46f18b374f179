"""Send examples to a hub and read them back, in JSON or XML, many per batch Bundle.

A batch runs every entry as its own interaction (its own create or update, its own read),
so one HTTP request carries up to a hundred of them. An example too big to share a batch
goes on its own, as a plain PUT. Each is read back by a batch of GETs answered in the same
format. `run_backend` does a backend's share, in whatever process calls it.
https://hl7.org/fhir/R4/http.html#transaction
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.testclient import TestClient

from fhir_api.formats.xml import FormatError, json_to_xml, xml_to_json
from tests.integration.examples.corpus import Example, content_change, in_rounds

JSON = "application/fhir+json"
XML = "application/fhir+xml"
BATCH_ENTRIES = 100
BODY_MARGIN = 64 * 1024


@dataclass
class Result:
    """What the hub did with one example: the write's status, and how the read differed."""

    status: int
    outcome: dict[str, Any] | None = None
    location: str = ""
    read_status: int | None = None
    change: str | None = None
    not_sent: str = ""

    @property
    def accepted(self) -> bool:
        """Tell whether the write succeeded."""
        return 200 <= self.status < 300


def _status(entry: dict[str, Any]) -> int:
    return int(str(entry["response"]["status"]).split()[0])


def _request(example: Example) -> tuple[str, str]:
    if example.res_id is None:
        return "POST", example.res_type
    return "PUT", f"{example.res_type}/{example.res_id}"


def _location(entry_or_headers: dict[str, Any], example: Example) -> str:
    """Return Type/id of what a write stored, from its Location when the server chose the id."""
    if example.res_id is not None:
        return f"{example.res_type}/{example.res_id}"
    location = str(entry_or_headers.get("location") or entry_or_headers.get("Location") or "")
    parts = location.split("/_history/")[0].split("/")
    return "/".join(parts[-2:])


class RoundTrip:
    """Write examples to one hub in one format and read each accepted one back in it."""

    def __init__(self, client: TestClient, media: str, max_body_bytes: int) -> None:
        self.client = client
        self.media = media
        self.limit = max_body_bytes - BODY_MARGIN

    def run(self, examples: list[Example]) -> dict[str, Result]:
        """Return the result for every example sent."""
        results: dict[str, Result] = {}
        for round_ in in_rounds(examples):
            bodies = [(e, self._body(e, results)) for e in round_]
            for batch in self._batches([(e, b) for e, b in bodies if b is not None]):
                self._write_batch(batch, results)
                self._read_batch([e for e, _ in batch if results[e.name].accepted], results)
        return results

    def _body(self, example: Example, results: dict[str, Result]) -> bytes | None:
        """Return the example as a body in this round trip's format; None if it cannot be one."""
        if self.media == JSON:
            return example.raw
        try:
            document = json_to_xml(example.parse())
        except FormatError as exc:
            # Nothing in R4B XML can carry it (e.g. an R4-only type); the JSON run covers it.
            results[example.name] = Result(status=0, not_sent=f"not writable as XML: {exc}")
            return None
        return document.split(b"?>", 1)[1].lstrip() if document.startswith(b"<?xml") else document

    def _batches(self, bodies: list[tuple[Example, bytes]]) -> Iterator[list[tuple[Example, bytes]]]:
        """Group bodies into batches of at most 100 entries that stay under the body limit."""
        batch: list[tuple[Example, bytes]] = []
        size = 0
        for example, body in bodies:
            if batch and (len(batch) == BATCH_ENTRIES or size + len(body) > self.limit):
                yield batch
                batch, size = [], 0
            batch.append((example, body))
            size += len(body) + 200
        if batch:
            yield batch

    def _write_batch(self, batch: list[tuple[Example, bytes]], results: dict[str, Result]) -> None:
        """Write a batch of examples and record each entry's status."""
        response = None
        if len(batch) > 1 or len(batch[0][1]) <= self.limit:
            response = self._post_batch([self._entry(e, body) for e, body in batch], fail_on_error=False)
        if response is None:
            # Too big for a batch, or the batch failed as a whole: one by one, to see which failed.
            for example, body in batch:
                self._write_one(example, body, results)
            return
        for (example, _), entry in zip(batch, response, strict=True):
            results[example.name] = Result(status=_status(entry), outcome=entry["response"].get("outcome"),
                                           location=_location(entry["response"], example))

    def _write_one(self, example: Example, body: bytes, results: dict[str, Result]) -> None:
        """Send one example on its own, as a plain PUT (or POST, when it has no id)."""
        method, url = _request(example)
        if self.media == XML:
            body = b'<?xml version="1.0" encoding="UTF-8"?>' + body
        r = self.client.request(method, f"/fhir/{url}", content=body,
                                headers={"Content-Type": self.media, "Prefer": "return=minimal"})
        outcome = None
        if r.status_code >= 400 and r.headers.get("content-type", "").startswith(JSON):
            outcome = orjson.loads(r.content)
        results[example.name] = Result(status=r.status_code, outcome=outcome,
                                       location=_location(dict(r.headers), example))

    def _read_batch(self, examples: list[Example], results: dict[str, Result]) -> None:
        """Read each written example back (in a batch of GETs) and record how it changed."""
        if not examples:
            return
        gets = [{"request": {"method": "GET", "url": results[e.name].location}} for e in examples]
        entries = self._post_batch(gets, accept=self.media) or []
        for example, entry in zip(examples, entries, strict=True):
            result = results[example.name]
            result.read_status = _status(entry)
            resource = entry.get("resource")
            if result.read_status != 200 or not isinstance(resource, dict):
                result.change = f"read back with {result.read_status}"
            else:
                result.change = content_change(example.parse(), resource, via_xml=self.media == XML)

    def _entry(self, example: Example, body: bytes) -> bytes:
        """Wrap a body as a batch entry that PUTs (or POSTs) it, in this round trip's format."""
        method, url = _request(example)
        if self.media == JSON:
            request = orjson.dumps({"method": method, "url": url})
            return b'{"request":' + request + b',"resource":' + body + b"}"
        return (b"<entry><resource>" + body + b'</resource><request><method value="' + method.encode()
                + b'"/><url value="' + url.encode() + b'"/></request></entry>')

    def _post_batch(self, entries: list[Any], *, accept: str = JSON,
                    fail_on_error: bool = True) -> list[dict[str, Any]] | None:
        """Post a batch of entries (bytes in this format, or dicts as JSON); return the response's entries.

        The response is asked for in `accept` and read into JSON form. A batch the server
        fails as a whole (5xx) gives None, unless `fail_on_error`.
        """
        if self.media == JSON or not isinstance(entries[0], bytes):
            parts = [e if isinstance(e, bytes) else orjson.dumps(e) for e in entries]
            body = b'{"resourceType":"Bundle","type":"batch","entry":[' + b",".join(parts) + b"]}"
            content_type = JSON
        else:
            body = (b'<?xml version="1.0" encoding="UTF-8"?><Bundle xmlns="http://hl7.org/fhir">'
                    b'<type value="batch"/>' + b"".join(entries) + b"</Bundle>")
            content_type = XML
        r = self.client.post("/fhir", content=body, headers={
            "Content-Type": content_type, "Accept": accept, "Prefer": "return=minimal"})
        if r.status_code >= 500 and not fail_on_error:
            return None
        assert r.status_code == 200, f"batch refused with {r.status_code}: {r.text[:500]}"
        assert r.headers["content-type"].startswith(accept), r.headers["content-type"]
        bundle = self._parse(r.content)
        assert bundle["type"] == "batch-response", bundle.get("type")
        response_entries: list[dict[str, Any]] = bundle.get("entry", [])
        assert len(response_entries) == len(entries), "the batch response lost entries"
        return response_entries

    def _parse(self, content: bytes) -> dict[str, Any]:
        """Read a JSON or XML body."""
        if content.lstrip().startswith(b"<"):
            return xml_to_json(content)
        parsed: dict[str, Any] = orjson.loads(content)
        return parsed


@dataclass
class BackendRun:
    """What one hub did with its share of the examples in JSON and its share in XML."""

    json: dict[str, Result]
    xml: dict[str, Result]


def shares(examples: list[Example], index: int, count: int, limit: int) -> tuple[list[Example], list[Example]]:
    """Split the examples between `count` backends: (sent as JSON, sent as XML) for backend `index`.

    With two backends each takes every second example as JSON and the others as XML, the
    other way round from its partner: both store the whole package, and every example goes
    through JSON once and through XML once. Alone, a backend takes all of them as JSON and
    then again as XML. Examples over the body limit go as JSON everywhere (they are refused
    before they are read) and never as XML.
    """
    fits = [len(e.raw) <= limit for e in examples]
    if count == 1:
        return examples, [e for e, ok in zip(examples, fits, strict=True) if ok]
    mine = [k % count == index for k in range(len(examples))]
    as_json = [e for e, m, ok in zip(examples, mine, fits, strict=True) if m or not ok]
    as_xml = [e for e, m, ok in zip(examples, mine, fits, strict=True) if not m and ok]
    return as_json, as_xml


def run_backend(database_url: str, examples_dir: str, index: int, count: int) -> BackendRun:
    """Create this backend's share of the examples from JSON and the rest from XML; read each back."""
    from pathlib import Path

    from hub.app import create_app
    from tests.conftest import hub_settings
    from tests.integration.examples.corpus import load_examples

    settings = hub_settings(database_url)
    as_json, as_xml = shares(load_examples(Path(examples_dir)), index, count, settings.max_body_bytes)
    with TestClient(create_app(settings), base_url="http://hub.test", raise_server_exceptions=False) as client:
        json_results = RoundTrip(client, JSON, settings.max_body_bytes).run(as_json)
        xml_results = RoundTrip(client, XML, settings.max_body_bytes).run(as_xml)
    return BackendRun(json_results, xml_results)
