"""Data files the FHIR API ships: the trimmed R4 search-parameter definitions."""
