"""The V* oracle on a family's in-box test set, reported at the corners and the centre of the box.

  python -m experiments.oracle_table --config=experiments/configs/hopper_2d_cpu.py [--tasks=grid|corners]
                                    [--out=docs/figures] [--ship]

Runs the config's oracles (``EvaluationProtocol``: ``eval.oracle``, budget ``eval.oracle_iters``, and the
others the evaluation runs) through the on-disk cache on one of two task sets:
  grid     the very set that evaluation uses (the 7 x 7 / 5 x 5 x 3 grid, or the random and corner
           tasks in higher dimensions), so either this command or a run's evaluation computes it and
           the other loads it;
  corners  only the box's corners (all of them up to 8, else 8 drawn at random) and its centre: the
           same oracle at a tenth of the grid's cost, for the table without a full evaluation.
Prints a markdown table (V*, the zero action's return on the same episodes -- the "do nothing" floor --,
the MPC oracle's return if ``eval.mpc_samples`` > 0, and the learning curve's last checkpoints, at
every corner and the centre, then the set's mean) and writes
<out>/oracle_<family>.png (the curves, with MPC's returns as stars).

In pieces (hours of V* spread over sessions, each finished piece committed):

  python -m experiments.oracle_table --config=... --oracle=mpc --set=in_box --pieces=7 [--piece=next|all|status|<i>]
                                    [--pieces_dir=docs/oracle_pieces] [--commit] [--ship]

computes one cached reference (``--oracle``: eval.oracle, mpc where eval.mpc_samples > 0, floor where the
floor runs) on one of the evaluation's sets (``--set``) in ``--pieces`` runs of whole task batches
(``oracles.pieces``): ``--piece=next`` (default) the first piece not yet saved, ``all`` every one left,
``<i>`` piece i, ``status`` none. A finished piece is skipped; one interrupted part-way is computed again.
Each run prints the pieces done and to do and the exact command of the next; when every piece is saved it
assembles the whole set's cache entry (what a whole-set computation would write, bit for bit: evaluation
and this command then load it), and with ``--ship`` ships that table into the package. ``--commit``
commits each piece as it finishes (and the shipped table). The pieces' folder is named by the whole set's
cache key under ``--pieces_dir`` (docs/oracle_pieces: committed with the repository, so a piece survives a
change of machine; runs/ does not).
"""
import itertools
import os
import shlex
import sys
import types

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from absl import flags  # noqa: E402

from admrl_jax import tables  # noqa: E402
from admrl_jax.config import ConfigError, build, validate  # noqa: E402
from admrl_jax.evaluation_protocol import EvaluationProtocol, switched_on  # noqa: E402
from admrl_jax.oracles import ORACLES, eval_stream  # noqa: E402
from admrl_jax.oracles.cache import existing_entry  # noqa: E402
from admrl_jax.oracles.pieces import PieceSet, parse_piece  # noqa: E402
from admrl_jax.oracles import shipped  # noqa: E402
from admrl_jax.oracles.shipped import ship, shipped_file  # noqa: E402
from admrl_jax.cli.common import (DEFAULT_CONFIG_PATH, checked_folder, commit, config_paths, shared_bool,  # noqa: E402
                                  define_config, fail, run as run_main, start)

_CONFIG = define_config()
_TASKS = flags.DEFINE_enum("tasks", "grid", ["grid", "corners"], "the evaluation's in-box set, or corners and centre")
_OUT = flags.DEFINE_string("out", "docs/figures", "folder of the learning-curve figure")
_SHIP = flags.DEFINE_bool("ship", False, "after computing the evaluation's test sets (in-box, and OOD where eval.ood), "
                          "copy their V* tables and, where the floor runs, the adaptation floor's into the package "
                          "(admrl_jax/oracles/v_star/, with index.json: budget, commit, command): a fresh clone "
                          "then evaluates this config without recomputing them")
_PIECES = flags.DEFINE_integer("pieces", 0, "compute one V* table (--oracle on --set) in this many pieces, each "
                                "saved under --pieces_dir as it finishes, then assembled into the whole set's cache "
                                "entry (0: whole sets at once, as before)")
