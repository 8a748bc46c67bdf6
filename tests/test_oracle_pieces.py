"""V* of a whole test set in resumable pieces (``admrl_jax.oracles.pieces``, ``admrl-oracle-table --pieces``):
the pieces assembled equal the whole-set computation bit for bit (every cached reference: the trajectory,
policy and MPC oracles and the floor, each on the tiny PointMass config with a 5 x 5 grid, so that every
reference's set spans 2-4 task batches), the assembled entry is the whole set's cache entry (a cache hit
for the protocol), two tasks recompute alone (``pieces.returns_at``: each with its whole-set key and, for
the floor, its two seeds' items), a finished piece is not computed again while an interrupted one is, and
bad --pieces / --piece values are refused with one ``error:`` line, exit 2.
"""
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

from admrl_jax.config import build
from admrl_jax.evaluation_protocol import EvaluationProtocol
from admrl_jax.oracles import pieces as pieces_module
from admrl_jax.oracles.cache import cached_oracle
from admrl_jax.oracles.pieces import PieceSet, parse_piece
from tests.command_lines import REPO, run_command_lines
from tests.test_cli import _one_error_line
from tests.tiny_config import get_config


def _config(cache_dir, oracle: str):
  c = get_config()
  c.eval.grid_points, c.eval.ood = 5, False          # 25 tasks: 2 batches of 16, 4 of 8
  c.eval.oracle = oracle
  c.eval.oracle_iters = 10 if oracle == "policy" else 50
  c.eval.oracle_episodes = 2
  c.eval.mpc_samples, c.eval.mpc_plan_horizon = 4, 3
  c.eval.floor, c.eval.adapt_seeds = "on", 2         # 50 (seed, task) items, seed-major: pieces cross seeds
  c.eval.oracle_cache = str(cache_dir)
  return c


@pytest.fixture(scope="module")
def protocols(tmp_path_factory):
  root = tmp_path_factory.mktemp("pieces")
  found = {}
  for oracle in ("policy", "trajectory"):
    config = _config(root / "cache", oracle)
    found[oracle] = EvaluationProtocol.from_config(config, build(config)[1])
  return found


# (protocol, reference, pieces): the floor and MPC in 3 uneven pieces (the floor's middle piece crosses
# from seed 0's items to seed 1's), the others in 2
# (the policy oracle's case, 38 s, runs with -m slow in CI: out of make test's 10 minutes)
CASES = [pytest.param("policy", "policy", 2, marks=pytest.mark.slow), ("policy", "mpc", 3), ("policy", "floor", 3),
         ("trajectory", "trajectory", 2)]


@pytest.mark.parametrize("protocol_name,ref_name,n", CASES, ids=["policy", "mpc", "floor", "trajectory"])
def test_assembled_pieces_equal_the_whole_set_bit_for_bit_and_are_its_cache_entry(protocols, protocol_name, ref_name,
                                                                                  n, tmp_path):
  protocol = protocols[protocol_name]
  ref = next(r for r in protocol.cached_references() if r.name == ref_name)
  psis, family, key = protocol.test_sets["in_box"], protocol.family, protocol.eval_key
  whole_dir, pieces_cache = tmp_path / "whole", tmp_path / "assembled"
  v, curve, hit = cached_oracle(ref, family, psis, key, str(whole_dir))
  assert not hit
  pieces = PieceSet.of(ref, family, psis, key, "in_box", n, str(tmp_path / "pieces"), str(pieces_cache))
  covered = np.concatenate([pieces.items_of(i) for i in range(n)])
  np.testing.assert_array_equal(covered, np.arange(pieces.n_items))   # every item once, in order
  assert all(pieces.items_of(i)[0] % pieces.batch == 0 for i in range(n))   # runs of whole batches
  for i in reversed(range(n)):                                              # any order
    pieces.compute(i)
  v2, curve2 = pieces.assemble()
  np.testing.assert_array_equal(v2, v)                 # bit for bit: the same batches through the same program
  np.testing.assert_array_equal(curve2, curve)
  path = pieces.write_entry()
  whole = whole_dir / os.path.basename(path)
  assert whole.exists()                                # the assembled entry has the whole set's name...
  with np.load(path) as a, np.load(whole) as b:        # ...and contents: the same arrays, shapes and dtypes
    assert sorted(a.files) == sorted(b.files) == ["curve", "psi", "v_star"]
    for name in a.files:
      assert a[name].dtype == b[name].dtype
      np.testing.assert_array_equal(a[name], b[name])
  v3, curve3, hit = cached_oracle(ref, family, psis, key, str(pieces_cache))   # the protocol's lookup: a hit
  assert hit
  np.testing.assert_array_equal(v3, v)
  rows = np.asarray([3, psis.shape[0] - 1])            # two tasks alone, each with its whole-set key and seeds
  again = pieces_module.returns_at(ref, family, psis, key, rows)   # (another batch shape: rounding only)
  assert again.shape == np.asarray(v)[..., rows].shape
  np.testing.assert_allclose(again, np.asarray(v)[..., rows], rtol=1e-3, atol=0.05)   # as tests/test_shipped_v_star


