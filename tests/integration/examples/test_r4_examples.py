"""Every official R4 example goes through the hub: the valid ones come back unchanged, the rest are refused.

"Valid" is decided apart from the server (corpus.py): fhir.resources R4B accepts it, its id
keeps the R4 id rule, its type is in the CapabilityStatement and it fits the body limit.
Content is compared ignoring meta.versionId and meta.lastUpdated, numbers by value.
"""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from fhir_api.formats.xml import FormatError, json_to_xml, xml_to_json
from tests.integration.examples.conftest import SUMMARIES, ExamplesHub
from tests.integration.examples.corpus import VALID, Example, Verdicts, content_change
from tests.integration.examples.roundtrip import JSON, XML, Result

pytestmark = pytest.mark.slow

SAMPLE_EVERY = 200
SHOWN = 15


def _expected(examples: list[Example], verdicts: Verdicts, hub: ExamplesHub) -> dict[str, str]:
    return {e.name: verdicts.of(e, hub.supported_types) for e in examples}


def _listing(problems: list[str]) -> str:
    more = f"\n  … and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return "\n  ".join(["", *problems[:SHOWN]]) + more


def _diagnostics(result: Result) -> str:
    issues = (result.outcome or {}).get("issue") or [{}]
    return str(issues[0].get("diagnostics", ""))[:160]


def _server_errors(results: dict[str, Result]) -> list[str]:
    return [f"{name}: write {r.status}, read {r.read_status}" for name, r in results.items()
            if r.status >= 500 or (r.read_status or 0) >= 500]


def _not_round_tripped(results: dict[str, Result], expected: dict[str, str]) -> list[str]:
    problems = []
    for name, result in results.items():
        if expected[name] != VALID:
            continue
        if result.not_sent:
            problems.append(f"{name}: {result.not_sent}")
        elif not result.accepted:
            problems.append(f"{name}: refused with {result.status}: {_diagnostics(result)}")
        elif result.change is not None:
            problems.append(f"{name}: changed at {result.change}")
    return problems


def _not_refused(results: dict[str, Result], expected: dict[str, str]) -> list[str]:
    problems = []
    for name, result in results.items():
        if expected[name] == VALID or result.not_sent:
            continue
        refused = 400 <= result.status < 500
        explained = (result.outcome or {}).get("resourceType") == "OperationOutcome"
        if not (refused and explained):
            problems.append(f"{name} ({expected[name]}): answered {result.status}")
    return problems


def _summary(backend: str, media: str, results: dict[str, Result], expected: dict[str, str]) -> str:
    accepted = sum(1 for r in results.values() if r.accepted and r.change is None)
    refusals = Counter(
        (expected[name], r.status) for name, r in results.items() if not r.accepted and not r.not_sent
    )
    not_sent = sum(1 for r in results.values() if r.not_sent)
    reasons = ", ".join(f"{why} → {status} ×{n}" for (why, status), n in sorted(refusals.items()))
    fmt = "JSON" if media == JSON else "XML"
    extra = f"; {not_sent} not expressible in XML, not sent" if not_sent else ""
    return (f"{backend:10} {fmt:4} {len(results)} examples: {accepted} accepted and read back unchanged; "
            f"refused: {reasons or 'none'}{extra}")


def _results(hub: ExamplesHub, media: str) -> dict[str, Result]:
    return hub.run.json if media == JSON else hub.run.xml


@pytest.mark.parametrize("media", [JSON, XML])
def test_examples__none_gives_a_server_error(media: str, examples_hub: ExamplesHub) -> None:
    problems = _server_errors(_results(examples_hub, media))
    assert not problems, _listing(problems)


@pytest.mark.parametrize("media", [JSON, XML])
def test_examples__every_valid_example_is_stored_and_read_back_unchanged(
    media: str, examples: list[Example], verdicts: Verdicts, examples_hub: ExamplesHub
) -> None:
    problems = _not_round_tripped(_results(examples_hub, media), _expected(examples, verdicts, examples_hub))
    assert not problems, f"{len(problems)} valid examples did not round-trip in {media}:{_listing(problems)}"


@pytest.mark.parametrize("media", [JSON, XML])
def test_examples__every_other_example_is_refused_with_a_4xx_outcome(
    media: str, examples: list[Example], verdicts: Verdicts, examples_hub: ExamplesHub
) -> None:
    problems = _not_refused(_results(examples_hub, media), _expected(examples, verdicts, examples_hub))
    assert not problems, f"{len(problems)} examples were not refused in {media}:{_listing(problems)}"


