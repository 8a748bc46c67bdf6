"""Conjugate gradients with a fixed iteration budget, jit- and vmap-friendly.

Written here rather than taken from ``jax.scipy.sparse.linalg.cg`` because both callers need
what it does not give: the residual norm as an output (logged for every task gradient), and
the lowest-residual iterate (the reference keeps it, since the damped systems solved for the
task gradient can be ill-conditioned and CG's residual is not monotone there).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class CGResult(NamedTuple):
  x: jax.Array          # [n] lowest-residual iterate
  residual: jax.Array   # [] ||b - A x|| / max(||b||, tiny) for that iterate (recurrence residual)


def conjugate_gradient(matvec: Callable[[jax.Array], jax.Array], b: jax.Array, iters: int,
                       tol: float = 1e-10) -> CGResult:
  """Solve A x = b for symmetric positive-definite A given as ``matvec``; b [n], from x0 = 0.

  Runs at most ``iters`` iterations (``lax.fori_loop``) and freezes once the relative residual
  falls below ``tol``.
  """
  b_norm = jnp.maximum(jnp.linalg.norm(b), 1e-30)

  def body(_, carry):
    x, r, p, rs, best_x, best_res = carry
    ap = matvec(p)
    pap = jnp.vdot(p, ap)
    active = (jnp.sqrt(rs) / b_norm > tol) & (jnp.abs(pap) > 1e-30)
    alpha = jnp.where(active, rs / jnp.where(active, pap, 1.0), 0.0)
    x_new = x + alpha * p
    r_new = r - alpha * ap
    rs_new = jnp.vdot(r_new, r_new)
    beta = jnp.where(active, rs_new / jnp.where(rs > 0, rs, 1.0), 0.0)
    p_new = jnp.where(active, r_new + beta * p, p)
    res_new = jnp.sqrt(rs_new) / b_norm
    better = active & (res_new < best_res)
    best_x = jnp.where(better, x_new, best_x)
    best_res = jnp.where(better, res_new, best_res)
    x, r, rs = (jnp.where(active, x_new, x), jnp.where(active, r_new, r), jnp.where(active, rs_new, rs))
    return x, r, p_new, rs, best_x, best_res

  zeros = jnp.zeros_like(b)
  init = (zeros, b, b, jnp.vdot(b, b), zeros, jnp.ones((), b.dtype))
  *_, best_x, best_res = jax.lax.fori_loop(0, iters, body, init)
  return CGResult(best_x, best_res)
