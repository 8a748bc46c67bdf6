"""V* shipped with the package: oracle results as versioned data, so a fresh clone evaluates without
recomputing them (hours per Brax family on a CPU).

A shipped table is a cache file (``oracles.cache``: v_star, curve, psi) under ``admrl_jax/oracles/v_star/``
with the name the cache would give it, so it is found by the same key (family, box, environment, task
set, evaluation key, oracle budget): evaluation uses it where its key matches the run's protocol and
computes otherwise. ``index.json`` says for each file which family, test set and oracle it holds, the
budget, the command that computed it, the commit HEAD was at when it was shipped, and how long the
computation took (null: it was loaded from the cache). ``admrl-oracle-table --ship``
writes both.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess

SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "v_star")
INDEX = os.path.join(SHIPPED_DIR, "index.json")


def shipped_file(cache_path: str) -> str | None:
  """The shipped table with the same key as the cache file ``cache_path``, if the package has one."""
  path = os.path.join(SHIPPED_DIR, os.path.basename(cache_path))
  return path if os.path.exists(path) else None


def index() -> list[dict]:
  """The shipped tables' records (``index.json``; [] when none are shipped)."""
  if not os.path.exists(INDEX):
    return []
  with open(INDEX) as fh:
    return json.load(fh)


def _commit() -> str:
  try:
    out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(SHIPPED_DIR))
    return out.stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def ship(cache_path: str, record: dict) -> str:
  """Copy a computed cache file into the package and record it (replacing a record of the same file):
  record holds family, set, oracle, budget, tasks, config, command, seconds; file, commit and date are
  added. Returns the shipped path."""
  os.makedirs(SHIPPED_DIR, exist_ok=True)
  dest = os.path.join(SHIPPED_DIR, os.path.basename(cache_path))
  shutil.copyfile(cache_path, dest)
  entry = {"file": os.path.basename(dest), **record, "shipped_at_commit": _commit(),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
  records = [r for r in index() if r["file"] != entry["file"]] + [entry]
  with open(INDEX, "w") as fh:
    json.dump(sorted(records, key=lambda r: (r["family"], r["set"], r["oracle"])), fh, indent=1)
  return dest
