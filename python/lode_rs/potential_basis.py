"""Basis functions of a potential's environment energy and their derivatives.

A potential's energy is additive, ``E = Σ_i ε(x_i) + baseline``, with ``ε(x) = Σ_p θ_p φ_p(x)``
linear in the parameters ``θ``:

* linear (ridge): ``φ_p(x) = x_p`` (one basis function per feature column);
* kernel (GPR, sparse GPR): ``φ_m(x) = k(x, x_m)`` for the active environments ``x_m``
  (zero across central species when species are matched), with the polynomial kernel
  ``k = (x̂·x̂_m)^ζ``, ``x̂ = x/|x|`` (or ``(x·x_m)^ζ`` on raw features), whose gradient is
  ``∂k/∂x = ζ s^{ζ-1} (x̂_m − s x̂)/|x|`` with ``s = x̂·x̂_m`` (raw: ``ζ s^{ζ-1} x_m``).

Forces and stress of the training structures enter through the feature Jacobians ``J``:
``∂ε/∂r = Σ_p θ_p (∂φ_p/∂x)·J``. :meth:`Basis.contract` forms ``(∂φ_p/∂x)·J`` for every
active point at once — the kernel derivative contracted with the Jacobian, no kernel Hessian —
and :meth:`Basis.cotangent` gives ``∂ε/∂x`` for the backward pass of prediction.
"""

from __future__ import annotations

import numpy as np

from .models.kernels import PolynomialKernel

#: rows of a Jacobian contracted at once (bounds the temporary (rows, n_basis) arrays)
CHUNK = 4096


