"""Security tests reuse the end-to-end server fixtures (a real server per module)."""

from tests.e2e.conftest import server

__all__ = ["server"]
