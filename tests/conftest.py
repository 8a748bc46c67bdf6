"""Shared test helpers: the tiny config of tests/tiny_config.py, a persistent XLA compilation cache shared
by the test processes (xdist workers and the CLI subprocesses), so a program compiled once in the session
is not compiled again by the next process that builds it, and quick compiles.

Quick compiles: the suite compiles with XLA's backend optimisations off (jax_disable_most_optimizations:
LLVM at -O0, its expensive passes skipped; XLA's own HLO passes still run). Compiling is most of the
suite's time (measured on 2 cores from a cold cache, the suite as it was before issue 25's item 4:
9 min 5 s with the optimisations, 5 min 52 s without), and nothing it checks depends on optimised code
generation, which changes float rounding only.
Set before jax is imported and inherited by the subprocesses the tests start, so a run and its resumption
in another process compile alike. JAX_DISABLE_MOST_OPTIMIZATIONS=0 runs the suite compiled as `make run`
compiles; the slow tests' runs (tests/test_workflow.py) and tests/test_shipped_v_star.py
(``compiled_as_make_run``) always are.
"""
import os

os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")   # inherited by subprocesses

import jax     # noqa: E402 (after the switch above)
import pytest  # noqa: E402

from tests.tiny_config import get_config as tiny_config  # noqa: E402

_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache",
                      "jax_compilation_cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)   # inherited by subprocesses
# every program is kept, the small ones too (jax keeps only those that compiled for 1 s or more): the other
# worker and the subprocesses build many of them again (measured: 20 s and 48 s less in two paired runs)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
QUICK_COMPILES = os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"].lower() in ("1", "y", "yes", "t", "true", "on")
AS_MAKE_RUN = {"JAX_DISABLE_MOST_OPTIMIZATIONS": "0"}   # a subprocess's environment: compile as `make run`


def pytest_configure(config):
  jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
  jax.config.update("jax_persistent_cache_min_compile_time_secs",
                    float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
  jax.config.update("jax_disable_most_optimizations", QUICK_COMPILES)   # whether or not jax was imported first


@pytest.fixture(scope="module")
def compiled_as_make_run():
  """The module's programs compile with XLA's optimisations, as `make run` compiles them. The process's
  compiled programs are dropped on the way in and out, so none compiled one way runs the other way."""
  jax.clear_caches()
  jax.config.update("jax_disable_most_optimizations", False)
  yield
  jax.config.update("jax_disable_most_optimizations", QUICK_COMPILES)
  jax.clear_caches()


@pytest.fixture
def tiny():
  return tiny_config


def assert_memory_round_trips(loop, state, folder) -> None:
  """A checkpoint of ``state`` in ``folder`` restores its method memory (``MetaState.memory``) bit for bit."""
  import numpy as np
  from admrl_jax.checkpoint import Checkpointer
  ckpt = Checkpointer(str(folder))
  ckpt.save(state, [])
  restored, _ = ckpt.restore(loop.init(jax.random.key(1)))
  ckpt.close()
  for a, b in zip(jax.tree.leaves(state.memory), jax.tree.leaves(restored.memory)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