def test_the_assembled_entry_is_what_the_protocol_loads(protocols, tmp_path):
  protocol = protocols["policy"]
  ref = next(r for r in protocol.cached_references() if r.name == "mpc")
  psis = protocol.test_sets["in_box"]
  pieces = PieceSet.of(ref, protocol.family, psis, protocol.eval_key, "in_box", 2, str(tmp_path), protocol.cache_dir)
  for i in pieces.todo():
    pieces.compute(i)
  pieces.write_entry()
  assert protocol.oracle_returns(psis, "in_box")["mpc"].hit


def test_a_finished_piece_is_kept_an_interrupted_one_computed_again(protocols, tmp_path, monkeypatch):
  protocol = protocols["policy"]
  ref = next(r for r in protocol.cached_references() if r.name == "mpc")
  psis = protocol.test_sets["in_box"]
  make = lambda n: PieceSet.of(ref, protocol.family, psis, protocol.eval_key, "in_box", n, str(tmp_path), "")
  pieces = make(2)
  pieces.write_plan({})
  pieces.compute(0)
  assert pieces.done() == [0] and pieces.todo() == [1]

  def interrupted(*args):
    raise KeyboardInterrupt   # the process stops part-way through the piece's batches
  monkeypatch.setitem(pieces_module.RULES, "mpc", pieces_module.RULES["mpc"]._replace(compute=interrupted))
  with pytest.raises(KeyboardInterrupt):
    pieces.compute(1)
  assert pieces.todo() == [1] and sorted(os.listdir(pieces.folder)) == ["piece-00-of-02.npz", "pieces.json"]
  with pytest.raises(ValueError, match=r"pieces: .* was started with --pieces=2; give --pieces=2"):
    make(3)                                              # no mixing of two cuts of one set
  with pytest.raises(ValueError, match=r"pieces: must be in \[1, 4\] for in_box \(25 tasks in 4 batches of 8"):
    make(5)


def test_shipping_the_assembled_entry(protocols, tmp_path, monkeypatch):
  """--ship of an assembled set: the cache entry copied into the package (here a stand-in folder) with
  ship_tables' record, and then found with no cache at all."""
  from admrl_jax.cli import oracle_table
  from admrl_jax.oracles import shipped
  monkeypatch.setattr(shipped, "SHIPPED_DIR", str(tmp_path / "v_star"))
  monkeypatch.setattr(shipped, "INDEX", str(tmp_path / "v_star" / "index.json"))
  protocol = protocols["policy"]
  ref = next(r for r in protocol.cached_references() if r.name == "mpc")
  psis = protocol.test_sets["in_box"]
  pieces = PieceSet.of(ref, protocol.family, psis, protocol.eval_key, "in_box", 2, str(tmp_path / "pieces"),
                       str(tmp_path / "cache"))
  for i in pieces.todo():
    pieces.compute(i)
  entry = pieces.write_entry()
  dest = oracle_table._ship_assembled(protocol, ref, psis, pieces, "tests/tiny_config.py")
  assert open(dest, "rb").read() == open(entry, "rb").read()
  (record,) = shipped.index()
  assert {"mpc", "zero_action"} <= set(record["wins_among"]) and 0 <= record["wins"] <= 25
  assert record["pieces"] == 2 and record["tasks"] == 25 and record["computed_in_s"] >= 0
  assert record["file"] == os.path.basename(entry) and record["budget"] == ref.budget
  v, _, hit = cached_oracle(ref, protocol.family, psis, protocol.eval_key, None)   # no cache: the shipped table
  assert hit
  np.testing.assert_array_equal(v, pieces.assemble()[0])


@pytest.mark.parametrize("value,pieces,expected", [("next", 3, "next"), ("all", 3, "all"), ("status", 3, "status"),
                                                   ("0", 3, 0), ("2", 3, 2)])
def test_parse_piece(value, pieces, expected):
  assert parse_piece(value, pieces) == expected


def _oracle_table(args, cwd):
  command = [sys.executable, "-m", "experiments.oracle_table", *args]
  return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600,
                        env={**os.environ, "PYTHONPATH": REPO})


