"""Test-time SAML identity provider (see make_saml)."""
