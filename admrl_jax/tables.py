"""Tables written once: rows and a column spec -> markdown and CSV (the run's eval tables, the evaluate
command's table across runs, the results and oracle tables, the benchmark report)."""
from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any, Callable, Iterable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Column:
  """One column: the row's ``key``, its markdown ``header`` (default: the key), and how a value is
  written in markdown (``md``) and in CSV (``csv``); both default to ``str``."""

  key: str
  header: str = ""
  md: Callable[[Any], str] = str
  csv: Callable[[Any], str] = str


def fixed(digits: int) -> Callable[[Any], str]:
  """A number at ``digits`` decimals."""
  return lambda x: f"{x:.{digits}f}"


def fixed_or_blank(digits: int) -> Callable[[Any], str]:
  """A number at ``digits`` decimals; empty for None or a non-finite number (a reference that did not run)."""
  return lambda x: "" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def floats_at(digits: int) -> Callable[[Any], str]:
  """A float at ``digits`` decimals, anything else as ``str``."""
  return lambda x: f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def markdown(header: Sequence[str], rows: Iterable[Sequence]) -> str:
  """A markdown table of cells (``str`` of each), one line per row."""
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines) + "\n"


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
  """CSV of cells already written as text (quoted only where a cell holds a comma, quote or newline)."""
  out = io.StringIO()
  writer = csv.writer(out, lineterminator="\n")
  writer.writerow(header)
  writer.writerows(rows)
  return out.getvalue()


def cells(columns: Sequence[Column], rows: Iterable[dict], fmt: str) -> list[list[str]]:
  """Each row's cells, written by each column's ``fmt`` ("md" or "csv") writer."""
  return [[getattr(c, fmt)(row[c.key]) for c in columns] for row in rows]


def write(columns: Sequence[Column], rows: Sequence[dict], md_path: str | None = None,
          csv_path: str | None = None) -> None:
  """Write the rows as a markdown table (headers) and/or a CSV file (keys as the header)."""
  if md_path:
    with open(md_path, "w") as fh:
      fh.write(markdown([c.header or c.key for c in columns], cells(columns, rows, "md")))
  if csv_path:
    with open(csv_path, "w") as fh:
      fh.write(csv_text([c.key for c in columns], cells(columns, rows, "csv")))
