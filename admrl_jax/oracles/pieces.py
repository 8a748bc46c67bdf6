"""V* of a whole test set computed in resumable pieces, assembled into the very cache entry (and shipped
table) that one whole-set computation would write.

A cached reference (an oracle, or the adaptation floor) maps its set's items -- tasks, or the floor's
(seed, task) pairs -- from the host in batches of ``batch`` items through one compiled function
(``evaluation.map_items``: the last batch padded by repeating its last item). A set's pieces are runs of
whole batches (``PieceSet.items_of``), so a piece feeds the compiled function exactly the batches the
whole set would: the same items in the same lanes, the same padding in the last one, and every item with
what it has in the whole set:
- the MPC and trajectory oracles plan each task from the evaluation key alone: the oracle itself on the
  piece's tasks;
- the policy oracle trains task i with the i-th of the keys split from its stream over the whole set
  (``jax.random.split(stream, G)[i]``), so a piece takes the keys of its tasks' indices in the set (the
  oracle on the piece's tasks alone would give its j-th task the j-th key);
- the floor adapts item (s, i) with the i-th key of seed s's split (``evaluation.seeded_items``), seed
  major: a piece is a run of those items' batches.
Assembled, the pieces are what the whole-set call returns, bit for bit (tests/test_oracle_pieces.py), and
``PieceSet.write_entry`` stores them with ``cache.write_entry``, as ``cached_oracle`` stores a whole set. A piece of part of a batch would cost the whole
batch, so a set has at most as many pieces as batches (``PieceSet.max_pieces``).

The pieces live in ``<root>/<family>-<set>-<oracle>-<key>/``, ``<key>`` the whole set's cache key (family,
box, environment, task set, evaluation key, budget: ``cache.oracle_cache_path``), so pieces of other sets,
budgets or task bits never mix: ``pieces.json`` (what the folder computes, and into how many pieces) and
one ``piece-<i>-of-<n>.npz`` per finished piece (its items' outputs, their indices and tasks, seconds,
device and CPU model), written atomically: a piece interrupted part-way leaves no file and is computed again.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from typing import Callable, NamedTuple

import jax
import numpy as np

from admrl_jax.evaluation import _jitted_zero_shot, map_items, seeded_items
from admrl_jax.oracles import mpc, policy, trajectory
from admrl_jax.oracles.base import eval_stream
from admrl_jax.oracles.cache import oracle_cache_path, write_entry

PLAN = "pieces.json"


class Rule(NamedTuple):
  """How a cached reference's whole-set computation splits into items: ``batch(ref)`` items per compiled
  call, ``items(ref, G)`` items of a set of G tasks, ``compute(ref, family, psis, eval_key, items, desc, batch)``
  -> {name: [n, ...]} the outputs of those items (indices into the set's items), and ``assemble(ref,
  outputs, G)`` -> (v, curve) from every item's outputs in order."""

  batch: Callable
  items: Callable
  compute: Callable
  assemble: Callable


def _per_task(task_batch: int) -> Rule:
  """Oracles whose tasks depend on the evaluation key alone (MPC, trajectory): the oracle on the tasks, ``batch``
  of them per compiled call (``task_batch`` in the pieces)."""
  def compute(ref, family, psis, eval_key, items, desc, batch):
    v, curve = ref(family, jax.numpy.asarray(np.asarray(psis)[items]), eval_key, desc=desc, task_batch=batch)
    return {"v": np.asarray(v), "curve": np.asarray(curve).T}
  return Rule(lambda ref: task_batch, lambda ref, g: g, compute, lambda ref, out, g: (out["v"], out["curve"].T))


def _policy_compute(ref, family, psis, eval_key, items, desc, batch):
  """``PolicyOracle.__call__`` on the tasks ``items`` of psis, each with the key of its index in the set."""
  learner = dataclasses.replace(ref.learner, family=family)
  one = policy.policy_oracle_task(learner, eval_key, ref.episodes, ref.iters, ref.episodes_per_update)
  keys = jax.random.split(eval_stream(eval_key, "policy_oracle"), psis.shape[0])[items]
  v, curve = map_items(jax.jit(jax.vmap(one)), batch, jax.numpy.asarray(psis)[items], keys, desc=desc)
  return {"v": np.asarray(v), "curve": np.asarray(curve)}


def _floor_compute(ref, family, psis, eval_key, items, desc, batch):
  """``AdaptationFloor.__call__``'s items (seed-major (seed, task) pairs) ``items``: real-return curves."""
  all_psis, keys = seeded_items(jax.numpy.asarray(psis), eval_stream(eval_key, "floor"), ref.seeds)
  fn = _jitted_zero_shot(ref.evaluator)
  _, real = map_items(lambda p, k: fn(None, p, k, eval_key), batch, all_psis[items], keys[items],
                      desc=desc)
  return {"real": np.asarray(real)}


