"""The Tosi–Fumi + Ewald NaCl model of :mod:`.nacl_reference` as an OpenMM system.

OpenMM (``pip install 'lode_rs[datasets]'``; its CPU platform, or the double-precision
Reference platform) is the MD engine of the molten-NaCl data: a ``NonbondedForce`` with Ewald
summation for the charges (real-space cutoff ``r_c``, error tolerance ``ewald_tolerance``, no
dispersion correction) and a ``CustomNonbondedForce`` with the shifted-force Born–Mayer–Huggins
pair term (periodic cutoff ``r_c``, no switching, no long-range correction), whose per-pair
constants come from :class:`~.nacl_reference.TosiFumi` through 2×2 tables.

:class:`Engine` holds one OpenMM context and converts at its edge: positions Å ↔ nm,
energies kJ/mol → eV, forces kJ/mol/nm → eV/Å, velocities nm/ps ↔ ASE's units.
"""

from __future__ import annotations

import numpy as np

from .._lode_rs import InvalidParameterError
from .nacl_reference import KJ_PER_MOL, TosiFumi, charges_of, ion_types

#: OpenMM force groups of the two terms (``Engine.state(groups=...)``)
COULOMB_GROUP, SHORT_RANGE_GROUP = 0, 1
#: the default relative accuracy of OpenMM's Ewald sum (its ``ewaldErrorTolerance``)
EWALD_TOLERANCE = 1e-6


def _openmm():
    try:
        import openmm
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the molten-NaCl generator needs OpenMM: pip install 'lode_rs[datasets]' "
            "(or pip install openmm)"
        ) from error
    return openmm


def _check_cell(cell: np.ndarray, cutoff: float) -> None:
    cell = np.asarray(cell, dtype=float)
    if not np.allclose(cell, np.diag(np.diag(cell))):
        raise InvalidParameterError("the NaCl engine takes orthorhombic cells only")
    if np.min(np.diag(cell)) < 2 * cutoff:
        raise InvalidParameterError(
            f"cell {np.diag(cell).round(3).tolist()} Å is shorter than twice the cutoff "
            f"{cutoff} Å: use a larger box (more ions) or a smaller TosiFumi(cutoff=...)"
        )


def openmm_system(numbers, cell, masses, params: TosiFumi, ewald_tolerance: float):
    """An ``openmm.System`` of the Tosi–Fumi + Ewald model for ions ``numbers`` in ``cell`` (Å)."""
    mm = _openmm()
    unit = mm.unit
    _check_cell(cell, params.cutoff)
    types = ion_types(numbers)
    charges = charges_of(numbers)
    nm = 0.1  # Å → nm
    system = mm.System()
    box = np.diag(np.asarray(cell, dtype=float)) * nm
    system.setDefaultPeriodicBoxVectors(
        mm.Vec3(box[0], 0, 0), mm.Vec3(0, box[1], 0), mm.Vec3(0, 0, box[2])
    )
    for m in masses:
        system.addParticle(float(m) * unit.amu)

    coulomb = mm.NonbondedForce()
    coulomb.setNonbondedMethod(mm.NonbondedForce.Ewald)
    coulomb.setCutoffDistance(params.cutoff * nm)
    coulomb.setEwaldErrorTolerance(ewald_tolerance)
    coulomb.setUseDispersionCorrection(False)
    for q in charges:
        coulomb.addParticle(float(q), 0.1, 0.0)  # no Lennard-Jones term
    coulomb.setForceGroup(COULOMB_GROUP)
    system.addForce(coulomb)

    # φ(r) − φ(r_c) − (r − r_c) φ'(r_c) in OpenMM units (kJ/mol, nm), per pair of types
    tables: dict[str, list[float]] = {"A": [], "C6": [], "C8": [], "E0": [], "G": []}
    kj = 1.0 / KJ_PER_MOL
    for b in (0, 1):  # OpenMM's 2D tables run over the first index fastest
        for a in (0, 1):
            big_a, c, d = params.pair(a, b)
            value_c, slope_c = params.phi(a, b, params.cutoff)
            tables["A"].append(big_a * kj)
            tables["C6"].append(c * kj * nm**6)
            tables["C8"].append(d * kj * nm**8)
            tables["E0"].append(float(value_c) * kj)
            tables["G"].append(float(slope_c) * kj / nm)
    short = mm.CustomNonbondedForce(
        "A(t1, t2)*exp(-r/rho) - C6(t1, t2)/r^6 - C8(t1, t2)/r^8 - E0(t1, t2) - (r - rc)*G(t1, t2)"
    )
    short.addGlobalParameter("rho", params.rho * nm)
    short.addGlobalParameter("rc", params.cutoff * nm)
    for name, values in tables.items():
        short.addTabulatedFunction(name, mm.Discrete2DFunction(2, 2, values))
    short.addPerParticleParameter("t")
    for t in types:
        short.addParticle([float(t)])
    short.setNonbondedMethod(mm.CustomNonbondedForce.CutoffPeriodic)
    short.setCutoffDistance(params.cutoff * nm)
    short.setUseSwitchingFunction(False)
    short.setUseLongRangeCorrection(False)
    short.setForceGroup(SHORT_RANGE_GROUP)
    system.addForce(short)
    return system


