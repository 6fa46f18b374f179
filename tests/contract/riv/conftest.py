"""The RIV-TA contract suites run their zeep side against one local SOAP server process per module."""

from tests.fixtures.soap_server.harness import soap_server

__all__ = ["soap_server"]
