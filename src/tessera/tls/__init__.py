"""TLS for Tessera, split so that each user imports only what it needs.

* :mod:`tessera.tls.ca` -- the local certificate authority behind ``--tls auto``
  and ``tessera tls init`` (:func:`~tessera.tls.ca.init_local_ca`).
* :mod:`tessera.tls.server` -- the server TLS policy as an ``ssl.SSLContext`` and
  the uvicorn glue that enforces it (the only module here that imports uvicorn).
* :mod:`tessera.tls.client` -- the client TLS policy for Tessera's own outbound
  HTTPS (JWKS and IdP document fetching, verifiers); services import only this.
* :mod:`tessera.tls.errors` -- :class:`~tessera.tls.errors.TlsConfigError`.

This package module deliberately re-exports nothing: importing
:mod:`tessera.tls.client` must not pull in the server side or uvicorn (a test
checks it).
"""
