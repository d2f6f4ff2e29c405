"""Inbound federation: the OpenID Connect identity-provider client that
AssumeRoleWithWebIdentity verifies tokens with (``federation.oidc``) and SAML
response verification for AssumeRoleWithSAML (``federation.saml``)."""
