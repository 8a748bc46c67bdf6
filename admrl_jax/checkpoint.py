"""Checkpoints of a run with orbax: the whole MetaState and the per-iteration metric history.

A checkpoint at outer iteration i holds everything the loop carries (model parameters, its
optimiser state and normalisers, the replay buffer, the tasks psi, the PRNG key, the counters) and
the metric rows 1..i (the tasks' history among them). Policies are not carried between outer
iterations (each iteration starts fresh ones), so the MetaState is the whole state: resuming from
iteration i and running on gives exactly the numbers of a run that was never stopped.
"""
from __future__ import annotations

import os

import chex
import jax
import orbax.checkpoint as ocp

from admrl_jax.minimax import MetaState


def _to_saveable(state: MetaState) -> MetaState:
  """Typed PRNG keys -> their uint32 key data (plain arrays orbax stores everywhere)."""
  return state.replace(key=jax.random.key_data(state.key))


def _from_saveable(state: MetaState, like: MetaState) -> MetaState:
  return state.replace(key=jax.random.wrap_key_data(state.key, impl=jax.random.key_impl(like.key)))


class Checkpointer:
  """Orbax CheckpointManager over ``<run_dir>/checkpoints``, steps numbered by outer iteration.

  keep: how many of the latest checkpoints to keep (None: all); keep_period: checkpoints whose
  iteration is a multiple of it are never deleted (for sample-efficiency curves).
  """

  def __init__(self, run_dir: str, keep: int | None = 2, keep_period: int | None = None):
    self.directory = os.path.abspath(os.path.join(run_dir, "checkpoints"))
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, keep_period=keep_period, create=True,
                                           enable_async_checkpointing=False)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def save(self, state: MetaState, history: list[dict]) -> int:
    """Write the checkpoint of iteration ``state.iteration`` (blocking) and return that step."""
    step = int(state.iteration)
    if step in self.manager.all_steps():
      return step
    self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(_to_saveable(state)),
                                                    history=ocp.args.JsonSave(history)), force=True)
    self.manager.wait_until_finished()
    return step

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def restore(self, like: MetaState, step: int | None = None) -> tuple[MetaState, list[dict]]:
    """The checkpoint of ``step`` (default: the latest), with ``like`` giving shapes, dtypes and
    shardings (a state placed on a mesh restores onto it, in one process or several)."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_saveable(like))
    restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                                  history=ocp.args.JsonRestore()))
    chex.assert_trees_all_equal_shapes_and_dtypes(restored["state"], abstract)  # a checkpoint of this config
    return _from_saveable(restored["state"], like), list(restored["history"])

  def close(self):
    self.manager.close()
