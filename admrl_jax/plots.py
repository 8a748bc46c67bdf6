"""Figures: the gap heat map over a 2-D task box (slices of a 3-D one) with the adversary's task path on top."""
from __future__ import annotations

import os
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def gap_heatmap(path: str, grid_psi: np.ndarray, gaps: np.ndarray, points_per_dim: int,
                title: str, task_path: np.ndarray | None = None, vmin: float | None = None,
                vmax: float | None = None) -> None:
  """Save a heat map of gaps [G] over a 2-D grid grid_psi [G, 2] (first dim varies slowest).

  task_path [N, K, 2]: tasks proposed at each outer iteration, drawn as lines with markers.
  vmin, vmax: the colour scale (default: the gaps' range), shared by maps read side by side.
  """
  grid_psi, gaps = np.asarray(grid_psi), np.asarray(gaps)
  xs = np.unique(grid_psi[:, 0])
  ys = np.unique(grid_psi[:, 1])
  image = gaps.reshape(points_per_dim, points_per_dim).T  # rows: psi_1, columns: psi_0
  dx, dy = (xs[1] - xs[0]) / 2, (ys[1] - ys[0]) / 2
  fig, ax = plt.subplots(figsize=(5.5, 4.5))
  im = ax.imshow(image, origin="lower", cmap="viridis_r", vmin=vmin, vmax=vmax,
                 extent=(xs[0] - dx, xs[-1] + dx, ys[0] - dy, ys[-1] + dy), aspect="auto")
  for i, x in enumerate(xs):
    for j, y in enumerate(ys):   # dark text on the light (small-gap) end of the colour map
      ax.text(x, y, f"{image[j, i]:.0f}", ha="center", va="center", fontsize=7,
              color="k" if im.norm(image[j, i]) < 0.5 else "w")
  if task_path is not None and len(task_path):
    path_arr = np.asarray(task_path)
    for k in range(path_arr.shape[1]):
      ax.plot(path_arr[:, k, 0], path_arr[:, k, 1], "-o", color="tab:red", ms=3, lw=1,
              label="proposed tasks" if k == 0 else None)
    ax.legend(loc="upper left", fontsize=7)
  fig.colorbar(im, ax=ax, label="sub-optimality gap")
  ax.set_xlabel("psi[0]")
  ax.set_ylabel("psi[1]")
  ax.set_title(textwrap.fill(title, 75), fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def gap_map(path: str, grid_psi: np.ndarray, gaps: np.ndarray, grid_points: int, grid_points_3d: tuple,
            title: str, task_path: np.ndarray | None = None, vmin: float | None = None,
            vmax: float | None = None) -> None:
  """The gap heat map of a 2-D grid (``gap_heatmap``) or the slices of a 3-D one (``gap_heatmap_slices``)."""
  if np.asarray(grid_psi).shape[1] == 2:
    gap_heatmap(path, grid_psi, gaps, grid_points, title, task_path, vmin, vmax)
  else:
    gap_heatmap_slices(path, grid_psi, gaps, tuple(grid_points_3d), title, task_path, vmin, vmax)


def gap_maps(out_dir: str, res: dict, summary: dict, head: str, family_name: str, adapt_seeds: int,
             grid_points: int, grid_points_3d: tuple, task_path: np.ndarray | None) -> None:
  """A run's heat maps on one colour scale from one test set's results (``evaluation_protocol``):
  gap_heatmap.png the planner's gap where it ran (then gap_policy_heatmap.png holds the policy
  evaluator's), otherwise the policy evaluator's; gap_floor_heatmap.png the floor's."""
  policy = (res["gaps"]["zero_shot"], f"{head}: zero-shot policy gap, mean of {adapt_seeds} "
            f"adaptation seeds (worst {summary['worst_case_gap']:.1f}, mean {summary['mean_gap']:.1f})")
  maps = {"gap_heatmap.png": policy}
  if "planner" in res:
    maps = {"gap_heatmap.png": (res["planner"]["gaps"], f"{head}: model-planner gap (plans through the model, "
            f"run on the true system; worst {summary['planner_worst_case_gap']:.1f}, "
            f"mean {summary['planner_mean_gap']:.1f})"), "gap_policy_heatmap.png": policy}
  if "floor" in res:
    maps["gap_floor_heatmap.png"] = (res["floor"]["gaps"], f"{family_name}: adaptation floor (the same "
                                     f"adaptation on the true dynamics; worst {summary['floor_worst_case_gap']:.1f}, "
                                     f"mean {summary['floor_mean_gap']:.1f})")
  vmax = max(float(np.max(g)) for g, _ in maps.values())
  for name, (gaps, title) in maps.items():
    gap_map(os.path.join(out_dir, name), res["psi"], gaps, grid_points, tuple(grid_points_3d), title,
            task_path=task_path, vmin=0.0, vmax=vmax)


def gap_vs_samples(path: str, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> None:
  """Worst-case gap against real training samples, one line per run (label -> (steps, gaps))."""
  fig, ax = plt.subplots(figsize=(5.5, 4.0))
  for label, (steps, gaps) in sorted(curves.items()):
    order = np.argsort(steps)
    ax.plot(np.asarray(steps)[order], np.asarray(gaps)[order], "-o", ms=4, label=label)
  ax.set_xlabel("real environment steps")
  ax.set_ylabel("worst-case gap (zero-shot)")
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def gap_vs_samples_bands(path: str, panels: dict[str, dict[str, tuple]], title: str) -> None:
  """One panel per evaluator (panels: name -> {label: (steps [P], mean gap [P], half-width [P])}): mean
  worst-case gap over seeds against real training samples, error bars the 95 % interval."""
  fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.0), squeeze=False)
  for ax, (name, curves) in zip(axes[0], panels.items()):
    for label, (steps, mean, half) in curves.items():
      ax.errorbar(steps, mean, yerr=half, fmt="-o", ms=4, capsize=3, label=label)
    ax.set_xlabel("real environment steps (training)")
    ax.set_ylabel(f"worst-case gap ({name})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def gap_heatmap_slices(path: str, grid_psi: np.ndarray, gaps: np.ndarray, counts: tuple[int, int, int],
                       title: str, task_path: np.ndarray | None = None, vmin: float | None = None,
                       vmax: float | None = None) -> None:
  """Heat maps of gaps [G] over a 3-D grid [G, 3] (counts per dimension, last fastest): one panel
  per value of psi[2], psi[0] across and psi[1] up; the task path [N, K, 3] is drawn on every panel."""
  grid_psi, gaps = np.asarray(grid_psi), np.asarray(gaps).reshape(counts)
  xs, ys, zs = (np.unique(grid_psi[:, d]) for d in range(3))
  dx, dy = (xs[1] - xs[0]) / 2, (ys[1] - ys[0]) / 2
  fig, axes = plt.subplots(1, counts[2], figsize=(4.2 * counts[2], 3.8), squeeze=False)
  vmin = gaps.min() if vmin is None else vmin
  vmax = gaps.max() if vmax is None else vmax
  for j, (ax, z) in enumerate(zip(axes[0], zs)):
    im = ax.imshow(gaps[:, :, j].T, origin="lower", cmap="viridis_r", vmin=vmin, vmax=vmax, aspect="auto",
                   extent=(xs[0] - dx, xs[-1] + dx, ys[0] - dy, ys[-1] + dy))
    if task_path is not None and len(task_path):
      p = np.asarray(task_path)
      for k in range(p.shape[1]):
        ax.plot(p[:, k, 0], p[:, k, 1], "-o", color="tab:red", ms=2, lw=0.8)
    ax.set_title(f"psi[2] = {z:.2f}", fontsize=9)
    ax.set_xlabel("psi[0]")
    ax.set_ylabel("psi[1]")
  fig.colorbar(im, ax=axes[0].tolist(), label="sub-optimality gap")
  fig.suptitle(textwrap.fill(title, 60 * counts[2]), fontsize=9)
  fig.savefig(path, dpi=110)
  plt.close(fig)


