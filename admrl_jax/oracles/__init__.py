"""V* oracles by name (``ORACLES``; ``eval.oracle`` picks the main one), the on-disk cache, the
adaptation floor and the model planner. Adding an oracle: a module with an ``Oracle`` subclass, and
its ``register`` line here."""
from admrl_jax.oracles.base import (EVAL_STREAMS, ORACLES, Oracle, OracleSettings, build_oracles,  # noqa: F401
                                    eval_stream, register)
from admrl_jax.oracles.mpc import MPCOracle
from admrl_jax.oracles.policy import PolicyOracle
from admrl_jax.oracles.trajectory import TrajectoryOracle
from admrl_jax.oracles.zero_action import ZeroAction

register(TrajectoryOracle)
register(PolicyOracle)
register(MPCOracle)
register(ZeroAction)
