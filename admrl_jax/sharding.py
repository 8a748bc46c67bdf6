"""Where arrays live: the one home of the device mesh and its shardings.

The K tasks of an outer iteration (and, in a seed sweep, the seeds) are split over a 1-D mesh with a
``tasks`` axis; the dynamics model and the replay buffer are replicated, and the model's fit batch is
split over the same axis (data parallel: each device takes a slice, the gradient mean all-reduces).
One process or many: with ``jax.distributed.initialize`` called first, ``jax.devices()`` lists every
process's devices and the mesh spans them.
"""
from __future__ import annotations

import jax
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
