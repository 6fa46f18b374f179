"""Shared SOAP plumbing for the RIV-TA clients: the contracts' WSDLs, one zeep caller, error types."""
