"""A full-size stand-in for the LODE paper's charged-dimer binding curves (GFN2-xTB energies).

The paper (Grisafi & Ceriotti, J. Chem. Phys. 151, 204105 (2019), Fig. 2) used 661 dimers of
the BioFragment Database; only 10 are public (:func:`lode_rs.datasets.charged_dimers`). This
module builds a set of the same shape from scratch:

1. **Monomers** (:data:`MONOMERS`): small H/C/N/O molecules given as SMILES with formal charges
   (carboxylates, hydrogen carbonate, nitrate, nitrite; ammoniums, guanidinium, amidinium,
   imidazolium, pyridinium, hydronium; polar neutrals). Each is embedded once by RDKit (ETKDG v3,
   fixed seed) and optimised with MMFF94 (UFF if MMFF has no parameters).
2. **Pairs** (:func:`build_dimer`): dimer ``i`` draws, from ``numpy.random.default_rng([seed,
   i])``, a charged monomer A, any monomer B (so at least one is charged), a uniformly random
   rotation of each about its centre of mass and a uniformly random unit direction ``u``. B's
   centre of mass sits at ``d u`` from A's. *Contact* ``d₀`` is the smallest ``d`` such that no
   atom pair (one in A, one in B) is closer than ``contact_scale × (R_i + R_j)``, with Bondi
   van der Waals radii ``R`` (H 1.10, C 1.70, N 1.55, O 1.52 Å) — computed exactly: each pair's
   condition is a quadratic inequality in ``d``. The 13 rigid separations are
   ``d₀ + k × step`` for ``k = 0…12``.
3. **Energies and forces** (:func:`xtb_energy_forces`): GFN2-xTB single points through
   ``tblite`` (one OpenMP thread; the forces are tblite's analytical gradient), the charge of
   each structure set to the sum of its formal charges, closed shell; when the SCF does not
   converge the calculation is repeated with stronger mixer damping and
   more iterations (:data:`SCF_RETRIES`); a dimer any of whose 15 calculations (13 separations
   and the two isolated monomers, in the same orientation) fails is dropped and recorded. A
   dimer is also dropped when, at any separation, the Mulliken charges of monomer A sum to more
   than ``max_transfer`` (0.1 e) away from its formal charge: closed-shell xTB with Fermi
   smearing moves fractions of an electron between distant ions whose frontier levels cross
   (the delocalisation error of approximate density functionals), which would give these
   curves a wrong long-range limit. About one cation–anion pair in two is dropped this way,
   mostly with the π-delocalised cations (amidinium, guanidinium, imidazolium, pyridinium).

The binding energy is ``E(AB) − E(A) − E(B)`` with the monomers at the same rigid geometry.

Needs the optional extra ``pip install "lode_rs[datasets]"`` (rdkit, tblite). The result is
cached on disk by :func:`lode_rs.datasets.xtb_dimers`; a copy of the 600-dimer set is shipped
(``lode_rs/data/xtb_charged_dimers``), so the experiment runs without these packages.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import io
import json
import lzma
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._lode_rs import InvalidParameterError
from ..constants import BOHR_ANGSTROM, HARTREE_EV
from ..progress import progress
from .records import ChargedDimers

#: Version of the generation procedure; bump when anything changes the numbers.
GENERATOR_VERSION = 1

#: (name, SMILES). Charged first: A is always drawn among the charged ones.
MONOMERS: tuple[tuple[str, str], ...] = (
    # anions
    ("formate", "[O-]C=O"),
    ("acetate", "CC(=O)[O-]"),
    ("propanoate", "CCC(=O)[O-]"),
    ("glycolate", "OCC(=O)[O-]"),
    ("hydrogen carbonate", "OC(=O)[O-]"),
    ("nitrate", "[O-][N+](=O)[O-]"),
    ("nitrite", "[O-]N=O"),
    ("hydrogen oxalate", "OC(=O)C(=O)[O-]"),
    # cations
    ("ammonium", "[NH4+]"),
    ("methylammonium", "C[NH3+]"),
    ("ethylammonium", "CC[NH3+]"),
    ("dimethylammonium", "C[NH2+]C"),
    ("trimethylammonium", "C[NH+](C)C"),
    ("tetramethylammonium", "C[N+](C)(C)C"),
    ("guanidinium", "NC(N)=[NH2+]"),
    ("methylguanidinium", "CNC(N)=[NH2+]"),
    ("formamidinium", "NC=[NH2+]"),
    ("acetamidinium", "CC(N)=[NH2+]"),
    ("imidazolium", "c1c[nH+]c[nH]1"),
    ("pyridinium", "c1cc[nH+]cc1"),
    ("hydronium", "[OH3+]"),
    # polar neutrals
    ("water", "O"),
    ("methanol", "CO"),
    ("ammonia", "N"),
    ("methylamine", "CN"),
    ("formaldehyde", "C=O"),
    ("formamide", "NC=O"),
    ("acetamide", "CC(N)=O"),
    ("N-methylacetamide", "CC(=O)NC"),
    ("formic acid", "OC=O"),
    ("acetic acid", "CC(=O)O"),
    ("urea", "NC(N)=O"),
    ("imidazole", "c1c[nH]cn1"),
    ("acetonitrile", "CC#N"),
    ("acetone", "CC(C)=O"),
    ("ethanol", "CCO"),
)

#: Bondi van der Waals radii (Å), H from Rowland & Taylor
VDW_RADII = {1: 1.10, 6: 1.70, 7: 1.55, 8: 1.52}

#: (mixer damping, max iterations) tried in turn until the SCF converges
SCF_RETRIES: tuple[tuple[float, int], ...] = ((0.4, 250), (0.2, 500), (0.05, 1000))


@dataclass(frozen=True)
class Settings:
    """Everything that determines the generated data besides the number of dimers.

    Attributes:
        seed: the random stream of dimer ``i`` is ``default_rng([seed, i])``.
        contact_scale: contact is where the closest A–B pair is this fraction of its vdW sum.
        step: separation increment (Å) between consecutive points of a curve.
        n_separations: points per curve.
        embed_seed: RDKit ETKDG random seed of every monomer.
        max_transfer: dimers where xTB moves more charge (e) between the monomers, at any
            separation, are dropped.
    """

    seed: int = 0
    contact_scale: float = 0.8
    step: float = 0.3
    n_separations: int = 13
    embed_seed: int = 42
    max_transfer: float = 0.1

    def to_dict(self) -> dict:
        """JSON-serialisable form (with the generator version)."""
        return {
            "seed": self.seed,
            "contact_scale": self.contact_scale,
            "step": self.step,
            "n_separations": self.n_separations,
            "embed_seed": self.embed_seed,
            "max_transfer": self.max_transfer,
            "generator_version": GENERATOR_VERSION,
            "monomers": [smiles for _, smiles in MONOMERS],
        }


@dataclass(frozen=True)
class Monomer:
    """One embedded monomer: ``numbers``, ``positions`` (Å, centre of mass at 0), ``charge``."""

    name: str
    smiles: str
    numbers: np.ndarray
    positions: np.ndarray
    charge: int


@dataclass
class Dimer:
    """One binding curve: monomer geometries at contact, direction, separations, energies (eV).

    ``positions_a`` and ``positions_b`` are the rotated monomers with A's centre of mass at the
    origin and B's at ``separations[0] * direction``; the curve point ``k`` moves B by
    ``(separations[k] - separations[0]) * direction``.
    """

    index: int
    name_a: str
    name_b: str
    numbers_a: np.ndarray
    numbers_b: np.ndarray
    positions_a: np.ndarray
    positions_b: np.ndarray
    charge_a: int
    charge_b: int
    direction: np.ndarray
    separations: np.ndarray
    energy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    energy_a: float = float("nan")
    energy_b: float = float("nan")
    transfer: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: GFN2-xTB forces ``(n_separations, n_atoms, 3)`` (eV/Å); empty in files written before
    #: they were recorded
    forces: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: forces on the isolated monomers ``(n_a + n_b, 3)`` (A's atoms first; eV/Å), same geometry
    monomer_forces: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def positions(self, k: int) -> np.ndarray:
        """``(n_a + n_b, 3)`` positions (Å) of curve point ``k`` (A's atoms first)."""
        shift = (self.separations[k] - self.separations[0]) * self.direction
        return np.concatenate([self.positions_a, self.positions_b + shift])

    @property
    def numbers(self) -> np.ndarray:
        """Atomic numbers of the dimer (A's atoms first)."""
        return np.concatenate([self.numbers_a, self.numbers_b])


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"the dimer generator needs '{module.split('.')[0]}': install the optional extra "
            "with pip install 'lode_rs[datasets]' (rdkit and tblite from PyPI)"
        ) from None


