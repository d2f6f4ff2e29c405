"""The unauthenticated GET/HEAD route serving issuer documents.

Path form: ``[<prefix>]/issuers/<uuid>/.well-known/openid-configuration`` and
``…/.well-known/jwks.json`` (any prefix, so a reverse proxy may or may not strip
the public URL's path). Host form (when ``issuer_host_template`` is set): the
issuer id comes from the ``Host`` header and the path is the template's path plus
``/.well-known/…``. Bodies come from ``IssuerService.documents`` (cached, with a
strong ETag); ``If-None-Match`` → 304; ``Cache-Control: public, max-age=300``;
unknown issuer → 404 JSON. Keys stay published after the account disables
outbound federation, so tokens already issued keep verifying.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Final

from tessera.app.pipeline import Request, Response
from tessera.oidc.documents import CONTENT_TYPE, DISCOVERY_PATH, JWKS_PATH, etag_matches
from tessera.oidc.issuers import CachedDocument, IssuerService

CACHE_CONTROL: Final = "public, max-age=300"

_PATH_FORM = re.compile(
    r"^(?:/.*)?/issuers/(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"(?P<doc>/\.well-known/(?:openid-configuration|jwks\.json))$"
)
_NOT_FOUND: Final = json.dumps(
    {"error": "not_found", "message": "No such issuer or document."}
).encode()


def _not_found() -> Response:
    return Response(
        404, (("content-type", CONTENT_TYPE), ("cache-control", "no-store")), _NOT_FOUND
    )


def _serve(request: Request, doc: CachedDocument) -> Response:
    headers = (
        ("content-type", CONTENT_TYPE),
        ("cache-control", CACHE_CONTROL),
        ("etag", doc.etag),
        ("access-control-allow-origin", "*"),
    )
    if etag_matches(request.header("if-none-match"), doc.etag):
        return Response(304, headers, b"")
    return Response(200, headers, doc.body)


def issuer_document_route(service: IssuerService) -> Callable[[Request], Response | None]:
    """A ``TesseraApp.get_routes`` entry: returns None for paths it does not own."""
    host_prefix = service.host_template_path()

    def route(request: Request) -> Response | None:
        issuer_id: str | None = None
        doc_path: str | None = None
        if service.issuer_host_template is not None:
            host_id = service.issuer_id_from_host(request.header("host") or "")
            if host_id is not None and request.path in (
                host_prefix + DISCOVERY_PATH,
                host_prefix + JWKS_PATH,
            ):
                issuer_id, doc_path = host_id, request.path[len(host_prefix) :]
        if issuer_id is None:
            if "/issuers/" not in request.path:
                return None
            match = _PATH_FORM.match(request.path)
            if match is None:
                return _not_found()
            issuer_id, doc_path = match.group("id"), match.group("doc")
        docs = service.documents(issuer_id)
        if docs is None:
            return _not_found()
        return _serve(request, docs.discovery if doc_path == DISCOVERY_PATH else docs.jwks)

    return route
