"""admrl_jax: model-based adversarial meta-reinforcement learning (AdMRL) in JAX."""