_PIECE = flags.DEFINE_string("piece", "next", "with --pieces: which piece to compute: next (the first not saved), all "
                             "(every one left), status (none) or an index in [0, pieces)")
_SET = flags.DEFINE_enum("set", "in_box", ["in_box", "ood"], "with --pieces: the evaluation's test set")
_ORACLE = flags.DEFINE_string("oracle", "", "with --pieces: the cached reference to compute: eval.oracle (default), "
                              "mpc (eval.mpc_samples > 0) or floor (eval.floor on)")
_PIECES_DIR = flags.DEFINE_string("pieces_dir", "docs/oracle_pieces", "with --pieces: the folder of the pieces "
                                  "(one subfolder per set, oracle and budget; commit it)")
_COMMIT = shared_bool("commit", "with --pieces: git-commit each piece as it finishes (and the table --ship ships)")
_PIECE_FLAGS = ("piece", "set", "oracle", "pieces_dir", "commit")
_MAX_CORNERS = 8


def corners_and_centre(box, psis: np.ndarray) -> list[tuple[str, int]]:
  """(label, row) of the test set's tasks at a corner of the box (at most 8) and at its centre."""
  unit = (2.0 * psis - (np.asarray(box.lo) + np.asarray(box.hi))) / (np.asarray(box.hi) - np.asarray(box.lo))
  corners = [i for i in range(len(psis)) if np.allclose(np.abs(unit[i]), 1.0, atol=1e-5)][:_MAX_CORNERS]
  centre = [i for i in range(len(psis)) if np.allclose(unit[i], 0.0, atol=1e-5)][:1]
  return [("corner", i) for i in corners] + [("centre", i) for i in centre]


def box_corners_and_centre(box, key: jax.Array) -> np.ndarray:
  """[C + 1, k]: the box's corners (all when 2^k <= 8, else 8 distinct ones at random), then its centre."""
  lo, hi = np.asarray(box.lo, np.float64), np.asarray(box.hi, np.float64)
  k = lo.shape[0]
  if 2 ** k <= _MAX_CORNERS:
    signs = np.array(list(itertools.product([0, 1], repeat=k)))
  else:
    signs = np.unique(np.asarray(jax.random.bernoulli(key, 0.5, (4 * _MAX_CORNERS, k))).astype(int), axis=0)
    signs = signs[:_MAX_CORNERS]
  corners = lo + signs * (hi - lo)
  return np.concatenate([corners, ((lo + hi) / 2)[None]], axis=0).astype(np.float32)


