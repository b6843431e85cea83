"""Dask: potentials fitted on energies and forces from normal equations accumulated chunk by
chunk on a LocalCluster of 2 worker processes (force rows from the feature Jacobians, the
noise levels cross-validated from per-fold sums) equal the in-memory Potential.fit to 1e-10."""

from __future__ import annotations

import ase
import ase.io
import numpy as np
import pytest

import lode_rs
from lode_rs import recipe
from lode_rs.models import PolynomialKernel, Ridge, SparseGPR
from lode_rs.models.selection import select_active
from lode_rs.potential_sums import PotentialSums

distributed = pytest.importorskip("dask.distributed")
import lode_rs.distributed as ld  # noqa: E402

SPECIES = [11, 17]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close(timeout=60)  # a loaded machine needs more than the default 5 s


def clusters(n: int, seed: int, pbc: bool = False):
    """Finite Na/Cl clusters of 5-8 ions of random composition (so the per-species baseline is
    determined), with their Coulomb energies and forces."""
    rng = np.random.default_rng(seed)
    frames = []
    while len(frames) < n:
        count = int(rng.integers(5, 9))
        positions = rng.uniform(0.0, 6.0, size=(count, 3))
        d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
        if np.min(d[np.triu_indices(count, 1)]) < 2.0:
            continue
        numbers = rng.choice(SPECIES, size=count)
        atoms = ase.Atoms(numbers=numbers, positions=positions, cell=np.eye(3) * 6.0, pbc=pbc)
        atoms.set_initial_charges(np.where(numbers == 11, 1.0, -1.0))
        frames.append(atoms)
    energies, forces, _ = lode_rs.electrostatic_energy(frames, forces=True)
    for atoms, e, f in zip(frames, energies, forces, strict=True):
        atoms.info["energy"] = float(e)
        atoms.arrays["forces"] = np.asarray(f)
    return frames


def soap():
    return lode_rs.SoapExpansion(cutoff=3.5, smearing=0.4, n_max=3, l_max=2, species=SPECIES)


def lode():
    return lode_rs.LodeExpansion(cutoff=3.0, smearing=1.0, n_max=3, l_max=2, species=SPECIES)


def same_active(pot, frames):
    """The raw features and species of the active set the in-memory fit picks."""
    values = recipe.compute(pot.blocks, frames)
    kernel = pot.basis_.kernel
    index = select_active(
        kernel.distance_space(kernel.prepare(values.values)),
        values.species,
        pot.model["n_sparse"],
        seed=pot.model["seed"],
    )
    return values.values[index], values.species[index]


def assert_same_potential(a, b, frames, tol=1e-10):
    assert a.regularizers_ == pytest.approx(b.regularizers_, rel=1e-12)
    np.testing.assert_allclose(b.offsets_, a.offsets_, rtol=0, atol=tol * np.abs(a.offsets_).max())
    # the weights of these small kernel problems are ill-determined (cancelling O(100)
    # weights; normal equations square the condition number): 1e-8 on θ, 1e-10 on what it
    # predicts (measured: θ 1e-9, energies 3e-11, forces 5e-11 with the CV-chosen noise)
    np.testing.assert_allclose(b.theta_, a.theta_, rtol=0, atol=1e-8 * np.abs(a.theta_).max())
    e0, f0, _ = a.predict(frames, stress=False)
    e1, f1, _ = b.predict(frames, stress=False)
    f0, f1 = np.concatenate(f0), np.concatenate(f1)
    assert np.abs(e1 - e0).max() <= tol * np.abs(e0).max()
    assert np.abs(f1 - f0).max() <= tol * np.abs(f0).max()
    if a.cv_scores_ is not None:
        # the same choice and the same score at the minimum; at the smallest noise levels of
        # the grid the fold systems are near-singular (cond ≳ 1e12) and both sides' scores
        # carry their rounding (measured up to 1 % apart there)
        for kind, scores in a.cv_scores_["scores"].items():
            scores, other = np.array(scores), np.array(b.cv_scores_["scores"][kind])
            best = np.argmin(scores)
            assert np.argmin(other) == best
            assert other[best] == pytest.approx(scores[best], rel=1e-8)
            np.testing.assert_allclose(other, scores, rtol=0.1)


def test_soap_sparse_gpr_energies_and_forces_with_cv(client):
    frames = clusters(24, seed=3)
    make = lambda: lode_rs.Potential(  # noqa: E731
        lode_rs.PowerSpectrum(soap()), SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=40)
    )
    reference = make().fit(frames, energy="energy", forces="forces")
    assert reference.cv_scores_ is not None and set(reference.regularizers_) == {
        "energy",
        "forces",
    }
    active = same_active(reference, frames)
    pot = ld.fit_potential(
        make(), frames, "energy", "forces", client=client, chunk_size=5, active=active
    )
    assert_same_potential(reference, pot, frames)
    # targets given as values in data-set order, read from files by the workers
    energies = np.array([a.info["energy"] for a in frames])
    forces = [a.arrays["forces"] for a in frames]
    by_value = ld.fit_potential(
        make(), frames, energies, forces, client=client, chunk_size=7, active=active
    )
    assert_same_potential(reference, by_value, frames)