def study_gap_maps(path: str, maps: dict[str, np.ndarray], grid_psi: np.ndarray, paths: dict[str, list],
                   title: str, label: str = "gap") -> None:
  """One row of heat maps over a 2-D grid: per panel name the seed-mean gap [G] (or any per-task value,
  its colour bar named ``label``; first dim of grid_psi [G, 2] varies slowest; NaN cells left blank)
  on one shared colour scale, with every seed's proposed tasks
  (paths[name]: a list of [N, 2] arrays) as dots. Panels without paths (the floor) have none."""
  grid_psi = np.asarray(grid_psi)
  xs, ys = np.unique(grid_psi[:, 0]), np.unique(grid_psi[:, 1])
  dx, dy = (xs[1] - xs[0]) / 2, (ys[1] - ys[0]) / 2
  vmax = max(float(np.nanmax(g)) for g in maps.values())
  fig, axes = plt.subplots(1, len(maps), figsize=(3.6 * len(maps), 3.6), squeeze=False)
  for ax, (name, gaps) in zip(axes[0], maps.items()):
    image = np.asarray(gaps).reshape(len(xs), len(ys)).T
    im = ax.imshow(image, origin="lower", cmap="viridis_r", vmin=0.0, vmax=vmax,
                   extent=(xs[0] - dx, xs[-1] + dx, ys[0] - dy, ys[-1] + dy), aspect="auto")
    for seed_path in paths.get(name, []):
      p = np.asarray(seed_path)
      ax.plot(p[:, 0], p[:, 1], ".", ms=3, alpha=0.6)
    ax.set_title(f"{name}\nmap max {np.nanmax(gaps):.1f}, map mean {np.nanmean(gaps):.1f}", fontsize=9)
    ax.set_xlabel("psi_0")
  axes[0, 0].set_ylabel("psi_1")
  fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label=label)
  fig.suptitle(title, fontsize=10, y=1.08)
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=80, bbox_inches="tight")
  plt.close(fig)
