"""``Memo``: where a service keeps a value derived from store reads only (a key's
principal, a caller's compiled policies) so that it goes exactly when those reads
go. The SQL store's read cache is one (``SqlStore.memo``); ``NO_MEMO`` keeps
nothing and recomputes every time."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Final, Protocol, TypeVar

_T = TypeVar("_T")


class Memo(Protocol):
    def memo(self, key: tuple[Hashable, ...], load: Callable[[], _T]) -> _T:
        """The value kept under ``key``, computed by ``load()`` when there is none.
        Values are shared between requests and threads: treat them as immutable."""
        ...


class _NoMemo:
    def memo(self, key: tuple[Hashable, ...], load: Callable[[], _T]) -> _T:
        return load()


NO_MEMO: Final[Memo] = _NoMemo()
