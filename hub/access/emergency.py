"""Open emergency access (nödåtkomst) to one patient's cases at the clinician's own care provider.

A clinician sends the reason in a header (`X-Emergency-Access-Reason` by default) with a
request that names the patient: a resource of theirs by id, or a search by `patient`,
`subject` or (on Patient) `_id`. If the patient has a case at any unit of the clinician's
care provider, a grant is written in the request's transaction and lasts the configured
time; until then the clinician sees those cases (reads and searches only: emergency access
is for reading) and every access it makes possible is flagged in the log. Outer secrecy
stays: a case at another care provider is never opened this way.
PDL (SFS 2008:355) 4 kap. 4 §; https://hl7.org/fhir/R4/v3/ActReason/cs.html (ETREAT)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, false, select

from cases.access import grant_expiry
from cases.principals import Clinician
from fhir_api.guard import Route
from fhir_api.messages import FhirRequest
from fhir_api.outcomes import BadRequest
from fhir_api.store.repository import ResourceRepository
from fhir_api.store.schema import resources
from hub.access.caller import Caller
from hub.access.grants import GrantStore
from hub.access.resolve import provider_units
from hub.access.settings import AccessSettings
from hub.access.subjects import patients_of
from hub.access.visibility import Arm, CaseScope

FOCUS_PARAMS = ("patient", "subject", "patient:Patient", "subject:Patient")


class EmergencyAccess:
    """Open grants for the patient a request names, when the care provider has a case of theirs."""

    def __init__(self, grants: GrantStore, settings: AccessSettings, repo: ResourceRepository) -> None:
        self.grants = grants
        self.settings = settings
        self.repo = repo

    def open(self, conn: Connection, req: FhirRequest, route: Route, caller: Caller, reason: str,
             now: datetime) -> bool:
        """Write a grant for each patient in focus with a case at the provider; tell whether any was."""
        clinician = caller.principal
        assert isinstance(clinician, Clinician)
        patients = focus_patients(conn, self.repo, req, route)
        if not patients and route.res_id is None:  # the query's shape, not the data, decides this 400
            raise BadRequest("Emergency access opens one patient's record: read one of their resources by id, "
                             "or search with patient=Patient/<id>", (self.settings.emergency_reason_header,))
        commission = clinician.commission
        units = provider_units(conn, commission.care_provider_hsa_id)
        opened = False
        for patient in patients:
            if not _has_case(conn, units, patient):
                continue  # nothing at this care provider: the request goes on and finds nothing, as usual
            self.grants.open(conn, employee=clinician.employee_hsa_id, commission=commission.commission_hsa_id,
                             unit=commission.care_unit_hsa_id, provider=commission.care_provider_hsa_id,
                             patient_id=patient, reason=reason.strip(), now=now,
                             expires_at=grant_expiry(now, self.settings.emergency_access_minutes / 60))
            opened = True
        return opened


def focus_patients(conn: Connection, repo: ResourceRepository, req: FhirRequest, route: Route) -> list[str]:
    """Return the Patient ids a request is about: the instance's patient, or the search's."""
    res_type, res_id = route.res_type, route.res_id
    if res_type and res_id:
        return patients_of(conn, repo, [(res_type, res_id)])
    wanted = ("_id",) if res_type == "Patient" else FOCUS_PARAMS
    ids: set[str] = set()
    for key, value in req.query:
        if key in wanted:
            for part in value.split(","):
                ref = part.strip().removeprefix("Patient/")
                if ref and "/" not in ref:
                    ids.add(ref)
    return sorted(ids)


def _has_case(conn: Connection, units: tuple[str, ...], patient_id: str) -> bool:
    """Tell whether the patient has a case (Encounter or Task) at one of these units."""
    r = resources.alias("access_focus")
    cond = CaseScope([Arm(units, (patient_id,))]).patient(r)
    return conn.execute(select(r.c.rid).where(r.c.res_type == "Patient", r.c.res_id == patient_id,
                                              r.c.deleted == false(), cond).limit(1)).first() is not None

