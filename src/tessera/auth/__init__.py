"""Authentication: pure SigV4 verification (``tessera.auth.sigv4``) and, above it,
credential resolution (access key → secret, session tokens)."""
