"""Shared test helpers: the tiny config of tests/tiny_config.py, and a persistent XLA compilation cache
shared by the test processes (xdist workers and the CLI subprocesses), so a program compiled once in the
session is not compiled again by the next process that builds it."""
import os

import pytest

from tests.tiny_config import get_config as tiny_config

_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache",
                      "jax_compilation_cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)   # inherited by subprocesses


def pytest_configure(config):
  import jax
  jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])


@pytest.fixture
def tiny():
  return tiny_config
