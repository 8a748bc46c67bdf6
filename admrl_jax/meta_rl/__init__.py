"""Model-free meta-RL baselines: the learner interface, their loop and evaluation (``base``), and the
learners ``multitask`` (PPO on a psi-conditioned policy), ``maml`` (MAML-TRPO) and ``pearl``."""
from admrl_jax.meta_rl.base import MetaLearner, MetaRLLoop, MetaRLState, adapted_returns, policy_return  # noqa: F401
