"""Read which RIV-TA services the hub calls, for which region or unit, from one YAML file.

Why a file: endpoints and logical addresses differ per region and change without a release,
and a secret-free file is easy to review. A bad file stops start-up naming the file and the
entry, so a wrong address never surfaces first as a failed booking. Example:

    timeout_seconds: 5
    journal:
      - name: Region Norr journal
        base_url: https://vp.norr.example/vp
        logical_address: SE2321000016-XXXX
        paths: {GetCareDocumentation: clinicalprocess/healthcond/description/GetCareDocumentation/2/rivtabp21}
    booking:
      - facility: SE2321000016-FYS1       # the unit's HSA-id, as on its Organization
        base_url: https://vp.norr.example/vp
        logical_address: SE2321000016-BOOK
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from adapters.riv.contracts import INTERACTIONS
from adapters.riv.soap import DEFAULT_TIMEOUT_SECONDS, RivEndpoint


class RivConfigError(ValueError):
    """The RIV-TA services file cannot be used: which file, which entry, why."""


@dataclass(frozen=True)
class JournalSource:
    """One region journal the journal view asks."""

    name: str
    endpoint: RivEndpoint


@dataclass(frozen=True)
class RivServices:
    """The journal sources, and the units whose bookings go to a regional booking system."""

    journal: tuple[JournalSource, ...] = ()
    booking: tuple[tuple[str, RivEndpoint], ...] = ()

    def booking_endpoint(self, facility_hsa_id: str) -> RivEndpoint | None:
        """Return the booking system endpoint for a unit, or None when the hub keeps its own times."""
        return dict(self.booking).get(facility_hsa_id)


def _endpoint(where: str, entry: Any, timeout: float) -> RivEndpoint:
    if not isinstance(entry, dict):
        raise RivConfigError(f"{where} must be a mapping")
    for key in ("base_url", "logical_address"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise RivConfigError(f"{where} needs {key}")
    if not entry["base_url"].startswith(("http://", "https://")):
        raise RivConfigError(f"{where}: base_url must be an http(s) URL")
    paths = entry.get("paths") or {}
    unknown = sorted(set(paths) - set(INTERACTIONS)) if isinstance(paths, dict) else ["(not a mapping)"]
    if unknown:
        raise RivConfigError(f"{where}: paths names unknown operations {unknown}")
    seconds = entry.get("timeout_seconds", timeout)
    if not isinstance(seconds, int | float) or not 0 < seconds <= 120:
        raise RivConfigError(f"{where}: timeout_seconds must be a number of seconds between 0 and 120")
    return RivEndpoint(entry["base_url"], entry["logical_address"].strip(), float(seconds),
                       tuple(sorted((str(k), str(v)) for k, v in paths.items())))


def parse_services(data: Any, origin: str = "RIV-TA services") -> RivServices:
    """Check and return the services a parsed file describes."""
    if data is None:
        return RivServices()
    if not isinstance(data, dict):
        raise RivConfigError(f"{origin}: the file must be a mapping with journal and booking lists")
    timeout = data.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if not isinstance(timeout, int | float) or not 0 < timeout <= 120:
        raise RivConfigError(f"{origin}: timeout_seconds must be a number of seconds between 0 and 120")
    journal = []
    for i, entry in enumerate(data.get("journal") or []):
        where = f"{origin}: journal[{i}]"
        endpoint = _endpoint(where, entry, float(timeout))
        journal.append(JournalSource(str(entry.get("name") or endpoint.base_url), endpoint))
    booking: dict[str, RivEndpoint] = {}
    for i, entry in enumerate(data.get("booking") or []):
        where = f"{origin}: booking[{i}]"
        endpoint = _endpoint(where, entry, float(timeout))
        facility = entry.get("facility")
        if not isinstance(facility, str) or not facility.strip():
            raise RivConfigError(f"{where} needs facility (the unit's HSA-id)")
        if facility in booking:
            raise RivConfigError(f"{where}: facility {facility} is listed twice")
        booking[facility.strip()] = endpoint
    return RivServices(tuple(journal), tuple(sorted(booking.items())))


def load_services(path: str | Path) -> RivServices:
    """Read and check the services file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RivConfigError(f"{path}: cannot be read: {exc}") from None
    return parse_services(data, str(path))