def embed_monomer(name: str, smiles: str, seed: int = 42) -> Monomer:
    """RDKit 3D structure of ``smiles``: ETKDG v3 with ``seed``, then MMFF94 (or UFF)."""
    chem = _require("rdkit.Chem")
    all_chem = _require("rdkit.Chem.AllChem")
    mol = chem.AddHs(chem.MolFromSmiles(smiles))
    params = all_chem.ETKDGv3()
    params.randomSeed = int(seed)
    if all_chem.EmbedMolecule(mol, params) != 0:
        raise RuntimeError(f"RDKit could not embed {name} ({smiles})")
    if all_chem.MMFFHasAllMoleculeParams(mol):
        all_chem.MMFFOptimizeMolecule(mol, maxIters=2000)
    else:
        all_chem.UFFOptimizeMolecule(mol, maxIters=2000)
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    positions = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)
    masses = np.array([a.GetMass() for a in mol.GetAtoms()])
    positions -= masses @ positions / masses.sum()
    charge = int(sum(a.GetFormalCharge() for a in mol.GetAtoms()))
    return Monomer(name, smiles, numbers, positions, charge)


def monomer_library(seed: int = 42) -> list[Monomer]:
    """Every monomer of :data:`MONOMERS`, embedded with ``seed``."""
    return [embed_monomer(name, smiles, seed) for name, smiles in MONOMERS]


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniform random rotation matrix (unit quaternion from four normal deviates)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def contact_distance(
    positions_a: np.ndarray,
    numbers_a: np.ndarray,
    positions_b: np.ndarray,
    numbers_b: np.ndarray,
    direction: np.ndarray,
    scale: float,
) -> float:
    """Smallest ``d`` such that for every ``d' ≥ d``, moving B by ``d' u`` keeps all A–B pairs
    at least ``scale × (R_i + R_j)`` apart (Bondi radii).

    For a pair with ``w = b_j − a_i``: ``|w + d u|² ≥ c²`` fails only between the roots of
    ``d² + 2 d (u·w) + |w|² − c² = 0``; the answer is the largest upper root (or 0).
    """
    try:
        radii_a = np.array([VDW_RADII[int(z)] for z in numbers_a])
        radii_b = np.array([VDW_RADII[int(z)] for z in numbers_b])
    except KeyError as error:
        raise InvalidParameterError(f"no van der Waals radius for element {error}") from None
    w = positions_b[None, :, :] - positions_a[:, None, :]
    c = scale * (radii_a[:, None] + radii_b[None, :])
    uw = w @ direction
    discriminant = uw**2 - np.einsum("ijk,ijk->ij", w, w) + c**2
    roots = np.where(discriminant > 0, -uw + np.sqrt(np.maximum(discriminant, 0.0)), 0.0)
    return float(max(roots.max(), 0.0))