def main(argv):
  start(argv)
  config, e = _CONFIG.value, _CONFIG.value.eval
  try:
    validate(config)
  except ConfigError as err:
    fail(str(err))
  if _SHIP.value and (_TASKS.value != "grid" or not e.oracle_cache):
    fail("ship: ships the evaluation's own sets; needs --tasks=grid and eval.oracle_cache set")
  checked_folder("out", _OUT.value)
  if _PIECES.value or any(flags.FLAGS[name].present for name in _PIECE_FLAGS):
    return pieces_main(config)
  _, evaluator = build(config)
  protocol = EvaluationProtocol.from_config(config, evaluator)   # the evaluation's own oracles and test sets
  family = protocol.family
  if _SHIP.value:
    given = config_paths(sys.argv) or [os.path.relpath(DEFAULT_CONFIG_PATH)]
    protocol.ship_tables(given[0], " ".join(
        ["python -m experiments.oracle_table"] + [shlex.quote(a) for a in sys.argv[1:]]))
  if _TASKS.value == "grid":
    psis = protocol.test_sets["in_box"]   # exactly evaluation's in-box set: one cache entry for both
  else:
    psis = jax.numpy.asarray(box_corners_and_centre(family.box, eval_stream(protocol.eval_key, "corners")))
  found = protocol.oracle_returns(psis)
  main_oracle, *others = protocol.oracles
  v_star, curve, hit, seconds = found[main_oracle.name]
  mpc = found.get("mpc")
  if mpc is not None:
    print(f"MPC oracle ({e.mpc_samples} plans of {e.mpc_plan_horizon} steps, sigma {e.mpc_sigma}, "
          f"knots every {e.mpc_knot_every} steps): {'cached' if mpc.hit else f'computed in {mpc.seconds:.0f} s'}")
    mpc = mpc.v
  psis, every = np.asarray(psis), e.oracle_iters // curve.shape[0]
  steps = every * (1 + np.arange(curve.shape[0]))
  print(f"{config.family}: {e.oracle} oracle, {e.oracle_iters} updates, {len(psis)} tasks ({_TASKS.value}), "
        f"{'cached' if hit else f'computed in {seconds:.0f} s'}")
  columns = {f"{e.oracle} oracle V*": v_star, **{o.label.removeprefix("the "): found[o.name].v for o in others}}
  rows = corners_and_centre(family.box, psis)
  mean = curve.mean(axis=1)
  cells = [[f"{label} ({', '.join(f'{x:.2f}' for x in psis[i])})", *(f"{v[i]:.0f}" for v in columns.values()),
            ", ".join(f"{x:.0f}" for x in curve[-4:, i])] for label, i in rows]
  cells.append([f"mean of the {len(psis)}", *(f"{np.mean(v):.0f}" for v in columns.values()),
                ", ".join(f"{x:.0f}" for x in mean[-4:])])
  print(tables.markdown(["task psi", *columns, f"curve at updates {', '.join(str(s) for s in steps[-4:])}"], cells),
        end="")
  os.makedirs(_OUT.value, exist_ok=True)
  fig, ax = plt.subplots(figsize=(5.5, 4.0))
  for label, i in rows:
    (line,) = ax.plot(steps, curve[:, i], label=f"{label} ({', '.join(f'{x:.1f}' for x in psis[i])})")
    if mpc is not None:  # MPC has no learning curve: its return, at the right edge in the task's colour
      ax.plot(steps[-1], mpc[i], "*", color=line.get_color(), ms=10, clip_on=False)
  ax.plot(steps, mean, "k--", label=f"mean of the {len(psis)} ({_TASKS.value})")
  if mpc is not None:
    ax.plot([], [], "k*", ls="none", label=f"MPC ({e.mpc_samples} plans of {e.mpc_plan_horizon} steps, "
                                                  f"knots every {e.mpc_knot_every})")
  ax.set_xlabel("oracle update" if e.oracle == "policy" else "optimisation step")
  ax.set_ylabel("return (on-policy, during optimisation)")
  ax.set_title(f"V* oracle on {config.family}: corners, centre and the set's mean", fontsize=9)
  ax.legend(fontsize=6)
  fig.tight_layout()
  path = os.path.join(_OUT.value, f"oracle_{config.family}.png")
  fig.savefig(path, dpi=110)
  print(f"wrote {path}")


def cached_names(config) -> list[str]:
  """The cached references the config's evaluation computes, by name (``EvaluationProtocol``'s
  ``cached_references``), found from the config alone: eval.oracle, mpc, floor."""
  e = config.eval
  names = [e.oracle] if ORACLES[e.oracle].cached else []
  names += ["mpc"] if e.mpc_samples else []
  names += ["floor"] if switched_on(e.floor, types.SimpleNamespace(name=config.family)) else []
  return sorted(set(names))


def _command(argv: list[str], drop: tuple[str, ...] = (), add: tuple[str, ...] = ()) -> str:
  """This command line again, without the flags ``drop`` (and their values), with ``add``."""
  prog = os.path.basename(argv[0])
  if prog == "admrl-oracle-table":
    head = [prog]
  else:
    python = os.path.relpath(sys.executable)
    head = [python if not python.startswith("..") else sys.executable, "-m", "experiments.oracle_table"]
  args, skip = [], False
  for arg in argv[1:]:
    name = arg.lstrip("-").split("=", 1)[0]
    if skip:
      skip = False
      continue
    if arg.startswith("-") and name.removeprefix("no") in drop:
      skip = "=" not in arg and name not in ("commit", "nocommit")   # --piece VALUE: drop the value too
      continue
    args.append(arg)
  return " ".join(head + [shlex.quote(a) for a in args + list(add)])


