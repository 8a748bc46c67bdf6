"""The V* and floor tables shipped with the package (``admrl_jax.oracles.shipped``): every table is found by
the protocol of the config that made it, holds that protocol's task set, and two of its tasks recompute
alone (``oracles.pieces.returns_at``: each with the key and seeds it has in the whole set) within
``TOLERANCE``: 1e-3 relative on the analytic families (the floor's measured 171.66 / 171.64 against the
table's 171.65 / 171.63), 3 % on the Brax families, whose tables sit behind the slow mark."""
import importlib.util
import json
import os

import numpy as np
import pytest

from admrl_jax.config import build
from admrl_jax.evaluation_protocol import EvaluationProtocol
from admrl_jax.oracles.cache import cached_oracle, oracle_cache_path
from admrl_jax.envs import ANALYTIC
from admrl_jax.oracles.pieces import returns_at
from admrl_jax.oracles.shipped import SHIPPED_DIR, index

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = index()
# A table is found by the bits of its task set (oracles.cache keys it by the float32 psis), which the
# evaluation computes in compiled code: compiled as `make run` compiles, not with the suite's quick compiles
# (tests/conftest.py), whose rounding finds no table.
pytestmark = pytest.mark.usefixtures("compiled_as_make_run")


def _config(path: str):
  spec = importlib.util.spec_from_file_location("shipped_config", os.path.join(REPO, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def test_every_shipped_file_is_indexed_and_the_index_names_existing_files():
  files = sorted(f for f in os.listdir(SHIPPED_DIR) if f.endswith(".npz"))
  assert files and files == sorted(r["file"] for r in RECORDS)
  for r in RECORDS:
    assert {"family", "set", "oracle", "budget", "tasks", "config", "command", "shipped_at_commit"} <= set(r)


# Recomputed alone, a task runs in another batch than in its table, so float rounding differs. Analytic
# families: 1e-3 relative (the floor, amplified by 80 TRPO updates, moves by that much). Brax: a rounding
# difference can change which plan MPC keeps, or the path of 200 TRPO updates, and the chaotic dynamics carry
# it on: 3 % relative (measured: Hopper2D's MPC V* at (-2, 1.2), recomputed with one other task in a batch
# of two as here, moved one of its 4 episodes from 1707.8 to 1681.4, V* by 6.6 of 1692.7, the other task by
# 1e-4; the policy oracle moved by 29 between two CPUs). Those tables take minutes to recompute, so they sit
# behind the slow mark.
TOLERANCE = {True: {"rtol": 1e-3, "atol": 0.05}, False: {"rtol": 0.03, "atol": 10.0}}
SLOW = lambda r: () if r["family"] in ANALYTIC else (pytest.mark.slow,)


@pytest.mark.parametrize("record", [pytest.param(r, marks=SLOW(r)) for r in RECORDS],
                         ids=lambda r: f"{r['family']}-{r['set']}-{r['oracle']}")
def test_shipped_table_matches_its_protocol_and_recomputes(record, tmp_path):
  config = _config(record["config"])
  config.eval.oracle_cache = str(tmp_path)   # empty: only the shipped table can answer
  _, evaluator = build(config)
  protocol = EvaluationProtocol.from_config(config, evaluator)
  oracle = next(o for o in protocol.cached_references() if o.name == record["oracle"])
  psis = protocol.test_sets[record["set"]]
  path = oracle_cache_path(protocol.family, psis, protocol.eval_key, oracle.budget, str(tmp_path))
  assert os.path.basename(path) == record["file"] and json.loads(json.dumps(oracle.budget)) == record["budget"]
  v, _, hit = cached_oracle(oracle, protocol.family, psis, protocol.eval_key, str(tmp_path))
  assert hit and v.shape[-1] == record["tasks"] and not os.listdir(tmp_path)   # loaded, nothing computed
  with np.load(os.path.join(SHIPPED_DIR, record["file"])) as data:
    np.testing.assert_array_equal(data["psi"], np.asarray(psis))
  pick = np.asarray([0, psis.shape[0] - 1])       # two tasks (a corner of the set and its last task)
  again = returns_at(oracle, protocol.family, psis, protocol.eval_key, pick)   # with their whole-set keys
  np.testing.assert_allclose(again, np.asarray(v)[..., pick], **TOLERANCE[record["family"] in ANALYTIC])