def _floor_assemble(ref, out, g):
  real = out["real"].reshape(ref.seeds, g, -1)     # as evaluation.zero_shot and AdaptationFloor.__call__
  return real[..., -1], real.mean(axis=0).T


RULES: dict[str, Rule] = {
    "mpc": _per_task(mpc.TASK_BATCH),
    "trajectory": _per_task(trajectory.TASK_BATCH),
    "policy": Rule(lambda ref: policy.TASK_BATCH, lambda ref, g: g, _policy_compute,
                   lambda ref, out, g: (out["v"], out["curve"].T)),
    "floor": Rule(lambda ref: ref.evaluator.task_batch, lambda ref, g: ref.seeds * g, _floor_compute, _floor_assemble),
}


def returns_at(ref, family, psis, eval_key, rows) -> np.ndarray:
  """What the whole set's cache entry of ``ref`` stores as V* (``v_star``: [G], the floor's [S, G]) at the
  tasks psis[rows] alone -> [len(rows)] ([S, len(rows)]): each task computed with what it has in the whole
  set (its key, its seeds), so two entries of a shipped table recompute without the set."""
  rule, g, rows = RULES[ref.name], psis.shape[0], np.asarray(rows)
  per_task = rule.items(ref, g) // g                 # the floor: one item per (seed, task), seed-major
  items = (np.arange(per_task)[:, None] * g + rows[None]).reshape(-1)
  out = rule.compute(ref, family, psis, eval_key, items, None, min(items.size, rule.batch(ref)))   # a few: unpadded
  v, _ = rule.assemble(ref, out, rows.size)
  return np.asarray(v)


def _piece_name(i: int, n: int) -> str:
  return f"piece-{i:02d}-of-{n:02d}.npz"


