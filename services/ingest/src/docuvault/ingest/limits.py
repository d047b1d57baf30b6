"""How many uploads one owner may have in flight (per ingest process)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


class TooBusy(Exception):
    """The owner already has the allowed number of uploads in flight."""


class OwnerLimiter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._inflight: Counter[uuid.UUID] = Counter()

    @contextmanager
    def slot(self, owner_id: uuid.UUID) -> Iterator[None]:
        if self._inflight[owner_id] >= self.limit:
            raise TooBusy(f"{self.limit} uploads of this owner are already in progress")
        self._inflight[owner_id] += 1
        try:
            yield
        finally:
            self._inflight[owner_id] -= 1
            if not self._inflight[owner_id]:
                del self._inflight[owner_id]
