"""Exponential backoff with full jitter, for retries after network errors, 5xx and 429.

Random and sleep are injectable, so that tests run without waiting.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable


class Backoff:
    """Delay before retry n: uniform in [0, min(cap, base * 2**n)] (full jitter).

    Full jitter spreads the retries of many phones that lost the network together, so they
    don't all hit the server at the same instant when it comes back.
    """

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 30.0,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.base = base
        self.cap = cap
        self.random = random
        self.failures = 0

    def next_delay(self, at_least: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        delay = self.random() * ceiling
        if at_least is not None:  # the server's Retry-After, within reason
            delay = max(delay, min(at_least, self.cap))
        return delay

    def reset(self) -> None:
        self.failures = 0
