"""The FHIR ⇄ RIV-TA translations: identifiers, local times, journal entries and booking times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mappings.hsa import (
    HSA_FHIR_SYSTEM,
    HSA_RIV_OID,
    PERSONNUMMER_FHIR_SYSTEM,
    PERSONNUMMER_RIV_OID,
    SAMORDNINGSNUMMER_RIV_OID,
    UnmappedIdentifier,
    fhir_instant,
    fhir_person_identifier,
    fhir_system,
    riv_oid,
    riv_person_id,
    riv_timestamp,
)
from mappings.riv_journal import document_reference, encounter
from mappings.riv_scheduling import (
    Timeslot,
    region_appointment,
    subject_info,
    timeslot_from_riv,
    timeslot_to_riv,
)
from tests.fixtures.soap_server.samples import care_contact, care_documentation


def test_hsa_oid__fhir_system_and_riv_oid_map_both_ways() -> None:
    assert riv_oid(HSA_FHIR_SYSTEM) == HSA_RIV_OID == "1.2.752.129.2.1.4.1"
    assert fhir_system(HSA_RIV_OID) == fhir_system("urn:oid:1.2.752.129.2.1.4.1") == "urn:oid:1.2.752.29.4.19"


def test_person_id__personnummer_and_samordningsnummer_get_their_riv_oids() -> None:
    assert riv_person_id({"system": PERSONNUMMER_FHIR_SYSTEM, "value": "19121212-1212"}) == {
        "id": "191212121212", "type": PERSONNUMMER_RIV_OID}
    samordning = {"system": "http://electronichealth.se/identifier/samordningsnummer", "value": "197010632391"}
    assert riv_person_id(samordning)["type"] == SAMORDNINGSNUMMER_RIV_OID
    assert fhir_person_identifier(riv_person_id(samordning)) == samordning


@pytest.mark.parametrize("identifier", [{"system": PERSONNUMMER_FHIR_SYSTEM, "value": "1212121212"},
                                        {"system": "urn:oid:1.2.3", "value": "191212121212"}])
def test_person_id__a_short_number_or_unknown_system_is_refused(identifier: dict[str, str]) -> None:
    with pytest.raises(UnmappedIdentifier):
        riv_person_id(identifier)


def test_timestamps__are_swedish_local_time_across_summer_and_winter() -> None:
    assert fhir_instant("20260115093000") == "2026-01-15T08:30:00Z"  # CET, +01:00
    assert fhir_instant("20260715093000") == "2026-07-15T07:30:00Z"  # CEST, +02:00
    assert riv_timestamp(datetime(2026, 7, 15, 7, 30, tzinfo=UTC)) == "20260715093000"


def test_timestamps__a_naive_time_or_a_bad_timestamp_is_refused() -> None:
    with pytest.raises(UnmappedIdentifier):
        riv_timestamp(datetime(2026, 1, 1, 12, 0))
    with pytest.raises(UnmappedIdentifier):
        fhir_instant("2026-01-15")


def test_document_reference__a_nullified_note_is_entered_in_error_with_its_reason() -> None:
    note = care_documentation("D1")
    note["careDocumentationHeader"] |= {"nullified": True, "nullifiedReason": "Fel patient"}
    doc = document_reference(note)
    assert (doc["status"], doc["description"]) == ("entered-in-error", "Fel patient")


def test_encounter__codes_given_as_ints_map_like_strings_and_keep_the_riv_status() -> None:
    contact = care_contact("C1", status="4")
    contact["careContactBody"] |= {"careContactCode": 2, "careContactStatus": 4}
    mapped = encounter(contact)
    assert (mapped["status"], mapped["class"]["code"]) == ("finished", "VR")
    assert mapped["extension"][0]["valueCoding"]["display"] == "Avbruten"


def test_timeslot__round_trips_through_riv_and_shows_as_an_appointment() -> None:
    riv = {"startTimeInclusive": "20261201090000", "endTimeExclusive": "20261201093000",
           "healthcare_facility": "SE1", "performer": "SE1-P", "bookingId": "B7", "subject_of_care": "191212121212"}
    slot = timeslot_from_riv(riv)
    assert slot.start == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert timeslot_to_riv(slot) == riv
    appointment = region_appointment(slot)
    assert appointment["start"] == "2026-12-01T08:00:00Z"
    assert appointment["identifier"][0]["value"] == "B7"
    assert appointment["participant"][1]["actor"]["identifier"] == {"system": HSA_FHIR_SYSTEM, "value": "SE1-P"}


def test_subject_info__takes_the_official_name_and_refuses_a_patient_without_one() -> None:
    patient = {"name": [{"use": "nickname", "given": ["Tolle"], "family": "T"},
                        {"use": "official", "given": ["Tolvan", "Tolle"], "family": "Tolvansson"}],
               "telecom": [{"system": "phone", "value": "070-1"}]}
    info = subject_info(patient)
    assert (info.first_name, info.last_name, info.phone) == ("Tolvan Tolle", "Tolvansson", "070-1")
    with pytest.raises(UnmappedIdentifier):
        subject_info({"name": [{"family": "Utan förnamn"}]})


def test_timeslot_key__names_facility_local_start_and_performer() -> None:
    slot = Timeslot("SE1", datetime(2026, 12, 1, 8, 0, tzinfo=UTC), datetime(2026, 12, 1, 8, 30, tzinfo=UTC), "P")
    assert slot.key == "SE1|20261201090000|P"


def test_mapped_resources__are_valid_r4() -> None:
    from fhir_api.validation import validate_resource
    from mappings.riv_scheduling import region_slot

    slot = timeslot_from_riv({"startTimeInclusive": "20261201090000", "endTimeExclusive": "20261201093000",
                              "healthcare_facility": "SE1", "performer": "SE1-P", "bookingId": "B7",
                              "subject_of_care": "191212121212", "careTypeName": "Fysioterapi"})
    for resource in (document_reference(care_documentation("D1")), encounter(care_contact("C1")),
                     region_slot(slot), region_appointment(slot)):
        validate_resource(resource, resource["resourceType"])
