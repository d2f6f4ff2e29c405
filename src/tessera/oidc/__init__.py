"""Outbound identity federation building blocks: issuer signing keys and their
rotation policy (``keys``), the token claim set (``claims``), compact JWS signing
(``jwt``) and the discovery/JWKS documents (``documents``). Pure and
storage-agnostic: the store persists keys, the app serves the documents."""
