"""The run directory on disk: its config.json, summary.json and checkpoints, read back.

``save_config`` / ``load_config`` write and read the resolved config a run started with (older run
directories stay loadable: fields added to the library since are filled from defaults);
``load_run`` rebuilds a run's static objects, ``restore_state`` / ``checkpoint_steps`` read its
checkpoints, ``write_summary`` writes the evaluation's summary.json. The host loop (``runner``)
and the entry points share these; nothing here runs the outer loop.
"""
from __future__ import annotations

import json
import os

import jax

from admrl_jax.checkpoint import Checkpointer
from admrl_jax.config import build
from admrl_jax.schema import SAVED_BEFORE_THE_FIELD


def save_config(config, run_dir: str) -> None:
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, "config.json"), "w") as fh:
    fh.write(config.to_json_best_effort(indent=2))


def _fill_missing(defaults: dict, saved: dict) -> dict:
  """saved, with every key it lacks (at any depth) taken from defaults."""
  out = dict(defaults)
  for k, v in saved.items():
    out[k] = _fill_missing(defaults[k], v) if isinstance(v, dict) and isinstance(defaults.get(k), dict) else v
  return out


def load_config(run_dir: str, defaults=None):
  """The resolved config a run directory was started with (locked), lists turned back to tuples.

  defaults: a config whose values fill the fields the saved one lacks (fields added to the library
  after the run started), so older run directories stay loadable; saved fields always win, and a
  field in ``schema.SAVED_BEFORE_THE_FIELD`` takes the value that keeps the run's old protocol.
  """
  import ml_collections
  path = os.path.join(run_dir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"run_dir: {run_dir!r} holds no config.json; is it a run directory?")
  with open(path) as fh:
    raw = json.load(fh)
  for dotted, value in SAVED_BEFORE_THE_FIELD.items():   # a field added later, at the value the run had
    *sections, name = dotted.split(".")
    node = raw
    for section in sections:
      node = node.get(section, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict) and node and name not in node:
      node[name] = value
  if defaults is not None:
    raw = _fill_missing(json.loads(defaults.to_json_best_effort()), raw)
  as_tuples = lambda x: tuple(as_tuples(v) for v in x) if isinstance(x, list) else (
      {k: as_tuples(v) for k, v in x.items()} if isinstance(x, dict) else x)
  config = ml_collections.ConfigDict(as_tuples(raw))
  config.lock()
  return config


def write_summary(summary: dict, directory: str) -> str:
  """``<directory>/summary.json`` (indented JSON); returns its path."""
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, "summary.json")
  with open(path, "w") as fh:
    json.dump(summary, fh, indent=2)
  return path


def load_run(run_dir: str, defaults=None):
  """(config, loop, evaluator) of a run directory, built from the config it was started with
  (``defaults`` as in ``load_config``)."""
  config = load_config(run_dir, defaults)
  loop, evaluator = build(config)
  return config, loop, evaluator


def restore_state(run_dir: str, loop, seed: int, step: int | None = None):
  """(MetaState, history) of a run's checkpoint at ``step`` (default: the latest), on one device
  (whether the run was saved by one process or several)."""
  ckpt = Checkpointer(run_dir)
  try:
    return ckpt.restore(loop.init(jax.random.key(seed)), step)
  finally:
    ckpt.close()


def checkpoint_steps(run_dir: str) -> list[int]:
  """The outer iterations of a run's kept checkpoints, ascending ([] for none; nothing is created)."""
  if not os.path.isdir(os.path.join(run_dir, "checkpoints")):
    return []
  ckpt = Checkpointer(run_dir)
  try:
    return ckpt.steps()
  finally:
    ckpt.close()
