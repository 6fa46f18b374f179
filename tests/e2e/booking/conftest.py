"""The hub process under test talks SOAP to one local SOAP server process per module."""

from tests.fixtures.soap_server.harness import soap_server

__all__ = ["soap_server"]
