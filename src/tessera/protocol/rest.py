"""REST-JSON routing: which operation of a REST service (IAM Roles Anywhere) a
request's method and path name, from the ``http.requestUri`` templates of the
pinned botocore model, and the values of the path labels (``{trustAnchorId}``).

Paths are matched whole, segment by segment: ``{label}`` takes one non-empty
segment, ``{label+}`` the rest of the path. Label values are percent-decoded. A
path that matches a template under another method is reported as such, so the
caller can answer with the service's own error instead of the Query protocol's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from .model import ServiceSpec

__all__ = ["RestMatch", "RestRoutes"]

_LABEL: Final = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@dataclass(frozen=True, slots=True)
class RestMatch:
    """A path of ``spec``; ``operation`` is None when no operation has this method
    on it."""

    spec: ServiceSpec
    operation: str | None
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    literal_chars: int  # more literal text first: /profiles/x/mappings before /profiles/{id}


def _compile(template: str) -> re.Pattern[str]:
    path = template.split("?", 1)[0]
    out: list[str] = []
    pos = 0
    for match in _LABEL.finditer(path):
        out.append(re.escape(path[pos : match.start()]))
        name, greedy = match.group(1), match.group(2)
        out.append(f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)")
        pos = match.end()
    out.append(re.escape(path[pos:]))
    return re.compile("".join(out))


class RestRoutes:
    """The routes of the REST services among ``specs``."""

    def __init__(self, specs: list[ServiceSpec]) -> None:
        routes: list[tuple[ServiceSpec, _Route]] = []
        for spec in specs:
            if spec.protocol != "rest-json":
                continue
            for name in spec.model.operation_names:
                http = spec.model.operation_model(name).http
                template = str(http["requestUri"])
                literal = len(_LABEL.sub("", template))
                route = _Route(str(http["method"]).upper(), _compile(template), name, literal)
                routes.append((spec, route))
        routes.sort(key=lambda item: -item[1].literal_chars)
        self._routes = tuple(routes)

    def match(self, method: str, path: str) -> RestMatch | None:
        """The operation ``method`` ``path`` names; None if no REST template matches
        the path (a Query request, normally ``/``)."""
        if path == "/" or not self._routes:
            return None
        method = method.upper()
        elsewhere: RestMatch | None = None
        for spec, route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            labels = {k: unquote(v, errors="replace") for k, v in found.groupdict().items()}
            if route.method == method:
                return RestMatch(spec, route.operation, labels)
            if elsewhere is None:
                elsewhere = RestMatch(spec, None, {})
        return elsewhere