class Basis:
    """The basis ``φ_p`` of a fitted potential (see the module docs).

    Args:
        kernel: ``None`` for the linear basis, else a :class:`PolynomialKernel` (integer ζ).
        points: ``(M, F)`` active environments (raw features) for a kernel basis.
        species: ``(M,)`` their central species; ``None`` when species are not matched.
    """

    def __init__(
        self,
        kernel: PolynomialKernel | None,
        points: np.ndarray | None = None,
        species: np.ndarray | None = None,
    ) -> None:
        self.kernel = kernel
        if kernel is not None:
            self.points = kernel.prepare(points)
            self.species = species

    @staticmethod
    def species_resolved(species: np.ndarray, n_features: int) -> Basis:
        """The linear basis with one weight vector per centre species,
        ``φ_{(Z,p)}(x_i) = δ_{Z Z_i} x_p``: the raw linear kernel ``x·x_m`` on the unit vectors
        ``x_m = e_p`` of each species (so the prior ``K_MM`` is the identity, as for ridge)."""
        species = np.asarray(species, dtype=np.int64)
        points = np.tile(np.eye(n_features), (len(species), 1))
        return Basis(
            PolynomialKernel(zeta=1, normalize=False), points, np.repeat(species, n_features)
        )

    def size(self, n_features: int) -> int:
        """Number of basis functions."""
        return n_features if self.kernel is None else self.points.shape[0]

    def _prepared(self, x: np.ndarray):
        norms = np.linalg.norm(x, axis=1)
        if self.kernel.normalize:
            inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
            return x * inv[:, None], inv
        return x, np.ones_like(norms)

    def _mask(self, species: np.ndarray) -> np.ndarray | None:
        if self.species is None:
            return None
        return species[:, None] == self.species[None, :]

    def _similarity(self, xh: np.ndarray, species: np.ndarray):
        """``s = x̂·x̂_m``, ``k = s^ζ`` and ``dk/ds = ζ s^{ζ−1}``, zero across species."""
        zeta = self.kernel.zeta
        s = xh @ self.points.T
        k = s**zeta
        dk = zeta * s ** (zeta - 1) if zeta > 1 else np.ones_like(s)
        mask = self._mask(species)
        if mask is not None:
            k = np.where(mask, k, 0.0)
            dk = np.where(mask, dk, 0.0)
        return s, k, dk

    def values(self, x: np.ndarray, species: np.ndarray) -> np.ndarray:
        """``(n_rows, P)`` basis functions of every row."""
        if self.kernel is None:
            return x
        xh, _ = self._prepared(x)
        return self._similarity(xh, species)[1]

    def contract(
        self,
        jac: np.ndarray,
        rows: np.ndarray,
        x: np.ndarray,
        species: np.ndarray,
        columns: slice | None = None,
    ) -> np.ndarray:
        """``(n, P)``: ``Σ_f jac[t, f] ∂φ_p(x[rows[t]])/∂x_f`` for Jacobian rows ``jac``
        ``(n, F)`` (one direction of one sample each) of the environments ``rows``; with
        ``columns``, ``jac`` holds only those feature columns (the others are zero)."""
        if self.kernel is None:
            if columns is None:
                return jac
            full = np.zeros((jac.shape[0], x.shape[1]))
            full[:, columns] = jac
            return full
        xh, inv = self._prepared(x)
        points = self.points if columns is None else self.points[:, columns]
        own_x = xh if columns is None else xh[:, columns]
        # once per environment, not per Jacobian row (an environment has 3 rows per atom)
        s_env, _, dk_env = self._similarity(xh, species)
        out = np.empty((jac.shape[0], self.points.shape[0]))
        for t0 in range(0, jac.shape[0], CHUNK):
            t1 = min(t0 + CHUNK, jac.shape[0])
            r = rows[t0:t1]
            s, dk = s_env[r], dk_env[r]
            jx = jac[t0:t1] @ points.T
            if self.kernel.normalize:
                own = np.einsum("tf,tf->t", jac[t0:t1], own_x[r])
                out[t0:t1] = dk * (jx - s * own[:, None]) * inv[r][:, None]
            else:
                out[t0:t1] = dk * jx
        return out

    def contract_pairs(
        self, jac: np.ndarray, x: np.ndarray, species: np.ndarray, columns: slice | None = None
    ) -> np.ndarray:
        """``(3 N, P)``: ``Σ_i Σ_f jac[i, t, f] ∂φ_p(x_i)/∂x_f`` for the Jacobian ``jac``
        ``(N, 3 N, F)`` of every centre ``i`` of one structure (environments ``x``) in every
        direction ``t = 3 j + α`` of its atoms (``columns`` as for :meth:`contract`). The sum
        over centres is taken first, as matrix products: with ``A = dk/|x|`` and
        ``C = A s`` per (centre, point), ``Σ_i d = Σ_f x̂_m,f (Jᵀ_f A) − oᵀ C``,
        ``o[i, t] = jac[i, t]·x̂_i`` (raw kernel: ``A = dk``, no second term) — the flops of
        :meth:`contract` without its ``(3 N², P)`` temporaries."""
        n_dirs, width = jac.shape[1], jac.shape[2]
        if self.kernel is None:
            out = np.zeros((n_dirs, x.shape[1]))
            out[:, slice(None) if columns is None else columns] = jac.sum(axis=0)
            return out
        xh, inv = self._prepared(x)
        s, _, dk = self._similarity(xh, species)
        points = self.points if columns is None else self.points[:, columns]
        a = dk * inv[:, None] if self.kernel.normalize else dk
        out = np.zeros((n_dirs, points.shape[0]))
        # features in chunks: the (3 N, f, P) product stays below ~32 MB
        step = max(1, (1 << 22) // max(1, n_dirs * points.shape[0]))
        for f0 in range(0, width, step):
            f1 = min(f0 + step, width)
            part = jac[:, :, f0:f1].reshape(jac.shape[0], -1)  # (N, 3N · f)
            g = (part.T @ a).reshape(n_dirs, f1 - f0, -1)  # (3N, f, P)
            out += np.einsum("tfm,mf->tm", g, points[:, f0:f1])
        if self.kernel.normalize:
            own_x = xh if columns is None else xh[:, columns]
            o = np.einsum("itf,if->it", jac, own_x)
            out -= o.T @ (a * s)
        return out

    def cotangent(self, x: np.ndarray, species: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """``(n_rows, F)``: ``∂ε(x_i)/∂x_i`` for ``ε = Σ_p θ_p φ_p``."""
        if self.kernel is None:
            return np.broadcast_to(theta, x.shape).copy()
        xh, inv = self._prepared(x)
        s, _, dk = self._similarity(xh, species)
        c = dk * theta[None, :]
        g = c @ self.points
        if self.kernel.normalize:
            g = (g - np.einsum("im,im->i", c, s)[:, None] * xh) * inv[:, None]
        return g
