"""Where arrays live: the one home of the device mesh and its shardings.

The K tasks of an outer iteration (and, in a seed sweep, the seeds) are split over a 1-D mesh with a
``tasks`` axis; the dynamics model and the replay buffer are replicated, and the model's fit batch is
split over the same axis (data parallel: each device takes a slice, the gradient mean all-reduces).
One process or many: with ``jax.distributed.initialize`` called first, ``jax.devices()`` lists every
process's devices and the mesh spans them; ``place`` puts a state on such a mesh.
"""
from __future__ import annotations

import hashlib

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P

AXIS = "tasks"


def task_mesh(devices: int) -> jax.sharding.Mesh | None:
  """A 1-D mesh with a ``tasks`` axis over the first ``devices`` devices (None for one device)."""
  if devices == 1:
    return None
  if devices > jax.device_count():
    raise ValueError(f"devices: asked for {devices}, but jax sees {jax.device_count()} "
                     f"({jax.devices()[0].platform}); allowed: 1..{jax.device_count()}")
  return jax.make_mesh((devices,), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,),
                       devices=jax.devices()[:devices])


def split(mesh) -> NamedSharding | None:
  """Leading axis split over the mesh's ``tasks`` axis (None without a mesh)."""
  return None if mesh is None else NamedSharding(mesh, P(AXIS))


def replicated(mesh) -> NamedSharding | None:
  """Every device holds the whole array (None without a mesh)."""
  return None if mesh is None else NamedSharding(mesh, P())


def constrain_split(mesh, tree):
  """Inside jit: leaves with a leading axis [K, ...] are split over the mesh (identity without one)."""
  if mesh is None:
    return tree
  return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, split(mesh)), tree)


def constrain(sharding, tree):
  """Inside jit: every leaf constrained to ``sharding`` (identity for None)."""
  if sharding is None:
    return tree
  return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)


def place(tree, shardings):
  """Put every leaf of ``tree`` on its sharding and return the placed tree (``tree`` as it is for None).

  shardings: one Sharding for every leaf, or a pytree of them with ``tree``'s structure. Shardings
  this process addresses whole: ``jax.device_put``. Shardings that span other processes' devices:
  each leaf is built from this process's host copy, every addressable shard cut from it
  (``jax.make_array_from_callback``). device_put would instead check, leaf by leaf, that the value
  is equal on every process, and a NaN (a method's "not set yet", AdMRL's restart anchor) never
  equals itself. The processes must hold the same tree (each builds it from the same seed): that
  is checked once, bit for bit, on a digest of the whole tree.
  """
  if shardings is None:
    return tree
  if isinstance(shardings, jax.sharding.Sharding):
    shardings = jax.tree.map(lambda _: shardings, tree)
  if all(s.is_fully_addressable for s in jax.tree.leaves(shardings)):
    return jax.device_put(tree, shardings)
  host = jax.tree.map(lambda x: np.asarray(jax.random.key_data(x) if _is_key(x) else x), tree)
  multihost_utils.assert_equal(_digest(host), fail_message="sharding.place: the processes hold different trees")
  placed = jax.tree.map(lambda h, s: jax.make_array_from_callback(h.shape, s, lambda index: h[index]), host, shardings)
  return jax.tree.map(lambda x, y: jax.random.wrap_key_data(y, impl=jax.random.key_impl(x)) if _is_key(x) else y,
                      tree, placed)


def _is_key(x) -> bool:
  return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _digest(host) -> np.ndarray:
  """SHA-256 of a tree of host arrays (structure, shapes, dtypes, bytes) as 32 uint8: equal bits, equal digest."""
  h = hashlib.sha256(str(jax.tree.structure(host)).encode())
  for x in jax.tree.leaves(host):
    h.update(f"{x.shape}{x.dtype}".encode())
    h.update(np.ascontiguousarray(x).tobytes())
  return np.frombuffer(h.digest(), np.uint8)
