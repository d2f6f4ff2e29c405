"""Tessera's instance registry (#16): self-hosted machines enrolled with a one-time
join token, holding a certificate of the server's instance CA, and getting their
instance profile role's credentials (with their compute context) by signing with
it."""
