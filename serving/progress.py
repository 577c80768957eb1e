"""Progress of a long loop: done, total, rate and time left. On a terminal a bar redrawn in
place; in a log (a file, a pipe, CI) a line at least every `every_seconds`, so that no long step
is silent. Counts only: never a record's content."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from typing import IO

BAR_WIDTH = 28
REDRAW_SECONDS = 0.2  # a terminal bar is redrawn at most this often
LOG_SECONDS = 10.0  # a log line at least this often (issue 17: nothing silent for 30 s)


@dataclass
class Progress:
    """Call `advance(n)` as work is done and `close()` at the end; the first report comes after
    `every_seconds` (a step that fast needs none)."""

    label: str
    total: int
    unit: str
    logger: logging.Logger
    stream: IO[str] = field(default_factory=lambda: sys.stderr)
    every_seconds: float = LOG_SECONDS
    done: int = 0
    _started: float = field(default_factory=time.perf_counter, repr=False)
    _last: float | None = field(default=None, repr=False)

    @property
    def on_terminal(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self, now: float) -> str:
        """`label: done/total unit (rate/s, about N s left)`."""
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        return f"{self.label}: {self.done}/{self.total} {self.unit} ({rate:.0f}/s, about {left:.0f} s left)"

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.perf_counter()
        since = now - (self._last if self._last is not None else self._started)
        if self.on_terminal and since >= REDRAW_SECONDS:
            filled = int(BAR_WIDTH * self.done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.line(now)}")
            self.stream.flush()
            self._last = now
        elif not self.on_terminal and since >= self.every_seconds:
            self.logger.info("%s", self.line(now))
            self._last = now

    def close(self) -> None:
        """End the bar's line on a terminal; in a log, the final count if anything was reported."""
        if self._last is None:
            return
        if self.on_terminal:
            self.stream.write("\n")
            self.stream.flush()
        else:
            self.logger.info("%s", self.line(time.perf_counter()))