def pieces_main(config) -> None:
  """--pieces: one cached reference on one test set, piece by piece (``oracles.pieces``), then the whole
  set's cache entry assembled from them, and shipped with --ship."""
  e = config.eval
  if _PIECES.value < 0:
    fail(f"pieces: must be a non-negative integer (0: whole sets at once), got {_PIECES.value}")
  if not _PIECES.value:
    given = next(name for name in _PIECE_FLAGS if flags.FLAGS[name].present)
    fail(f"{given}: only with --pieces=N (one set's V* in N pieces)")
  if _TASKS.value != "grid":
    fail("pieces: computes the evaluation's own sets; drop --tasks=corners")
  if not e.oracle_cache:
    fail("pieces: assembles the pieces into the oracle cache; needs eval.oracle_cache set")
  try:
    piece = parse_piece(_PIECE.value, _PIECES.value)
  except ValueError as err:
    fail(str(err))
  allowed = cached_names(config)
  name = _ORACLE.value or e.oracle
  if name not in allowed:
    fail(f"oracle: {name!r} is not computed (and cached) by this config's evaluation; allowed: {allowed} "
         "(eval.oracle, mpc where eval.mpc_samples > 0, floor where eval.floor is on)")
  checked_folder("pieces_dir", _PIECES_DIR.value)
  if _SET.value == "ood" and not e.ood:
    config.eval.ood = True   # the OOD set's tasks do not depend on the switch: only whether they are evaluated
  _, evaluator = build(config)
  protocol = EvaluationProtocol.from_config(config, evaluator)
  ref = next(r for r in protocol.cached_references() if r.name == name)
  psis = protocol.test_sets[_SET.value]
  try:
    pieces = PieceSet.of(ref, protocol.family, psis, protocol.eval_key, _SET.value, _PIECES.value, _PIECES_DIR.value,
                         e.oracle_cache)
  except ValueError as err:
    fail(str(err))
  config_path = (config_paths(sys.argv) or [os.path.relpath(DEFAULT_CONFIG_PATH)])[0]
  budget = ", ".join(f"{k} {v}" for k, v in ref.budget.items() if k != "kind" and len(str(v)) <= 40)  # no agent repr
  print(f"{config.family}, {_SET.value} set, {ref.label} ({budget}): {pieces.describe_batches()}, cut into "
        f"{pieces.pieces} piece{'s' if pieces.pieces > 1 else ''} in {pieces.folder}")
  found = existing_entry(pieces.cache_path, e.oracle_cache)
  if found is None and piece != "status":
    todo = {"next": pieces.todo()[:1], "all": pieces.todo()}.get(piece, [piece])
    plan = pieces.write_plan({"config": config_path, "command": _command(sys.argv, drop=("piece", "commit"))})
    for i in todo:
      if os.path.exists(pieces.path(i)):
        print(f"piece {i} of {pieces.pieces}: saved already ({pieces.path(i)}); skipped")
        continue
      items = pieces.items_of(i)
      path, seconds = pieces.compute(i, desc=f"{ref.label.removeprefix('the ')} V* ({_SET.value}, piece {i} of "
                                             f"{pieces.pieces}: items {items[0]}-{items[-1]})")
      print(f"piece {i} of {pieces.pieces} (items {items[0]}-{items[-1]} of {pieces.n_items}) computed in "
            f"{seconds:.0f} s: {path}")
      if _COMMIT.value:
        commit([path, plan], f"V* in pieces: {config.family} {_SET.value} {ref.name}, piece {i} of {pieces.pieces} "
                             f"({items.size} items, {seconds:.0f} s)")
  done, todo = pieces.done(), pieces.todo()
  if found is None:
    print(f"pieces done {len(done)} of {pieces.pieces}: {done} ({pieces.seconds():.0f} s of compute); "
          f"to do {len(todo)}: {todo}")
    if todo:
      resume = _command(sys.argv, drop=("piece", "ship"), add=(f"--piece={todo[0]}",))
      if _SHIP.value:   # a stage that ships must not go on as if it had: its evaluation would compute the set
        fail(f"ship: {len(todo)} of the {pieces.pieces} pieces are not computed yet ({todo}); compute them first: "
             f"{resume}")
      print("next: " + resume)
      return
    found = pieces.write_entry()
    print(f"assembled the whole set's cache entry {found} from the {pieces.pieces} pieces: evaluation and a whole-set "
          "computation now load it")
  else:
    print(f"the whole set's entry exists: {found}; nothing to compute")
    if not todo and not shipped_file(pieces.cache_path):
      _check_entry_is_the_pieces(found, pieces)
  if not _SHIP.value:
    if not shipped_file(pieces.cache_path):
      print("ship it: " + _command(sys.argv, drop=("piece", "commit"), add=("--piece=status", "--ship")))
    return
  if shipped_file(pieces.cache_path):
    print(f"shipped already as {shipped_file(pieces.cache_path)}")
    return
  dest = _ship_assembled(protocol, ref, psis, pieces, config_path)
  print(f"shipped {dest}")
  if _COMMIT.value:
    commit([dest, shipped.INDEX], f"V* shipped: {config.family} {_SET.value} {ref.name} ({psis.shape[0]} tasks, "
                                  f"assembled from {pieces.pieces} pieces)")