def build_dimer(index: int, library: list[Monomer], settings: Settings) -> Dimer:
    """Geometry of dimer ``index`` (energies not computed): see the module docs."""
    rng = np.random.default_rng([settings.seed, index])
    charged = [m for m in library if m.charge != 0]
    a = charged[rng.integers(len(charged))]
    b = library[rng.integers(len(library))]
    positions_a = a.positions @ _random_rotation(rng).T
    positions_b = b.positions @ _random_rotation(rng).T
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    d0 = contact_distance(positions_a, a.numbers, positions_b, b.numbers, u, settings.contact_scale)
    separations = d0 + settings.step * np.arange(settings.n_separations)
    return Dimer(
        index=index,
        name_a=a.name,
        name_b=b.name,
        numbers_a=a.numbers,
        numbers_b=b.numbers,
        positions_a=positions_a,
        positions_b=positions_b + d0 * u,
        charge_a=a.charge,
        charge_b=b.charge,
        direction=u,
        separations=separations,
    )


class SCFError(RuntimeError):
    """The xTB self-consistent field did not converge with any of :data:`SCF_RETRIES`."""


class ChargeTransferError(RuntimeError):
    """xTB put a fraction of an electron on the wrong monomer (a dimer that is dropped)."""


def _single_thread() -> None:
    # OpenMP reads this when the runtime starts (first tblite import in this process)
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def xtb_energy(numbers: np.ndarray, positions: np.ndarray, charge: int) -> tuple[float, np.ndarray]:
    """GFN2-xTB total energy (eV) and Mulliken charges (e) of a closed-shell molecule
    (``positions`` in Å), via tblite.

    Raises:
        SCFError: when no entry of :data:`SCF_RETRIES` converges.
    """
    energy, charges, _ = xtb_energy_forces(numbers, positions, charge)
    return energy, charges


