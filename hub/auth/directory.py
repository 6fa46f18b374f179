"""Find the FHIR resources behind a person who logged in, in the hub's own store.

Why: a citizen's app asks for `launch/patient` and `patient/*.rs`, and the token can carry
patient scopes only with the Patient the citizen acts for (a guardian: the child's); SMART apps
also want `fhirUser`. Both come from the store by identifier: personnummer or samordningsnummer
for Patients, the HSA-id for Practitioners. Without this, a running hub gave citizens tokens
without patient scopes.
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#launch-context-arrives-with-your-access_token
"""

from __future__ import annotations

import json

from sqlalchemy import Engine, false, select

from cases.principals import HSA_SYSTEM, Citizen, Clinician, Guardian, Principal
from fhir_api.store.schema import idx_token, resources
from hub.access.resolve import patient_ids


class StoreDirectory:
    """An IdentityDirectory over the resource store (the hub's `IdentityDirectory` in production)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def own_patient(self, principal: Principal) -> str | None:
        """Return the id of the Patient a citizen acts for, or None if there is none or more than one."""
        if isinstance(principal, Guardian):
            person = principal.child_person_id
        elif isinstance(principal, Citizen):
            person = principal.person_id
        else:
            return None
        with self.engine.connect() as conn:
            found = patient_ids(conn, [person])
        # Two Patients with one personnummer is a data error to fix, not a choice to make here.
        return found[0] if len(found) == 1 else None

    def person_name(self, person_id: str) -> str | None:
        """Return the Patient's name as "given family" (its first name entry), if the hub has them."""
        with self.engine.connect() as conn:
            found = patient_ids(conn, [person_id])
            if len(found) != 1:
                return None
            content = conn.execute(select(resources.c.content).where(
                resources.c.res_type == "Patient", resources.c.res_id == found[0],
                resources.c.deleted == false())).scalar()
        names = (json.loads(content) if content else {}).get("name") or [{}]
        first = names[0] if isinstance(names[0], dict) else {}
        text = first.get("text") or " ".join([*first.get("given", []), first.get("family", "")]).strip()
        return text or None

    def fhir_user(self, principal: Principal) -> str | None:
        """Return `Patient/<id>` for a citizen, `Practitioner/<id>` for a clinician, if found."""
        if isinstance(principal, Citizen):
            patient = self.own_patient(principal)
            return f"Patient/{patient}" if patient else None
        if isinstance(principal, Guardian):
            return None  # the guardian is not the Patient; a RelatedPerson would be, once the hub keeps them
        if isinstance(principal, Clinician):
            t = idx_token
            with self.engine.connect() as conn:
                row = conn.execute(select(resources.c.res_id).join(t, t.c.rid == resources.c.rid).where(
                    t.c.res_type == "Practitioner", t.c.param == "identifier", t.c.system == HSA_SYSTEM,
                    t.c.code == principal.employee_hsa_id, resources.c.deleted == false()).limit(1)).first()
            return f"Practitioner/{row[0]}" if row else None
        return None