def _check_entry_is_the_pieces(found: str, pieces) -> None:
  """An entry found in the cache beside a complete set of pieces is shipped only if it holds their values
  (an entry left by another oracle code under the same budget would otherwise be shipped as theirs)."""
  with np.load(found) as data:
    entry = np.asarray(data["v_star"])
  assembled = np.asarray(pieces.assemble()[0])
  if entry.shape != assembled.shape or not np.array_equal(entry, assembled):
    diff = (float(np.max(np.abs(entry - assembled))) if entry.shape == assembled.shape
            else f"shapes {entry.shape} and {assembled.shape}")
    fail(f"pieces: the cache entry {found} is not the assembly of the {pieces.pieces} pieces in {pieces.folder} "
         f"(largest difference {diff}); move the entry aside and run this again to assemble the pieces")


def _ship_assembled(protocol, ref, psis, pieces, config_path: str) -> str:
  """Ship the whole set's entry of ``ref`` (``oracles.shipped.ship``) with ship_tables' record; its wins
  count against the candidates on hand (``EvaluationProtocol.reference_values``: the other cached
  references found shipped or cached, and the zero action, computed: cheap), named in ``wins_among``."""
  g = psis.shape[0]
  values = {name: v for name, v in protocol.reference_values(psis).items() if v is not None and name != ref.name}
  with np.load(existing_entry(pieces.cache_path, os.path.dirname(pieces.cache_path))) as data:   # the assembled one
    values[ref.name] = np.asarray(data["v_star"]).reshape(-1, g).mean(axis=0)
  v, best = values[ref.name], np.max(np.stack(list(values.values())), axis=0)
  complete = len(pieces.done()) == pieces.pieces
  return ship(pieces.cache_path, {
      "family": protocol.family_name, "set": pieces.set_name, "oracle": ref.name, "budget": ref.budget, "tasks": g,
      "config": config_path, "command": _command(sys.argv, drop=("piece", "commit")),
      "computed_in_s": round(pieces.seconds(), 1) if complete else None,
      "pieces": pieces.pieces if complete else None, "pieces_folder": pieces.folder if complete else None,
      "wins": int(np.sum(v >= best)), "wins_among": sorted(values), "v_mean": float(v.mean()),
      "v_min": float(v.min())})


def run():
  """Console-script entry point (admrl-oracle-table)."""
  run_main(main)


if __name__ == "__main__":
  run()
