"""Progress bars for long work (tqdm on a terminal, silent otherwise)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar on stderr when it is a terminal."""
    from tqdm.auto import tqdm

    yield from tqdm(items, desc=desc, total=total, disable=not sys.stderr.isatty(), leave=False)