def test_examples__counts_add_up_to_the_whole_package(
    examples: list[Example], verdicts: Verdicts, examples_hub: ExamplesHub
) -> None:
    expected = _expected(examples, verdicts, examples_hub)
    run = examples_hub.run
    for media in (JSON, XML):
        SUMMARIES.append(_summary(examples_hub.backend, media, _results(examples_hub, media), expected))
    assert run.json.keys() | run.xml.keys() == {e.name for e in examples}, "an example was never sent"
    valid = sum(1 for v in expected.values() if v == VALID)
    # A broken loader or verdict file would let the checks above pass on almost nothing.
    assert valid > 0.95 * len(examples), f"only {valid} of {len(examples)} examples judged valid"
    for media, results in ((JSON, run.json), (XML, run.xml)):
        accepted = sum(1 for r in results.values() if r.accepted)
        must_accept = sum(1 for name, r in results.items() if expected[name] == VALID and not r.not_sent)
        assert accepted == must_accept, f"{media}: {accepted} accepted, {must_accept} expected"


def _sample(examples: list[Example], verdicts: Verdicts, hub: ExamplesHub) -> list[Example]:
    """Take every 200th example, plus the first of each kind of refusal."""
    sample = {e.name: e for e in examples[::SAMPLE_EVERY]}
    first_of_kind: dict[str, Example] = {}
    for e in examples:
        first_of_kind.setdefault(verdicts.of(e, hub.supported_types), e)
    sample.update({e.name: e for e in first_of_kind.values()})
    return sorted(sample.values(), key=lambda e: e.name)


def _url(example: Example) -> str:
    return f"/fhir/{example.res_type}/{example.res_id}"


def _refused_with_outcome(status: int, body: dict[str, object]) -> bool:
    return 400 <= status < 500 and body.get("resourceType") == "OperationOutcome"


def test_examples__a_sample_sent_one_by_one_round_trips_in_json(
    examples: list[Example], verdicts: Verdicts, examples_hub: ExamplesHub
) -> None:
    client, problems = examples_hub.client, []
    for example in _sample(examples, verdicts, examples_hub):
        put = client.put(_url(example), content=example.raw, headers={"Content-Type": JSON})
        if verdicts.of(example, examples_hub.supported_types) != VALID:
            if not _refused_with_outcome(put.status_code, orjson.loads(put.content or b"{}")):
                problems.append(f"{example.name}: PUT answered {put.status_code}, not a 4xx OperationOutcome")
            continue
        read = client.get(_url(example))
        change = content_change(example.parse(), read.json()) if read.status_code == 200 else "not read"
        if put.status_code not in (200, 201) or change or read.headers.get("ETag") != put.headers.get("ETag"):
            problems.append(f"{example.name}: PUT {put.status_code}, GET {read.status_code}, {change}")
    assert not problems, _listing(problems)


def test_examples__a_sample_sent_one_by_one_round_trips_in_xml(
    examples: list[Example], verdicts: Verdicts, examples_hub: ExamplesHub
) -> None:
    client, problems = examples_hub.client, []
    for example in _sample(examples, verdicts, examples_hub):
        valid = verdicts.of(example, examples_hub.supported_types) == VALID
        try:
            document = json_to_xml(example.parse())
        except FormatError as exc:
            if valid:
                problems.append(f"{example.name}: valid but not writable as XML: {exc}")
            continue
        put = client.put(_url(example), content=document, headers={"Content-Type": XML, "Accept": XML})
        answered_xml = put.headers.get("content-type", "").startswith(XML)
        if not valid:
            body = xml_to_json(put.content) if answered_xml and put.content else {}
            if not _refused_with_outcome(put.status_code, body):
                problems.append(f"{example.name}: PUT answered {put.status_code} "
                                f"({put.headers.get('content-type')}), not a 4xx OperationOutcome in XML")
            continue
        read = client.get(_url(example), headers={"Accept": XML})
        xml_read = read.status_code == 200 and read.headers.get("content-type", "").startswith(XML)
        change = content_change(example.parse(), xml_to_json(read.content), via_xml=True) if xml_read else "not XML"
        if put.status_code not in (200, 201) or change:
            problems.append(f"{example.name}: PUT {put.status_code}, GET {read.status_code}, {change}")
    assert not problems, _listing(problems)