def test_the_command_computes_piece_by_piece_skips_finished_pieces_and_assembles(tmp_path):
  """Three sessions of the command (MPC on a 3 x 3 grid: 9 tasks in 2 batches of 8): the first computes
  piece 0 and prints the next command; an interrupted run's leftover temporary file is no piece; the
  printed command computes piece 1 only and assembles the whole set's cache entry; a third finds it."""
  cache, folder = tmp_path / "cache", tmp_path / "pieces"
  args = [f"--config={REPO}/tests/tiny_config.py", "--config.eval.grid_points=3", "--config.eval.mpc_samples=4",
          "--config.eval.mpc_plan_horizon=3", f"--config.eval.oracle_cache={cache}", "--oracle=mpc", "--pieces=2",
          f"--pieces_dir={folder}"]
  first = _oracle_table(args, REPO)
  assert first.returncode == 0, first.stderr[-3000:]
  lines = first.stdout.splitlines()
  assert "9 tasks in 2 batches of 8, cut into 2 pieces" in lines[0]
  assert lines[-2].startswith("pieces done 1 of 2: [0]") and lines[-2].endswith("to do 1: [1]")
  assert lines[-1].startswith("next: ") and lines[-1].endswith(f"--pieces_dir={folder} --piece=1")
  refused = _oracle_table(args + ["--piece=status", "--ship"], REPO)   # a stage that ships stops here
  assert refused.returncode == 2, refused.stdout
  assert not os.path.exists(cache) or not [f for f in os.listdir(cache) if f.endswith(".npz")]   # nothing assembled
  assert refused.stderr.strip().splitlines()[-1].startswith(
      "error: ship: 1 of the 2 pieces are not computed yet ([1]); compute them first: "), refused.stderr[-2000:]
  (sub,) = os.listdir(folder)
  piece0 = folder / sub / "piece-00-of-02.npz"
  stamp = os.stat(piece0).st_mtime_ns
  (folder / sub / ".piece-01-of-02.npz.tmp1.npz").write_bytes(b"half a piece")   # an interrupted run's leftover
  argv = shlex.split(lines[-1].removeprefix("next: "))
  second = _oracle_table(argv[3:], REPO)                # the printed command (its python: this one)
  assert second.returncode == 0, second.stderr[-3000:]
  assert "piece 1 of 2 (items 8-8 of 9) computed" in second.stdout and "piece 0 of 2" not in second.stdout
  assert os.stat(piece0).st_mtime_ns == stamp           # the finished piece was not computed again
  assert "assembled the whole set's cache entry" in second.stdout and "ship it: " in second.stdout
  (entry,) = [f for f in os.listdir(cache) if f.endswith(".npz")]
  assert sub.endswith(entry.removeprefix("point_mass-").removesuffix(".npz"))   # the folder has the entry's key
  third = _oracle_table(args + ["--piece=0"], REPO)
  assert third.returncode == 0 and "nothing to compute" in third.stdout, third.stderr[-3000:]
  with np.load(cache / entry) as data:   # an entry that is not the pieces' assembly is never shipped as theirs
    other = {k: data[k] for k in data.files}
  np.savez(cache / entry, **{**other, "v_star": other["v_star"] + 1.0})
  fourth = _oracle_table(args + ["--piece=status", "--ship"], REPO)
  assert fourth.returncode == 2 and "is not the assembly of the 2 pieces" in fourth.stderr, fourth.stderr[-2000:]
  assert "largest difference 1.0" in fourth.stderr and "shipped" not in fourth.stdout


ERRORS = [
    (["--pieces=-1"], "error: pieces: must be a non-negative integer (0: whole sets at once), got -1"),
    (["--pieces=x"], "error: pieces: invalid literal for int() with base 10: 'x'"),
    (["--piece=1"], "error: piece: only with --pieces=N (one set's V* in N pieces)"),
    (["--set=ood"], "error: set: only with --pieces=N (one set's V* in N pieces)"),
    (["--pieces=2", "--piece=2"],
     "error: piece: must be next, all, status or an integer in [0, 1] (--pieces=2), got '2'"),
    (["--pieces=2", "--piece=first"],
     "error: piece: must be next, all, status or an integer in [0, 1] (--pieces=2), got 'first'"),
    (["--pieces=2", "--set=both"], "error: set: value should be one of <in_box|ood> (got 'both')"),
    (["--pieces=2", "--oracle=mpc"],
     "error: oracle: 'mpc' is not computed (and cached) by this config's evaluation; allowed: ['floor', 'trajectory'] "
     "(eval.oracle, mpc where eval.mpc_samples > 0, floor where eval.floor is on)"),
    (["--pieces=2", "--tasks=corners"], "error: pieces: computes the evaluation's own sets; drop --tasks=corners"),
    (["--pieces=2", "--config.eval.oracle_cache="],
     "error: pieces: assembles the pieces into the oracle cache; needs eval.oracle_cache set"),
    (["--pieces=2", "--pieces_dir={tmp}/afile"], "error: pieces_dir: '{tmp}/afile' is a file, not a folder"),
]


def test_bad_piece_values_are_one_error_line_exit_2_before_any_jax_work(tmp_path):
  root = str(tmp_path)
  os.makedirs(os.path.join(root, "cwd"))
  with open(os.path.join(root, "afile"), "w") as fh:
    fh.write("not a folder\n")
  # the last case needs the set's size: refused after the test set is built (jax), nothing written
  cases = ERRORS + [(["--pieces=9"], "error: pieces: must be in [1, 4] for in_box (49 tasks in 4 batches of 16: a "
                                     "piece of part of a batch would cost the whole batch), got 9")]
  results = run_command_lines(root, [("admrl-oracle-table", [a.replace("{tmp}", root) for a in argv])
                                     for argv, _ in cases])
  for (argv, expected), result in zip(cases, results):
    p = subprocess.CompletedProcess(argv, result["code"], result["stdout"], result["stderr"])
    assert _one_error_line(p, 2) == expected.replace("{tmp}", root), argv
    assert result["stdout"] == "" and result["changed"] == [], argv
    assert not result["jax_backend"] or argv == ["--pieces=9"], argv