class Engine:
    """One OpenMM context of an NaCl box: energies, forces and MD with ASE's units.

    Args:
        numbers: atomic numbers (11, 17).
        cell: orthorhombic cell (Å), each side at least ``2 r_c``.
        params: the model (default :class:`TosiFumi`).
        platform: ``"CPU"`` (one thread, deterministic forces) or ``"Reference"`` (double
            precision, slow).
        ewald_tolerance: OpenMM's Ewald error tolerance.
    """

    def __init__(
        self,
        numbers,
        cell,
        params: TosiFumi | None = None,
        *,
        platform: str = "CPU",
        ewald_tolerance: float = EWALD_TOLERANCE,
    ) -> None:
        from ase.data import atomic_masses

        self.mm = _openmm()
        self.numbers = np.asarray(numbers)
        self.cell = np.asarray(cell, dtype=float)
        self.params = params or TosiFumi()
        self.masses = atomic_masses[self.numbers]
        self.system = openmm_system(
            self.numbers, self.cell, self.masses, self.params, ewald_tolerance
        )
        if platform not in ("CPU", "Reference"):
            raise InvalidParameterError(f"platform must be 'CPU' or 'Reference', got {platform!r}")
        self.platform = platform
        self._integrator = None
        self.context = None

    def _make_context(self, integrator) -> None:
        mm = self.mm
        properties = (
            {"Threads": "1", "DeterministicForces": "true"} if self.platform == "CPU" else {}
        )
        self._integrator = integrator
        self.context = mm.Context(
            self.system, integrator, mm.Platform.getPlatformByName(self.platform), properties
        )

    def use_langevin(self, temperature: float, friction: float, timestep: float, seed: int):
        """NVT: Langevin (BAOAB) at ``temperature`` K, ``friction`` 1/ps, ``timestep`` fs."""
        mm = self.mm
        integrator = mm.LangevinMiddleIntegrator(temperature, friction, timestep * 1e-3)
        integrator.setRandomNumberSeed(_nonzero(seed))
        self._switch(integrator)

    def use_verlet(self, timestep: float) -> None:
        """NVE: velocity Verlet with ``timestep`` fs."""
        self._switch(self.mm.VerletIntegrator(timestep * 1e-3))

    def _switch(self, integrator) -> None:
        state = None
        if self.context is not None:
            state = self.context.getState(getPositions=True, getVelocities=True)
        self._make_context(integrator)
        if state is not None:
            self.context.setPositions(state.getPositions())
            self.context.setVelocities(state.getVelocities())

    def _context(self):
        if self.context is None:
            self.use_verlet(1.0)
        return self.context

    def set_positions(self, positions) -> None:
        """Positions in Å."""
        self._context().setPositions(np.asarray(positions, dtype=float) * 0.1)

    def set_velocities(self, velocities) -> None:
        """Velocities in ASE's units (Å per ASE time unit)."""
        self._context().setVelocities(np.asarray(velocities, dtype=float) * _ASE_TO_NM_PS)

    def thermalize(self, temperature: float, seed: int) -> None:
        """Maxwell–Boltzmann velocities at ``temperature`` K (OpenMM's generator, seeded)."""
        self._context().setVelocitiesToTemperature(temperature, _nonzero(seed))

    def step(self, n: int) -> None:
        self._context()
        self._integrator.step(int(n))

    def state(self, groups: set[int] | None = None) -> dict:
        """``positions`` (Å, wrapped into the cell), ``velocities`` (ASE units), ``energy``
        (potential, eV), ``kinetic`` (eV), ``forces`` (eV/Å); energy and forces of the force
        ``groups`` only when given (:data:`COULOMB_GROUP`, :data:`SHORT_RANGE_GROUP`)."""
        s = self._context().getState(
            getPositions=True,
            getVelocities=True,
            getEnergy=True,
            getForces=True,
            groups=set(groups) if groups is not None else -1,
        )
        unit = self.mm.unit
        positions = s.getPositions(asNumpy=True).value_in_unit(unit.nanometer) * 10.0
        lengths = np.diag(self.cell)
        return {
            "positions": positions - np.floor(positions / lengths) * lengths,
            "velocities": s.getVelocities(asNumpy=True).value_in_unit(
                unit.nanometer / unit.picosecond
            )
            / _ASE_TO_NM_PS,
            "energy": s.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole) * KJ_PER_MOL,
            "kinetic": s.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole) * KJ_PER_MOL,
            "forces": s.getForces(asNumpy=True).value_in_unit(
                unit.kilojoule_per_mole / unit.nanometer
            )
            * KJ_PER_MOL
            / 10.0,
        }

    def evaluate(self, positions) -> tuple[float, np.ndarray]:
        """Potential energy (eV) and forces (eV/Å) at ``positions`` (Å)."""
        self.set_positions(positions)
        s = self.state()
        return s["energy"], s["forces"]


def _nonzero(seed: int) -> int:
    """OpenMM takes seed 0 as "pick one at random": map seeds to 1 … 2³¹−1."""
    return int(seed) % 2147483646 + 1


# 1 Å per ASE time unit in nm/ps: ASE's time unit is Å √(amu/eV)
def _ase_to_nm_ps() -> float:
    from ase import units

    return 0.1 / (1.0 / units.fs * 1e-3)  # Å/(ASE time) → nm/ps


_ASE_TO_NM_PS = _ase_to_nm_ps()
