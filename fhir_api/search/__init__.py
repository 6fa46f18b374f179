"""FHIR R4 search: parse a query, run it as one SQL statement, page by keyset, present results.

    query = parse_query("Observation", params, registry, strict=False,
                        default_count=20, max_count=1000, base_url=base)
    page = run_search(conn, query, registry, restrict=hook)
    links: query.link_params(None), query.link_params(page.next_cursor) …
    entries: present(content, page.summary, page.elements) for each match

Nothing here runs at import time; the registry loads on first use.
https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

from fhir_api.search.execute import ESTIMATE_CAP, find_matches, match_filters, run_search
from fhir_api.search.model import SearchPage, SearchQuery
from fhir_api.search.parse import parse_query
from fhir_api.search.present import apply_elements, apply_summary, present
from fhir_api.search.sql import AccessFilter

__all__ = [
    "ESTIMATE_CAP",
    "AccessFilter",
    "SearchPage",
    "SearchQuery",
    "apply_elements",
    "apply_summary",
    "find_matches",
    "match_filters",
    "parse_query",
    "present",
    "run_search",
]