def xtb_energy_forces(
    numbers: np.ndarray, positions: np.ndarray, charge: int
) -> tuple[float, np.ndarray, np.ndarray]:
    """As :func:`xtb_energy`, plus the GFN2-xTB forces ``−∂E/∂r`` (eV/Å, ``(n_atoms, 3)``) of
    the same single point (tblite's analytical gradient)."""
    _single_thread()
    interface = _require("tblite.interface")
    last = None
    for damping, max_iter in SCF_RETRIES:
        calc = interface.Calculator(
            "GFN2-xTB",
            np.asarray(numbers),
            np.asarray(positions) / BOHR_ANGSTROM,
            charge=float(charge),
            uhf=0,
        )
        calc.set("verbosity", 0)
        calc.set("mixer-damping", damping)
        calc.set("max-iter", max_iter)
        try:
            result = calc.singlepoint()
            forces = -np.asarray(result.get("gradient")) * (HARTREE_EV / BOHR_ANGSTROM)
            return (
                float(result.get("energy")) * HARTREE_EV,
                np.asarray(result.get("charges")),
                forces,
            )
        except RuntimeError as error:  # TBLiteRuntimeError derives from RuntimeError
            last = error
    raise SCFError(f"GFN2-xTB SCF did not converge ({last})")


def compute_energies(dimer: Dimer, max_transfer: float = 0.1) -> Dimer:
    """Fill ``energy`` (13 points), ``energy_a``, ``energy_b`` (eV), ``forces`` (eV/Å, the 13
    points), ``monomer_forces`` and ``transfer`` of ``dimer``.

    Raises:
        SCFError: an SCF did not converge.
        ChargeTransferError: at some separation the Mulliken charge of A differs from its formal
            charge by more than ``max_transfer`` (e).
    """
    total = dimer.charge_a + dimer.charge_b
    dimer.energy_a, _, forces_a = xtb_energy_forces(
        dimer.numbers_a, dimer.positions_a, dimer.charge_a
    )
    dimer.energy_b, _, forces_b = xtb_energy_forces(
        dimer.numbers_b, dimer.positions_b, dimer.charge_b
    )
    dimer.monomer_forces = np.concatenate([forces_a, forces_b])
    n_a = len(dimer.numbers_a)
    energy, transfer, forces = [], [], []
    for k in range(len(dimer.separations)):
        e, q, f = xtb_energy_forces(dimer.numbers, dimer.positions(k), total)
        energy.append(e)
        forces.append(f)
        transfer.append(float(q[:n_a].sum()) - dimer.charge_a)
    dimer.energy = np.array(energy)
    dimer.forces = np.array(forces)
    dimer.transfer = np.array(transfer)
    worst = int(np.argmax(np.abs(dimer.transfer)))
    if abs(dimer.transfer[worst]) > max_transfer:
        raise ChargeTransferError(
            f"{dimer.transfer[worst]:+.2f} e moved from A to B at separation {worst} "
            f"(limit {max_transfer} e): xTB's delocalisation error"
        )
    return dimer


def _generate_one(args) -> tuple[Dimer | None, str | None]:
    index, library, settings = args
    dimer = build_dimer(index, library, settings)
    try:
        return compute_energies(dimer, settings.max_transfer), None
    except (SCFError, ChargeTransferError) as error:
        return None, f"dimer {index} ({dimer.name_a} + {dimer.name_b}): {error}"


