"""The model link of a study: a learned model's open-loop prediction error where each test task's
trajectories go.

Real trajectories (leaves [n, T, ...]) are binned into task cells, either by the task they were collected
for (``buffer_tasks``: a run's replay buffer, in the order the outer loop filled it) or by their mean
features over the steps they were alive (``mean_features``: on a tracking family, Hopper2D's (velocity,
height), the behaviour they achieved). A model's error on a cell's trajectories is its error on the states
that the cell's tasks lead a policy to. A model is scored on trajectories it did not train on
(``experiments/model_error_map.py`` leaves each run's own data out).

The error of an h-step open-loop prediction from step t (the model fed its own predictions and the
recorded actions t .. t+h-1) is the root mean square over state dimensions of (predicted - true state at
t+h) / scale, with ``scale`` [ds] a per-dimension standard deviation of one step's change (the CLI's:
over the whole pool, one scale for every run): at h = 1 and with ``model.loss_horizon`` 1 it is the
model's own training loss (``DynamicsModel.loss``, which sums over dimensions where this averages)
divided by sqrt(ds), up to the normaliser. A cell's mean pools the starts of its trajectories, so a
trajectory that lives longer weighs more. A start counts where the episode was alive
through step t+h-1 (``types.alive_mask``).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from admrl_jax.types import Transition, alive_mask

Predict = Callable[[jax.Array, jax.Array], jax.Array]   # obs [..., ds], action [..., da] -> next obs [..., ds]


def mean_features(traj: Transition) -> np.ndarray:
  """[n, k]: each trajectory's features averaged over its alive steps (NaN rows for none alive)."""
  alive = np.asarray(alive_mask(traj.done))                      # [n, T]
  f = np.asarray(traj.f)                                         # [n, T, k]
  count = alive.sum(axis=1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(count[:, None] > 0, (alive[..., None] * f).sum(axis=1) / count[:, None], np.nan)


def buffer_tasks(psi: np.ndarray, initial: int, collections: tuple[int, ...], size: int) -> np.ndarray:
  """[size, k]: the task each of a run's first ``size`` buffer trajectories was collected for, in the order
  the outer loop adds them: ``initial`` episodes of random actions (NaN: no task), then per iteration of
  psi [N, K, k] its collections in order (``OuterLoop.collection_episodes``), each task-major (K tasks x
  that collection's episodes). ValueError where ``size`` is not a whole number of iterations."""
  n_iter, K, k = psi.shape
  per_iteration = K * sum(collections)
  if size < initial or (size - initial) % per_iteration or (size - initial) // per_iteration > n_iter:
    raise ValueError(f"buffer: {size} trajectories are not {initial} initial ones and whole iterations of "
                     f"{per_iteration} (at most {n_iter} iterations)")
  one_iteration = np.concatenate([np.repeat(np.arange(K), n) for n in collections])     # [per_iteration]
  iterations = (size - initial) // per_iteration
  tasks = psi[:iterations][:, one_iteration].reshape(-1, k)
  return np.concatenate([np.full((initial, k), np.nan), tasks])


def cells_of(points: np.ndarray, centers: np.ndarray, half_width: np.ndarray) -> np.ndarray:
  """[n] int: the index of the cell centre [C, k] nearest each point [n, k] in L-infinity distance
  measured in half-widths [k]; -1 for a point farther than one half-width from every centre (outside the
  grid) or with a NaN coordinate."""
  d = np.max(np.abs(points[:, None, :] - centers[None, :, :]) / half_width, axis=-1)   # [n, C]
  d = np.where(np.isnan(d), np.inf, d)
  nearest = np.argmin(d, axis=1)
  return np.where(d[np.arange(len(points)), nearest] <= 1.0 + 1e-9, nearest, -1)


def grid_half_width(centers: np.ndarray) -> np.ndarray:
  """[k]: half the spacing of a regular grid's centres [C, k] per dimension (ValueError on one value)."""
  half = []
  for j in range(centers.shape[1]):
    values = np.unique(np.round(centers[:, j], 9))
    if values.size < 2:
      raise ValueError(f"grid: dimension {j} has a single value ({values.tolist()}); no cell width")
    half.append(np.min(np.diff(values)) / 2)
  return np.asarray(half)


def cell_shares(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
  """[C]: the share of points [n, k] (e.g. a run's proposed tasks) in each cell of the regular grid of
  centres [C, k] (``cells_of``; a point in no cell counts in the total, in no share)."""
  cells = cells_of(points, centers, grid_half_width(centers))
  return np.bincount(cells[cells >= 0], minlength=len(centers)) / max(len(cells), 1)


def step_scale(traj: Transition) -> np.ndarray:
  """[ds]: the standard deviation of one step's change (next_obs - obs) over the alive steps."""
  alive = np.asarray(alive_mask(traj.done), bool)
  delta = np.asarray(traj.next_obs - traj.obs)[alive]
  if delta.shape[0] < 2:
    raise ValueError("reference: fewer than 2 alive steps; no scale")
  return np.maximum(delta.std(axis=0), 1e-6)


def open_loop_errors(predict: Predict, traj: Transition, scale: jax.Array, horizons: tuple[int, ...],
                     stride: int = 1) -> tuple[jax.Array, jax.Array]:
  """(errors, valid), each [len(horizons), n, S]: the h-step open-loop error from every ``stride``-th
  start t = 0, stride, ... (S starts) of trajectories [n, T, ...], and whether it counts (the episode
  alive through t+h-1, t+h <= T)."""
  n, T = traj.done.shape
  h_max = max(horizons)
  starts = jnp.arange(0, T, stride)                                        # [S]
  alive = alive_mask(traj.done)                                            # [n, T]

  def step(pred, j):
    t = jnp.minimum(starts + j, T - 1)                                     # [S]
    pred = predict(pred, traj.action[:, t])                                # [n, S, ds]
    err = jnp.sqrt(jnp.mean(((pred - traj.next_obs[:, t]) / scale) ** 2, axis=-1))
    ok = (starts + j < T)[None, :] & (alive[:, t] > 0)
    return pred, (err, ok)

  _, (errs, oks) = jax.lax.scan(step, traj.obs[:, starts], jnp.arange(h_max))   # [h_max, n, S]
  index = jnp.asarray(horizons) - 1
  return errs[index], oks[index]


def cell_means(errors: np.ndarray, valid: np.ndarray, cells: np.ndarray, n_cells: int) -> np.ndarray:
  """[len(horizons), C]: the mean error over the counted starts of each cell's trajectories (NaN for a
  cell with none). errors, valid [len(horizons), n, S]; cells [n] (-1: in no cell)."""
  out = np.full((errors.shape[0], n_cells), np.nan)
  for c in range(n_cells):
    rows = cells == c
    for h in range(errors.shape[0]):
      ok = valid[h][rows]
      if ok.any():
        out[h, c] = float(errors[h][rows][ok].mean())
  return out


def reference_indices(cells: np.ndarray, owners: np.ndarray, exclude: int, per_cell: int, n_cells: int,
                      seed: int = 0) -> np.ndarray:
  """Indices into a pool of trajectories (cells [n], owners [n]: which run each came from) of at most
  ``per_cell`` per cell, none of owner ``exclude``: each cell's trajectories in one fixed random order
  (``seed``), the first ``per_cell`` not excluded, so runs measured from one pool share every trajectory
  that is not their own."""
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(cells))
  chosen = []
  for c in range(n_cells):
    in_cell = order[(cells[order] == c) & (owners[order] != exclude)]
    chosen.extend(in_cell[:per_cell].tolist())
  return np.asarray(sorted(chosen), dtype=np.int64)


def within_cell_spearman(x: np.ndarray, y: np.ndarray, permutations: int = 2000, seed: int = 0) -> tuple[float, float]:
  """(rho, p) of two quantities [R runs, C cells] compared across runs within each cell: both centred on
  the cell's mean over the runs, Spearman over the R x C pairs; p two-sided from ``permutations`` draws
  that shuffle x's runs within every cell (the centred pairs of a cell are not independent). Cells
  with a non-finite value of either are left out; ValueError when fewer than 3 remain; (NaN, NaN) when a
  side is constant once centred."""
  keep = np.all(np.isfinite(x), axis=0) & np.all(np.isfinite(y), axis=0)
  if keep.sum() < 3:
    raise ValueError(f"within-cell comparison: {int(keep.sum())} cells with every run's values (need 3)")
  x, y = x[:, keep], y[:, keep]
  centred = lambda v: (v - v.mean(axis=0)).ravel()
  if np.ptp(centred(x)) == 0 or np.ptp(centred(y)) == 0:   # a constant side (runs alike in every cell)
    return float("nan"), float("nan")
  rho = stats.spearmanr(centred(x), centred(y))[0]
  rng = np.random.default_rng(seed)
  null = np.asarray([stats.spearmanr(centred(rng.permuted(x, axis=0)), centred(y))[0] for _ in range(permutations)])
  return float(rho), float((1 + np.sum(np.abs(null) >= abs(rho) - 1e-12)) / (1 + permutations))
