"""Call one RIV-TA interaction with zeep over its real WSDL, with a timeout and the hub's errors.

Why: every RIV-TA client needs the same things done the same way — the `LogicalAddress`
header that the service platform routes on, an `operation_timeout` on every call, the
endpoint from configuration instead of the WSDL's `http://tempuri.org`, and zeep, requests
and lxml exceptions turned into `adapters.riv.errors` at this boundary. Parsed WSDLs are
cached per process; a zeep Client is built lazily, never at import time.
https://docs.python-zeep.org/en/master/transport.html (timeouts)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.helpers import serialize_object
from zeep.transports import Transport

from adapters.riv.contracts import INTERACTIONS, Interaction
from adapters.riv.errors import (
    RivBadAnswer,
    RivBadRequest,
    RivConfigurationError,
    RivFault,
    RivTimeout,
    RivUnavailable,
)

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class RivEndpoint:
    """Where one region's service answers: a base URL and the logical address to route to.

    The interaction's URL is `base_url/<Operation>` unless `paths` names another path for it.
    """

    base_url: str
    logical_address: str
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    paths: tuple[tuple[str, str], ...] = ()

    def url_for(self, operation: str) -> str:
        """Return the URL the operation is posted to."""
        path = dict(self.paths).get(operation, operation)
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


class RivCaller:
    """Post RIV-TA requests to one endpoint; thread-safe, one zeep Client per interaction."""

    def __init__(self, endpoint: RivEndpoint, *, session: requests.Session | None = None) -> None:
        if not endpoint.logical_address:
            raise RivConfigurationError(endpoint.base_url, "every RIV-TA endpoint needs a logical address")
        self.endpoint = endpoint
        self._session = session or requests.Session()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _service(self, interaction: Interaction) -> Any:
        with self._lock:
            client = self._clients.get(interaction.operation)
            if client is None:
                if not interaction.wsdl.is_file():
                    raise RivConfigurationError(interaction.operation, f"missing WSDL {interaction.wsdl}")
                timeout = self.endpoint.timeout_seconds
                transport = Transport(session=self._session, timeout=timeout, operation_timeout=timeout)  # type: ignore[no-untyped-call]
                client = zeep.Client(str(interaction.wsdl), transport=transport)  # type: ignore[no-untyped-call]
                self._clients[interaction.operation] = client
        binding = next(iter(client.wsdl.bindings))
        return client.create_service(binding, self.endpoint.url_for(interaction.operation))

    def source(self, operation: str) -> str:
        """Name the service for messages: operation and endpoint, never patient data."""
        return f"{operation} at {self.endpoint.url_for(operation)}"

    def call(self, operation: str, actor: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
        """Call `operation` with `body` and return its response as plain dicts and lists."""
        interaction = INTERACTIONS[operation]
        source = self.source(operation)
        headers: dict[str, Any] = {"LogicalAddress": self.endpoint.logical_address}
        if interaction.uses_actor and actor is not None:
            headers["actor"] = actor
        try:
            service = self._service(interaction)
            result = getattr(service, operation)(**body, _soapheaders=headers)
        except zeep.exceptions.Fault as exc:
            if exc.code is None:  # an error page that happens to parse as XML, not a SOAP fault
                raise RivUnavailable(source, "an HTTP error without a SOAP fault") from None
            raise RivFault(source, str(exc.message or exc.code or "no fault text")) from None
        except requests.Timeout:
            raise RivTimeout(source, f"after {self.endpoint.timeout_seconds:g} s") from None
        except zeep.exceptions.TransportError as exc:
            if exc.status_code == 200:  # it answered, but not with XML
                raise RivBadAnswer(source, "the answer was not XML") from None
            raise RivUnavailable(source, f"HTTP {exc.status_code}") from None
        except requests.RequestException as exc:
            raise RivUnavailable(source, type(exc).__name__) from None
        except zeep.exceptions.ValidationError as exc:
            raise RivBadRequest(source, str(exc.message)) from None
        except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError, etree.LxmlError) as exc:
            raise RivBadAnswer(source, type(exc).__name__) from None
        except zeep.exceptions.Error as exc:
            raise RivBadAnswer(source, type(exc).__name__) from None
        plain = serialize_object(result, dict)  # type: ignore[no-untyped-call]
        if plain is None:
            return {}
        if not isinstance(plain, dict):
            raise RivBadAnswer(source, "the response was not a message")
        return plain