def generate(
    n_dimers: int,
    settings: Settings | None = None,
    *,
    start: int = 0,
    n_processes: int = 1,
    show_progress: bool = True,
) -> tuple[list[Dimer], list[str]]:
    """Dimers ``start … start + n_dimers − 1`` with GFN2-xTB energies.

    Dimer ``i`` depends only on ``i`` and ``settings`` (not on ``n_dimers``, ``start`` or the
    number of processes), so sets can be extended or regenerated piecewise.

    Args:
        n_dimers: number of dimers attempted.
        settings: geometry settings (default :class:`Settings`).
        start: index of the first dimer.
        n_processes: worker processes (each with one OpenMP thread).
        show_progress: a tqdm bar on a terminal.

    Returns:
        ``(dimers, failures)``: the converged dimers in index order and one message per dropped
        dimer.
    """
    settings = Settings() if settings is None else settings
    if int(n_dimers) != n_dimers or n_dimers < 1:
        raise InvalidParameterError(f"n_dimers must be a positive integer, got {n_dimers}")
    if int(n_processes) != n_processes or n_processes < 1:
        raise InvalidParameterError(f"n_processes must be >= 1, got {n_processes}")
    _single_thread()
    library = monomer_library(settings.embed_seed)
    jobs = [(i, library, settings) for i in range(start, start + int(n_dimers))]
    if n_processes == 1:
        results = (_generate_one(job) for job in jobs)
        results = list(
            progress(results, desc="xTB dimers", total=len(jobs)) if show_progress else results
        )
    else:
        with multiprocessing.get_context("spawn").Pool(int(n_processes)) as pool:
            iterator = pool.imap(_generate_one, jobs, chunksize=4)
            if show_progress:
                iterator = progress(iterator, desc="xTB dimers", total=len(jobs))
            results = list(iterator)
    dimers = [d for d, _ in results if d is not None]
    failures = [f for _, f in results if f is not None]
    return dimers, failures


def to_charged_dimers(dimers: list[Dimer]) -> ChargedDimers:
    """The :class:`lode_rs.datasets.ChargedDimers` form of generated dimers (13 frames each;
    ``info`` of every frame: ``name_a``, ``name_b``, ``generator_index``; ``forces`` when every
    dimer has them)."""
    import ase

    frames, rows = [], []
    with_forces = bool(dimers) and all(d.forces.size for d in dimers)
    forces = []
    for k, d in enumerate(dimers):
        if with_forces:
            forces.extend(d.forces)
        numbers = d.numbers
        for j, separation in enumerate(d.separations):
            atoms = ase.Atoms(numbers=numbers, positions=d.positions(j), pbc=False)
            atoms.info.update(name_a=d.name_a, name_b=d.name_b, generator_index=d.index)
            frames.append(atoms)
            rows.append(
                (
                    k,
                    separation,
                    d.energy[j],
                    d.energy_a,
                    d.energy_b,
                    d.charge_a,
                    d.charge_b,
                    len(d.numbers_a),
                )
            )
    table = np.array(rows, dtype=np.float64).reshape(-1, 8)
    energy = table[:, 2]
    monomer_energies = table[:, 3:5]
    return ChargedDimers(
        frames=frames,
        energy=energy,
        binding_energy=energy - monomer_energies.sum(axis=1),
        dimer=table[:, 0].astype(np.int64),
        distance=table[:, 1],
        monomer_charges=table[:, 5:7],
        forces=forces if with_forces else None,
        n_atoms_a=table[:, 7].astype(np.int64),
        monomer_energies=monomer_energies,
    )


# ---- storage: one extxyz frame per dimer (at contact) + a JSON description --------------------

#: per-dimer ``atoms.info`` keys of the stored file
_INFO = (
    "index",
    "name_a",
    "name_b",
    "charge_a",
    "charge_b",
    "n_atoms_a",
    "direction",
    "separations",
    "dimer_energies",
    "monomer_energy_a",
    "monomer_energy_b",
    "transfer",
)


def metadata(settings: Settings, n_attempted: int, failures: list[str]) -> dict:
    """Description stored beside the data: settings, attempts, failures, package versions."""

    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "settings": settings.to_dict(),
        "n_attempted": int(n_attempted),
        "failures": list(failures),
        "method": "GFN2-xTB (tblite), closed shell, Mulliken charges for the transfer check",
        "versions": {"tblite": version("tblite"), "rdkit": version("rdkit")},
    }


