"""V* on disk: every run-independent computation (an oracle's V*, the adaptation floor) once per family,
task set, evaluation key and budget, shared by every run, method and command."""
from __future__ import annotations

import hashlib
import os
import re

import jax
import numpy as np

from admrl_jax.oracles.shipped import shipped_file


def oracle_cache_path(family, psis: jax.Array, key: jax.Array, budget: dict, cache_dir: str) -> str:
  """The cache file of an oracle computation, keyed by the family (name, box, environment
  parameters), the task grid, the evaluation key and the oracle's kind and budget (``budget``).

  The key is built from reprs, so it must not depend on the process: a repr holding an object
  address (``at 0x...``) would never match again, and is refused.
  """
  ident = repr((family.name, family.box, family.env, np.asarray(psis, np.float32).tobytes(),
                np.asarray(jax.random.key_data(key)).tobytes(), sorted(budget.items())))
  if re.search(r" at 0x[0-9a-f]+", ident):
    raise ValueError(f"oracle cache key of family {family.name!r} holds an object address, so no other process "
                     f"would find its file; give its env and budget stable reprs: {ident[:300]}")
  return os.path.join(cache_dir, f"{family.name}-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.npz")


def existing_entry(path: str, cache_dir: str | None) -> str | None:
  """Where the entry of cache path ``path`` is found: the package's shipped table first, then the cache
  folder (None or "": none); None if neither holds it."""
  for found in (shipped_file(path), path if cache_dir else None):
    if found and os.path.exists(found):
      return found
  return None


def cached_oracle(oracle, family, psis: jax.Array, key: jax.Array, cache_dir: str | None, desc: str | None = None):
  """``oracle(family, psis, key) -> (v [G] or [S, G], curve)`` behind the shipped tables and the on-disk
  cache, keyed by ``oracle.budget`` (``oracle_cache_path``) -> (v, curve, hit). A table shipped with the
  package (``oracles.shipped``) under the same key is used first; then ``cache_dir`` (None or "": no
  cache). An oracle with ``cached`` False (cheap) computes every time. ``desc``: the name of the
  computation's progress bar."""
  if not getattr(oracle, "cached", True):
    cache_dir = None
  else:
    path = oracle_cache_path(family, psis, key, oracle.budget, cache_dir or "")
    found = existing_entry(path, cache_dir)
    if found:
      with np.load(found) as data:
        return data["v_star"], data["curve"], True
  v_star, curve = oracle(family, psis, key, desc=desc)
  v_star, curve = np.asarray(v_star), np.asarray(curve)
  if cache_dir:
    write_entry(path, v_star, curve, psis)
  return v_star, curve, False


def write_entry(path: str, v_star, curve, psis) -> None:
  """A cache entry: v_star, curve and the task set psi in one .npz at ``path`` (``oracle_cache_path``),
  written atomically, so concurrent runs never read a half-written file. ``cached_oracle`` writes its
  computations so, and ``oracles.pieces`` the whole set it assembled from pieces."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = path + f".tmp{os.getpid()}.npz"
  np.savez(tmp, v_star=np.asarray(v_star), curve=np.asarray(curve), psi=np.asarray(psis))
  os.replace(tmp, path)
