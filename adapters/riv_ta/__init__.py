"""The RIV-TA service contracts (WSDL and XSD) the hub ships; see wsdl/README.md."""
