"""Per-iteration metrics of a run: metrics.jsonl and metrics.csv in the run directory, and wandb.

wandb runs offline by default (no network needed; `wandb sync <run_dir>/wandb/offline-run-*`
uploads later), online when the config asks, or not at all ("disabled"). On resume the files are
rewritten from the checkpoint's history, so rows past the checkpoint (from a killed process) go.
"""
from __future__ import annotations

import csv
import json
import os
import uuid

import numpy as np

WANDB_MODES = ("offline", "online", "disabled")


def flatten(row: dict) -> dict:
  """{"psi": [[a, b]], "x": 1.0} -> {"psi/0/0": a, "psi/0/1": b, "x": 1.0}."""
  flat = {}
  for name, value in row.items():
    array = np.asarray(value)
    if array.ndim == 0:
      flat[name] = array.item()
    else:
      for index in np.ndindex(array.shape):
        flat[name + "".join(f"/{i}" for i in index)] = array[index].item()
  return flat


class RunLogger:
  """Appends one row per outer iteration to the run's files and to wandb."""

  def __init__(self, run_dir: str, config, history: list[dict] | None = (), wandb_mode: str = "offline",
               project: str = "admrl-jax"):
    """history: rows already done (the files are rewritten to hold exactly them); None attaches to
    the run (wandb only, for the evaluation summary) and leaves the files alone."""
    self.run_dir = run_dir
    self.jsonl_path = os.path.join(run_dir, "metrics.jsonl")
    self.csv_path = os.path.join(run_dir, "metrics.csv")
    self._columns = None
    if history is not None:
      with open(self.jsonl_path, "w") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in history)
      with open(self.csv_path, "w", newline="") as fh:
        if history:
          self._columns = list(flatten(history[0]))
          writer = csv.DictWriter(fh, self._columns)
          writer.writeheader()
          writer.writerows(flatten(row) for row in history)
    self.wandb = None
    if wandb_mode != "disabled":
      self.wandb = self._init_wandb(config, wandb_mode, project)

  def _init_wandb(self, config, mode: str, project: str):
    import wandb  # imported lazily: it starts a service process
    id_path = os.path.join(self.run_dir, "wandb_id.txt")
    if os.path.exists(id_path):
      run_id = open(id_path).read().strip()
    else:
      run_id = uuid.uuid4().hex[:12]
      with open(id_path, "w") as fh:
        fh.write(run_id)
    return wandb.init(project=project, dir=self.run_dir, mode=mode, id=run_id, resume="allow",
                      name=os.path.basename(os.path.normpath(self.run_dir)), config=config.to_dict(),
                      settings=wandb.Settings(console="off", silent=True))

  def log(self, row: dict) -> None:
    with open(self.jsonl_path, "a") as fh:
      fh.write(json.dumps(row) + "\n")
    flat = flatten(row)
    with open(self.csv_path, "a", newline="") as fh:
      if self._columns is None:
        self._columns = list(flat)
        csv.DictWriter(fh, self._columns).writeheader()
      csv.DictWriter(fh, self._columns).writerow(flat)
    if self.wandb is not None:
      self.wandb.log(flat, step=int(row["iteration"]))

  def log_summary(self, summary: dict, images: dict[str, str] = ()) -> None:
    """Scalars of the evaluation summary, and figures (name -> PNG path), to wandb."""
    if self.wandb is None:
      return
    import wandb
    for name, value in summary.items():
      if isinstance(value, (int, float)):
        self.wandb.summary[name] = value
    for name, path in dict(images).items():
      self.wandb.log({name: wandb.Image(path)})

  def close(self) -> None:
    if self.wandb is not None:
      self.wandb.finish()
      self.wandb = None
