"""Name every way a RIV-TA call can fail in the hub's own terms, never zeep's, requests' or lxml's.

Why: the journal view must tell the clinician "the region's journal did not answer in time"
apart from "it answered with a fault", and the booking operation must show a rejection's own
text; callers can do neither if zeep exceptions leak out of the adapters. Messages are for
operators and clinicians: they name the source and the reason, never a personnummer.
http://rivta.se/documents/ARK_0001/ (RIV Tekniska Anvisningar Basic Profile 2.1)
"""

from __future__ import annotations


class RivError(Exception):
    """A RIV-TA call that gave no usable answer; `source` names the contract and endpoint."""

    summary = "the service failed"

    def __init__(self, source: str, details: str = "") -> None:
        self.source = source
        self.details = details
        super().__init__(f"{source}: {self.summary}" + (f" ({details})" if details else ""))


class RivTimeout(RivError):
    """The service did not answer within the configured timeout."""

    summary = "no answer within the timeout"


class RivUnavailable(RivError):
    """The service could not be reached, or answered with an HTTP error and no SOAP fault."""

    summary = "the service could not be reached"


class RivFault(RivError):
    """The service answered with a SOAP fault (the request was refused, or it failed inside)."""

    summary = "the service answered with a SOAP fault"


class RivBadAnswer(RivError):
    """The service answered with something that is not the contract's response."""

    summary = "the answer did not follow the service contract"


class RivBadRequest(RivError):
    """The hub built a request the contract does not allow (a missing or malformed element)."""

    summary = "the request did not follow the service contract"


class RivConfigurationError(RivError):
    """The hub's RIV-TA settings cannot work: a missing WSDL, an endpoint without a logical address."""

    summary = "the service is not configured correctly"
