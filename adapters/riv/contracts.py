"""Say where each RIV-TA interaction's WSDL is, among the copies shipped in adapters/riv_ta/wsdl.

Why: one table of the interactions the hub calls, so the clients and the local SOAP test
server load the very same files, and a missing file fails at start-up with its name.
See adapters/riv_ta/wsdl/README.md for where the files come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WSDL_ROOT = Path(__file__).resolve().parent.parent / "riv_ta" / "wsdl"
SCHEDULING = "TD_SCHEDULING_1_1_0_R"
HEALTHCOND = "TD_HEALTHCOND_DESCRIPTION_2_0_RC6"
LOGISTICS = "TD_LOGISTICS_LOGISTICS_2_0_RC7c"


@dataclass(frozen=True)
class Interaction:
    """One RIV-TA interaction: its operation name, contract folder and WSDL version suffix."""

    operation: str
    folder: str
    version: str

    @property
    def wsdl(self) -> Path:
        """Return the path of the interaction's WSDL."""
        name = f"{self.operation}Interaction"
        return WSDL_ROOT / self.folder / "interactions" / name / f"{name}_{self.version}_RIVTABP21.wsdl"

    @property
    def uses_actor(self) -> bool:
        """Tell whether the contract carries the `Actor` SOAP header (crm:scheduling does)."""
        return self.folder == SCHEDULING


GET_CARE_DOCUMENTATION = Interaction("GetCareDocumentation", HEALTHCOND, "2.0")
GET_CARE_CONTACTS = Interaction("GetCareContacts", LOGISTICS, "2.0")
SCHEDULING_OPERATIONS = ("GetAvailableTimeslots", "MakeBooking", "CancelBooking", "UpdateBooking",
                         "GetBookingDetails", "GetSubjectOfCareSchedule")
INTERACTIONS = {i.operation: i for i in (
    GET_CARE_DOCUMENTATION, GET_CARE_CONTACTS, *(Interaction(op, SCHEDULING, "1.1") for op in SCHEDULING_OPERATIONS),
)}