def save(path, dimers: list[Dimer], description: dict) -> None:
    """Write ``dimers`` to ``path`` (``.xyz.xz``: extxyz, xz-compressed) and ``description`` to
    ``path`` with ``.json`` instead of ``.xyz.xz``."""
    import ase
    import ase.io

    frames = []
    for d in dimers:
        atoms = ase.Atoms(numbers=d.numbers, positions=d.positions(0))
        atoms.info.update(
            index=d.index,
            name_a=d.name_a,
            name_b=d.name_b,
            charge_a=d.charge_a,
            charge_b=d.charge_b,
            n_atoms_a=len(d.numbers_a),
            direction=d.direction,
            separations=d.separations,
            dimer_energies=d.energy,
            monomer_energy_a=d.energy_a,
            monomer_energy_b=d.energy_b,
            transfer=d.transfer,
        )
        if d.forces.size:
            atoms.info["dimer_forces"] = d.forces.reshape(-1)
            atoms.info["monomer_forces"] = d.monomer_forces.reshape(-1)
        frames.append(atoms)
    text = io.StringIO()
    ase.io.write(text, frames, format="extxyz")
    path = Path(path)
    path.write_bytes(lzma.compress(text.getvalue().encode(), preset=9))
    _json_path(path).write_text(json.dumps(description, indent=1) + "\n")


def _json_path(path):
    return path.with_name(path.name.removesuffix(".xyz.xz") + ".json")


def load(source) -> tuple[list[Dimer], dict]:
    """Read what :func:`save` wrote; ``source`` is a path or a ``Traversable`` of the package."""
    import ase.io

    with source.open("rb") as handle:
        text = lzma.decompress(handle.read()).decode()
    description = json.loads(_json_path(source).read_text())
    dimers = []
    for atoms in ase.io.read(io.StringIO(text), ":", format="extxyz"):
        info = atoms.info
        n_a = int(info["n_atoms_a"])
        numbers, positions = atoms.get_atomic_numbers(), atoms.get_positions()
        dimers.append(
            Dimer(
                index=int(info["index"]),
                name_a=str(info["name_a"]),
                name_b=str(info["name_b"]),
                numbers_a=numbers[:n_a].astype(np.int64),
                numbers_b=numbers[n_a:].astype(np.int64),
                positions_a=positions[:n_a],
                positions_b=positions[n_a:],
                charge_a=int(info["charge_a"]),
                charge_b=int(info["charge_b"]),
                direction=np.asarray(info["direction"], dtype=float),
                separations=np.asarray(info["separations"], dtype=float),
                energy=np.asarray(info["dimer_energies"], dtype=float),
                energy_a=float(info["monomer_energy_a"]),
                energy_b=float(info["monomer_energy_b"]),
                transfer=np.asarray(info["transfer"], dtype=float),
                forces=(
                    np.asarray(info["dimer_forces"], dtype=float).reshape(
                        len(info["separations"]), len(numbers), 3
                    )
                    if "dimer_forces" in info
                    else np.zeros(0)
                ),
                monomer_forces=(
                    np.asarray(info["monomer_forces"], dtype=float).reshape(len(numbers), 3)
                    if "monomer_forces" in info
                    else np.zeros(0)
                ),
            )
        )
    return dimers, description


def main(argv: list[str] | None = None) -> int:
    """``python -m lode_rs.datasets.dimer_generator``: generate a set and write it (``--help``)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--n-dimers", type=int, default=720, help="dimers attempted")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="xtb_charged_dimers.xyz.xz")
    args = parser.parse_args(argv)
    settings = Settings(seed=args.seed)
    start = time.perf_counter()
    dimers, failures = generate(args.n_dimers, settings, n_processes=args.processes)
    elapsed = time.perf_counter() - start
    description = metadata(settings, args.n_dimers, failures)
    description["seconds"] = round(elapsed, 1)
    save(Path(args.output), dimers, description)
    print(f"{len(dimers)} of {args.n_dimers} dimers in {elapsed:.0f} s -> {args.output}")
    for failure in failures:
        print("dropped", failure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