def test_lode_blocks_ridge_with_given_and_chosen_regularizers(client, tmp_path):
    # LODE position Jacobians (finite route) inside the force rows
    path = tmp_path / "clusters.xyz"
    ase.io.write(path, clusters(20, seed=4))
    frames = ase.io.read(path, ":")  # the values the workers read (extxyz rounds them)
    blocks = [lode_rs.PowerSpectrum(soap()), lode_rs.potential.RadialSpectrum(lode())]
    make = lambda **kw: lode_rs.Potential(blocks, Ridge(), **kw)  # noqa: E731
    reference = make().fit(frames, energy="energy", forces="forces")
    pot = ld.fit_potential(make(), str(path), "energy", "forces", client=client, chunk_size=6)
    assert_same_potential(reference, pot, frames)
    given = {"energy": 3e-2, "forces": 3e-2}
    reference = make(regularizers=given).fit(frames, energy="energy", forces="forces")
    assert reference.cv_scores_ is None
    pot = ld.fit_potential(make(regularizers=given), frames, "energy", "forces", client=client)
    assert_same_potential(reference, pot, frames)
    # forming the normal equations squares the condition number: with σ_E = 1e-3 eV/atom
    # cond(H) ~ 2e11 and the two solves agree only to ~cond(H)·1e-16·(1e2..1e4)
    given = {"energy": 1e-3, "forces": 3e-2}
    reference = make(regularizers=given).fit(frames, energy="energy", forces="forces")
    pot = ld.fit_potential(make(regularizers=given), frames, "energy", "forces", client=client)
    cond = np.linalg.cond(reference.r_.T @ reference.r_)
    f0 = np.concatenate(reference.predict(frames, stress=False)[1])
    f1 = np.concatenate(pot.predict(frames, stress=False)[1])
    assert cond > 1e10
    assert np.abs(f1 - f0).max() <= 1e-13 * cond * np.abs(f0).max()
    # forces only (no baseline) and energies only
    for kw in ({"energy": None, "forces": "forces"}, {"energy": "energy", "forces": None}):
        reference = make().fit(frames, **kw)
        pot = ld.fit_potential(make(), frames, kw["energy"], kw["forces"], client=client)
        assert_same_potential(reference, pot, frames)


def test_sampled_active_set_and_saved_potential(client, tmp_path):
    frames = clusters(24, seed=5)
    make = lambda: lode_rs.Potential(  # noqa: E731
        lode_rs.PowerSpectrum(soap()), SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=30)
    )
    pot = ld.fit_potential(make(), frames, "energy", "forces", client=client, chunk_size=6)
    forces = np.concatenate([a.arrays["forces"] for a in frames])
    reference = make().fit(frames, energy="energy", forces="forces")
    predicted, f1, _ = pot.predict(frames, stress=False)
    f0 = np.concatenate(reference.predict(frames, stress=False)[1])
    # a different active set than in memory (FPS on a sample of chunks), a fit as good
    error = lode_rs.models.rmse_percent(np.concatenate(f1), forces)
    assert error < 1.5 * lode_rs.models.rmse_percent(f0, forces)
    pot.save(tmp_path / "pot.npz")
    loaded = lode_rs.load_potential(tmp_path / "pot.npz")
    assert np.array_equal(loaded.predict(frames, stress=False)[0], predicted)


def test_sums_add_up_and_bad_input(client):
    frames = clusters(6, seed=6)
    with pytest.raises(lode_rs.InvalidParameterError, match="fix_species"):
        ld.fit_potential(
            lode_rs.Potential(
                lode_rs.PowerSpectrum(lode_rs.SoapExpansion(cutoff=3.0, smearing=0.4, n_max=2,
                                                            l_max=1)),
                Ridge(),
            ),
            frames,
            client=client,
        )
    pot = lode_rs.Potential(lode_rs.PowerSpectrum(soap()), Ridge())
    with pytest.raises(lode_rs.InvalidInputError, match="5 energies for 6"):
        ld.fit_potential(pot, frames, np.zeros(5), client=client)
    with pytest.raises(lode_rs.InvalidParameterError, match="n_sparse"):
        ld.fit_potential(
            lode_rs.Potential(lode_rs.PowerSpectrum(soap()), lode_rs.models.GPR()),
            frames,
            client=client,
        )
    one = PotentialSums((11, 17), 1, 2)
    other = PotentialSums((11,), 1, 2)
    with pytest.raises(lode_rs.InvalidInputError, match="different species"):
        one + other
