"""The rigid-ion reference of the molten-NaCl experiment: Tosi–Fumi + full Ewald electrostatics.

The energy of a periodic Na⁺/Cl⁻ box (charges ±1 e) is

    E = E_Coulomb + Σ_{i<j, r_ij < r_c} [ φ_ab(r_ij) − φ_ab(r_c) − (r_ij − r_c) φ'_ab(r_c) ]

with ``E_Coulomb`` the Ewald sum (tinfoil boundary, no cutoff approximation beyond the Ewald
tolerance) and the Born–Mayer–Huggins short range of Tosi and Fumi (J. Phys. Chem. Solids 25,
31 and 45, 1964)

    φ_ab(r) = c_ab b exp((σ_a + σ_b − r)/ρ) − C_ab/r⁶ − D_ab/r⁸

(Pauling factors ``c_ab``, ionic radii ``σ``, the dispersion coefficients ``C``, ``D`` of Mayer as
tabulated by Tosi and Fumi), shifted so that energy and force both vanish at the cutoff ``r_c``
(a truncation that keeps MD energy-conserving).

Two evaluations of this energy live here:

- :func:`short_range`: the short-range term in numpy (ASE's neighbour list, any cell), which
  with :func:`lode_rs.electrostatic_energy` gives an independent check of
- :func:`openmm_system` / :class:`OpenMMEvaluator`: the same model as an OpenMM system
  (``NonbondedForce`` with Ewald summation + a ``CustomNonbondedForce``), the engine that makes
  the MD trajectories (``pip install 'lode_rs[datasets]'``).

Units: eV, Å, e, atomic mass units (ASE); OpenMM's kJ/mol, nm and ps are converted at the edge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .._lode_rs import InvalidParameterError

#: atomic numbers and charges (e) of the two ions
SODIUM, CHLORINE = 11, 17
CHARGES = {SODIUM: 1.0, CHLORINE: -1.0}

# 1 J in eV and the Avogadro constant (CODATA 2018): the Tosi–Fumi tables are in SI units
_J_TO_EV = 1.0 / 1.602176634e-19
#: one kJ/mol in eV
KJ_PER_MOL = 1e3 / 6.02214076e23 * _J_TO_EV


@dataclass(frozen=True)
class TosiFumi:
    """Parameters of the Born–Mayer–Huggins short range (defaults: Tosi–Fumi NaCl).

    Attributes:
        b: repulsion energy (eV); 0.338e-19 J.
        rho: repulsion range ρ (Å).
        sigma: ionic radii ``(Na, Cl)`` (Å).
        pauling: Pauling factors ``(c_++, c_+-, c_--)``.
        c6: dipole–dipole coefficients ``(C_++, C_+-, C_--)`` (eV Å⁶); 1.68, 11.2, 116 ×
            10⁻⁷⁹ J m⁶.
        c8: dipole–quadrupole coefficients ``(D_++, D_+-, D_--)`` (eV Å⁸); 0.8, 13.9, 233 ×
            10⁻⁹⁹ J m⁸.
        cutoff: ``r_c`` (Å) of the shifted-force short range; it must not exceed half the
            shortest cell height (one image per pair, as OpenMM requires).
    """

    b: float = 0.338e-19 * _J_TO_EV
    rho: float = 0.317
    sigma: tuple[float, float] = (1.170, 1.585)
    pauling: tuple[float, float, float] = (1.25, 1.0, 0.75)
    c6: tuple[float, float, float] = tuple(c * 1e-19 * _J_TO_EV for c in (1.68, 11.2, 116.0))
    c8: tuple[float, float, float] = tuple(d * 1e-19 * _J_TO_EV for d in (0.8, 13.9, 233.0))
    cutoff: float = 6.0

    def __post_init__(self) -> None:
        if not (self.cutoff > 0 and self.rho > 0 and self.b > 0):
            raise InvalidParameterError("TosiFumi: cutoff, rho and b must be > 0")

    def to_dict(self) -> dict:
        """JSON-serialisable parameters (for cache keys)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def pair(self, a: int, b: int) -> tuple[float, float, float]:
        """``(A, C, D)`` of ``φ_ab(r) = A exp(−r/ρ) − C/r⁶ − D/r⁸`` for ion types 0 (Na), 1 (Cl)."""
        k = a + b  # 0: ++, 1: +-, 2: --
        prefactor = self.pauling[k] * self.b * np.exp((self.sigma[a] + self.sigma[b]) / self.rho)
        return float(prefactor), self.c6[k], self.c8[k]

    def phi(self, a: int, b: int, r):
        """``φ_ab(r)`` and ``φ'_ab(r)`` (eV, eV/Å), unshifted."""
        big_a, c, d = self.pair(a, b)
        r = np.asarray(r, dtype=float)
        rep = big_a * np.exp(-r / self.rho)
        value = rep - c / r**6 - d / r**8
        slope = -rep / self.rho + 6 * c / r**7 + 8 * d / r**9
        return value, slope


def ion_types(numbers) -> np.ndarray:
    """0 for Na, 1 for Cl; any other species is an error."""
    numbers = np.asarray(numbers)
    bad = np.setdiff1d(numbers, [SODIUM, CHLORINE])
    if bad.size:
        raise InvalidParameterError(
            f"the NaCl reference knows Na (11) and Cl (17) only, got species {bad.tolist()}"
        )
    return (numbers == CHLORINE).astype(np.int64)


def charges_of(numbers) -> np.ndarray:
    """+1 e for Na, −1 e for Cl."""
    return 1.0 - 2.0 * ion_types(numbers)


def short_range(atoms, params: TosiFumi | None = None) -> tuple[float, np.ndarray]:
    """The shifted-force Born–Mayer–Huggins energy (eV) and forces (eV/Å) of a periodic box.

    Pairs from ASE's neighbour list (every periodic image within ``r_c``), evaluated with
    :meth:`TosiFumi.phi`; independent of OpenMM.
    """
    from ase.neighborlist import neighbor_list

    params = params or TosiFumi()
    types = ion_types(atoms.numbers)
    i, j, d, vec = neighbor_list("ijdD", atoms, params.cutoff)
    energy = 0.0
    forces = np.zeros((len(atoms), 3))
    for a in (0, 1):
        for b in (0, 1):
            mask = (types[i] == a) & (types[j] == b)
            if not mask.any():
                continue
            value, slope = params.phi(a, b, d[mask])
            value_c, slope_c = params.phi(a, b, params.cutoff)
            # each pair appears twice (i→j and j→i): half the energy each time
            energy += 0.5 * float(np.sum(value - value_c - (d[mask] - params.cutoff) * slope_c))
            # F_i = −∂E/∂r_i = Σ_j φ̃'(r_ij) (r_j − r_i)/r_ij
            f = ((slope - slope_c) / d[mask])[:, None] * vec[mask]
            for axis in range(3):
                forces[:, axis] += np.bincount(i[mask], f[:, axis], minlength=len(atoms))
    return energy, forces