@dataclasses.dataclass(frozen=True)
class PieceSet:
  """The pieces of one cached reference ``ref`` on one test set ``psis`` [G, k] (``set_name``), cut into
  ``pieces`` runs of whole batches, in ``folder``; ``cache_path``: the whole set's cache entry."""

  ref: object
  family: object
  psis: np.ndarray
  eval_key: jax.Array
  set_name: str
  pieces: int
  folder: str
  cache_path: str

  @classmethod
  def of(cls, ref, family, psis, eval_key, set_name: str, pieces: int, root: str, cache_dir: str) -> "PieceSet":
    """The piece set of ``ref`` on ``psis`` under ``root``; raises ValueError (naming --pieces) if ``ref``
    has no rule or ``pieces`` is not in [1, max_pieces], or if the folder was started with another count."""
    if ref.name not in RULES:
      raise ValueError(f"oracle: {ref.name!r} has no piece rule; allowed: {sorted(RULES)}")
    cache_path = oracle_cache_path(family, psis, eval_key, ref.budget, cache_dir)
    key = os.path.basename(cache_path)[:-len(".npz")].removeprefix(f"{family.name}-")
    folder = os.path.join(root, f"{family.name}-{set_name}-{ref.name}-{key}")
    out = cls(ref, family, np.asarray(psis), eval_key, set_name, pieces, folder, cache_path)
    if not 1 <= pieces <= out.max_pieces:
      raise ValueError(f"pieces: must be in [1, {out.max_pieces}] for {set_name} ({out.describe_batches()}: a piece "
                       f"of part of a batch would cost the whole batch), got {pieces}")
    started = out.plan().get("pieces")
    if started is not None and started != pieces:
      raise ValueError(f"pieces: {folder} was started with --pieces={started}; give --pieces={started} (or remove "
                       f"that folder to start over), got {pieces}")
    return out

  @property
  def rule(self) -> Rule:
    return RULES[self.ref.name]

  @property
  def tasks(self) -> int:
    return self.psis.shape[0]

  @property
  def n_items(self) -> int:
    return self.rule.items(self.ref, self.tasks)

  @property
  def batch(self) -> int:
    return self.rule.batch(self.ref)

  @property
  def max_pieces(self) -> int:
    return -(-self.n_items // self.batch)

  def describe_batches(self) -> str:
    unit = "tasks" if self.n_items == self.tasks else f"(seed, task) items ({self.n_items // self.tasks} seeds)"
    return f"{self.n_items} {unit} in {self.max_pieces} batch{'es' if self.max_pieces > 1 else ''} of {self.batch}"

  def items_of(self, i: int) -> np.ndarray:
    """The item indices of piece i: a run of whole batches (the batches spread evenly over the pieces)."""
    batches = np.array_split(np.arange(self.max_pieces), self.pieces)[i]
    return np.arange(batches[0] * self.batch, min((batches[-1] + 1) * self.batch, self.n_items))

  def path(self, i: int) -> str:
    return os.path.join(self.folder, _piece_name(i, self.pieces))

  def plan(self) -> dict:
    path = os.path.join(self.folder, PLAN)
    if not os.path.exists(path):
      return {}
    with open(path) as fh:
      return json.load(fh)

  def write_plan(self, record: dict) -> str:
    """pieces.json: what the folder computes (written once, with the first piece). Returns its path."""
    os.makedirs(self.folder, exist_ok=True)
    path = os.path.join(self.folder, PLAN)
    if not os.path.exists(path):
      plan = {"family": self.family.name, "set": self.set_name, "oracle": self.ref.name,
              "budget": json.loads(json.dumps(self.ref.budget)), "tasks": self.tasks, "items": self.n_items,
              "batch": self.batch, "pieces": self.pieces, "cache_file": os.path.basename(self.cache_path), **record}
      _atomic(path, lambda tmp: _write_text(tmp, json.dumps(plan, indent=1) + "\n"))
    return path

  def done(self) -> list[int]:
    return [i for i in range(self.pieces) if os.path.exists(self.path(i))]

  def todo(self) -> list[int]:
    return [i for i in range(self.pieces) if not os.path.exists(self.path(i))]

  def compute(self, i: int, desc: str | None = None) -> tuple[str, float]:
    """Compute piece i (its items as the whole set would) and save it atomically -> (path, seconds)."""
    items = self.items_of(i)
    t0 = time.perf_counter()
    out = self.rule.compute(self.ref, self.family, self.psis, self.eval_key, items, desc, self.rule.batch(self.ref))
    seconds = time.perf_counter() - t0
    tasks = items % self.tasks
    os.makedirs(self.folder, exist_ok=True)
    _atomic(self.path(i), lambda tmp: np.savez(
        tmp, **{f"out_{k}": v for k, v in out.items()}, items=items, psi=self.psis[tasks],
        seconds=np.float64(seconds), device=np.str_(_device())))
    return self.path(i), seconds

  def load(self, i: int) -> dict:
    """Piece i's outputs, checked against the set: its items and their tasks' bits."""
    items = self.items_of(i)
    with np.load(self.path(i)) as data:
      found = {k: data[k] for k in data.files}
    if not np.array_equal(found["items"], items) or not np.array_equal(found["psi"], self.psis[items % self.tasks]):
      raise ValueError(f"{self.path(i)} holds other items or tasks than piece {i} of {self.pieces} of this set")
    return found

  def seconds(self) -> float:
    """Compute seconds of the finished pieces, summed."""
    total = 0.0
    for i in self.done():
      with np.load(self.path(i)) as data:
        total += float(data["seconds"])
    return total

  def assemble(self):
    """Every piece's outputs in item order -> (v, curve) as the whole-set call returns them."""
    loaded = [self.load(i) for i in range(self.pieces)]
    names = [k.removeprefix("out_") for k in loaded[0] if k.startswith("out_")]
    out = {k: np.concatenate([p[f"out_{k}"] for p in loaded]) for k in names}
    return self.rule.assemble(self.ref, out, self.tasks)

  def write_entry(self) -> str:
    """Assemble the pieces into the whole set's cache entry (``cache.write_entry``) -> its path."""
    v, curve = self.assemble()
    write_entry(self.cache_path, v, curve, self.psis)
    return self.cache_path


def _device() -> str:
  """The device that computed a piece: jax's device kind, and on a CPU its model (float rounding differs
  between CPUs, so a set assembled from pieces of several machines can differ from one machine's run)."""
  kind = jax.devices()[0].device_kind
  try:
    with open("/proc/cpuinfo") as fh:
      model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
  except OSError:
    model = ""
  return f"{kind} ({model})" if kind == "cpu" and model else kind


def _atomic(path: str, write) -> None:
  """write(tmp) then rename onto path: a reader (or a resumed command) never sees a half-written file."""
  tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp{os.getpid()}")
  if path.endswith(".npz"):
    tmp += ".npz"     # np.savez appends .npz otherwise
  write(tmp)
  os.replace(tmp, path)


def _write_text(path: str, text: str) -> None:
  with open(path, "w") as fh:
    fh.write(text)


def parse_piece(value: str, pieces: int) -> int | str:
  """--piece: an index in [0, pieces), or next, all or status; raises ValueError (naming --piece)."""
  if value in ("next", "all", "status"):
    return value
  if re.fullmatch(r"\d+", value) and int(value) < pieces:
    return int(value)
  raise ValueError(f"piece: must be next, all, status or an integer in [0, {pieces - 1}] (--pieces={pieces}), "
                   f"got {value!r}")
