"""Progress bars for every long step (training, evaluation, oracles, studies): one tqdm bar per step,
saying what is computed and how many of how many.

A bar redraws at least every ``HEARTBEAT_S`` seconds, with the elapsed time, even while one item is
being computed (a compile, a chunk of tasks), so no step is silent for longer than that. On a
terminal it redraws in place. Written to a file or a pipe (a log, CI), a redrawn bar would be one
endless line, so there each redraw is its own line: a timestamped log (``... 2>&1 | ts``) shows that
nothing was silent for long.
"""
from __future__ import annotations

import sys
import threading

from tqdm import tqdm

HEARTBEAT_S = 5.0   # the longest time between two redraws of a bar


class _Lines:
  """A stream wrapper that turns tqdm's carriage-return redraws into whole lines (each once)."""

  def __init__(self, stream):
    self.stream = stream
    self.last = None

  def write(self, text: str) -> None:
    text = text.replace("\r", "").rstrip()
    if text and text != self.last:   # close() redraws the last state once more
      self.stream.write(text + "\n")
      self.last = text

  def flush(self) -> None:
    self.stream.flush()


class Bar(tqdm):
  """A tqdm bar that a daemon thread redraws every ``heartbeat`` seconds until it is closed."""

  def __init__(self, *args, heartbeat: float = HEARTBEAT_S, **kw):
    super().__init__(*args, **kw)
    self._stopped = threading.Event()
    if not self.disable:
      threading.Thread(target=self._beat, args=(heartbeat,), daemon=True).start()

  def _beat(self, heartbeat: float) -> None:
    while not self._stopped.wait(heartbeat):
      self.refresh()

  def close(self) -> None:
    if hasattr(self, "_stopped"):
      self._stopped.set()
    super().close()


def bar(total: int, desc: str, unit: str = "it", initial: int = 0, disable: bool = False, **kw) -> Bar:
  """A progress bar on stderr: ``desc`` what is computed, ``total`` how many ``unit``s (a context
  manager; ``update(n)`` as items finish, ``set_postfix`` for numbers). On a terminal it redraws in
  place; elsewhere each redraw is one line, at most every ``HEARTBEAT_S`` seconds between updates."""
  stream = sys.stderr
  tty = hasattr(stream, "isatty") and stream.isatty()
  kw.setdefault("mininterval", 0.1 if tty else HEARTBEAT_S)
  return Bar(total=total, desc=desc, unit=unit, initial=initial, disable=disable, dynamic_ncols=tty,
             file=stream if tty else _Lines(stream), **kw)
