"""Inbound SAML 2.0 federation: hardened XML parsing (``xml``), IdP metadata
(``metadata``) and SAML Response verification (``response``) for the IAM SAML
provider operations and STS ``AssumeRoleWithSAML``."""
