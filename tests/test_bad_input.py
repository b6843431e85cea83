"""No silent wrong answers: each bad input gives a clear exception naming the problem."""

from __future__ import annotations

import warnings

import ase
import numpy as np
import pytest

import lode_rs
from lode_rs import _lode_rs
from lode_rs._lode_rs import testing
from lode_rs.models import Ridge
from lode_rs.results import Features

SOAP = dict(cutoff=3.0, smearing=0.5, n_max=3, l_max=2)
LODE = dict(cutoff=3.0, smearing=1.0, n_max=3, l_max=2)


def _nacl(charges: bool) -> ase.Atoms:
    atoms = ase.Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]], cell=5.6 * np.eye(3), pbc=True)
    if charges:
        atoms.set_initial_charges([1.0, -1.0])
    return atoms


class TestCharges:
    def test_atoms_without_initial_charges(self):
        lode = lode_rs.LodeExpansion(**LODE, charges=True)
        with pytest.raises(lode_rs.InvalidInputError, match="no initial charges"):
            lode.compute(_nacl(charges=False))
        assert np.abs(lode.compute(_nacl(charges=True)).values).max() > 1e-3

    def test_explicit_zero_charges_are_allowed(self):
        atoms = _nacl(charges=False)
        atoms.set_initial_charges([0.0, 0.0])
        values = lode_rs.LodeExpansion(**LODE, charges=True).compute(atoms).values
        assert np.all(values == 0)

    def test_system_without_charges(self):
        system = lode_rs.System(positions=[[0, 0, 0], [1.5, 0, 0]], numbers=[1, 1])
        with pytest.raises(lode_rs.InvalidInputError, match="charges"):
            lode_rs.LodeExpansion(**LODE, charges=True).compute(system)


class TestSpeciesLabels:
    @pytest.mark.parametrize("z", [2**32 + 1, 2**31, -(2**31) - 1, 2**40])
    def test_out_of_int32_range(self, z):
        system = lode_rs.System(positions=[[0, 0, 0], [1.5, 0, 0]], numbers=[1, z])
        with pytest.raises(lode_rs.InvalidInputError, match="out of range"):
            lode_rs.SoapExpansion(**SOAP).compute(system)

    def test_int32_extremes_are_labels(self):
        """Any int32 is a label (species are names, not physics): the two extremes are two
        distinct channels, not aliases."""
        z = [int(np.iinfo(np.int32).min), int(np.iinfo(np.int32).max)]
        system = lode_rs.System(positions=[[0, 0, 0], [1.5, 0, 0]], numbers=z)
        soap = lode_rs.SoapExpansion(**SOAP)
        assert soap.compute(system).values.shape[1] == 2
        assert soap.species == sorted(z)


class TestPeriodicity:
    positions = [[0, 0, 0], [1.5, 0, 0]]

    @pytest.mark.parametrize("pbc", ["no", "yes", "", [True, False], [1, 0, 2], [[True] * 3], None])
    def test_bad_pbc(self, pbc):
        system = lode_rs.System(
            positions=self.positions, numbers=[1, 1], cell=5 * np.eye(3), pbc=pbc
        )
        with pytest.raises(lode_rs.InvalidInputError, match="pbc"):
            lode_rs.SoapExpansion(**SOAP).compute(system)

    @pytest.mark.parametrize("pbc", [True, False, [True, True, False], (1, 1, 1), np.bool_(True)])
    def test_good_pbc(self, pbc):
        system = lode_rs.System(
            positions=self.positions, numbers=[1, 1], cell=5 * np.eye(3), pbc=pbc
        )
        lode_rs.SoapExpansion(**SOAP).compute(system)


class TestCells:
    @pytest.mark.parametrize("a", [1e-90, 1e-5, 1e-3])
    def test_tiny_periodic_cells(self, a):
        atoms = ase.Atoms("H", positions=[[0, 0, 0]], cell=a * np.eye(3), pbc=True)
        for calculator in (lode_rs.SoapExpansion(**SOAP), lode_rs.LodeExpansion(**LODE)):
            with pytest.raises(lode_rs.InvalidInputError, match="cell is too small"):
                calculator.compute(atoms)

    @pytest.mark.parametrize("a", [1e7, 1e200])
    def test_huge_periodic_cells(self, a):
        atoms = ase.Atoms("H", positions=[[0, 0, 0]], cell=a * np.eye(3), pbc=True)
        with pytest.raises(lode_rs.InvalidInputError, match="lattice vector"):
            lode_rs.SoapExpansion(**SOAP).compute(atoms)


class TestHypers:
    @pytest.mark.parametrize("w", [1e308, -1e308, 1e7])
    def test_center_weight_bounded(self, w):
        with pytest.raises(lode_rs.InvalidParameterError, match="center_weight"):
            lode_rs.SoapExpansion(**SOAP, center_weight=w)

    @pytest.mark.parametrize("w", [1e308, -1e7])
    def test_lode_center_weight_bounded(self, w):
        with pytest.raises(lode_rs.InvalidParameterError, match="center_weight"):
            lode_rs.LodeExpansion(**LODE, center_weight=w)

    @pytest.mark.parametrize("name", ["n_max", "l_max"])
    def test_integers_beyond_64_bits(self, name):
        for kind, base in ((lode_rs.SoapExpansion, SOAP), (lode_rs.LodeExpansion, LODE)):
            with pytest.raises(lode_rs.InvalidParameterError, match=f"{name}=.*out of range"):
                kind(**{**base, name: 2**70})

    def test_large_allowed_center_weight_is_finite(self):
        atoms = _nacl(charges=False)
        soap = lode_rs.SoapExpansion(**SOAP, center_weight=1e6)
        assert np.all(np.isfinite(lode_rs.PowerSpectrum(soap).compute(atoms).values))

    def test_default_cutoff_width_is_named(self):
        with pytest.raises(lode_rs.InvalidParameterError, match=r"\(the default\).*at most 0.3"):
            lode_rs.SoapExpansion(cutoff=0.3, smearing=0.1, n_max=2, l_max=1)
        lode_rs.SoapExpansion(cutoff=0.3, smearing=0.1, n_max=2, l_max=1, cutoff_width=0.3)

    def test_soap_max_memory(self):
        atoms = _nacl(charges=False).repeat(3)
        with pytest.raises(lode_rs.InvalidParameterError, match="max_memory"):
            lode_rs.SoapExpansion(**SOAP, max_memory=1000).compute(atoms)
        soap = lode_rs.SoapExpansion(**SOAP)
        assert soap.hypers["max_memory"] == 4 * 2**30
        bounded = lode_rs.SoapExpansion(**SOAP, max_memory=2**20).compute(atoms).values
        np.testing.assert_array_equal(bounded, soap.compute(atoms).values)


def test_empty_structure_is_named():
    with pytest.raises(lode_rs.InvalidInputError, match="empty structure"):
        lode_rs.SoapExpansion(**SOAP).compute(ase.Atoms())
    with pytest.raises(lode_rs.InvalidInputError, match="structure 1: empty"):
        lode_rs.SoapExpansion(**SOAP).compute([_nacl(False), ase.Atoms()])


@pytest.mark.parametrize(
    "shape", [(3, 0, 2, 4), (3, 1, 0, 4), (3, 1, 2, 0), (3, 1, 2, 5), (3, 2, 2, 4)]
)
def test_private_invariants_validate_shapes(shape):
    c = np.zeros(shape)
    with pytest.raises(lode_rs.InvalidInputError):
        _lode_rs.power_spectrum(c, [1])
    with pytest.raises(lode_rs.InvalidInputError):
        _lode_rs.power_spectrum(np.zeros((3, 1, 2, 4)), [1], c, [1])


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda x: testing.soap_radial_integral(2, 1, 3.0, 0.3, x), "distances"),
        (lambda x: testing.kspace_radial_integral(2, 1, 3.0, x), "k"),
        (lambda x: testing.power_law_potential(1, 1.0, x), "r"),
        (lambda x: testing.power_law_fourier(1, 1.0, x), "k"),
    ],
)
@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_private_array_arguments_are_validated(call, name, bad):
    with pytest.raises(lode_rs.InvalidInputError, match=f"^{name} must be finite and >= 0"):
        call(np.array([1.0, bad]))


class TestRidgeRankDeficient:
    @staticmethod
    def _features(values: np.ndarray, species: np.ndarray, structure: np.ndarray) -> Features:
        return Features(
            values=values,
            structure=structure,
            centers=np.zeros(len(values), dtype=int),
            center_species=species,
            labels=np.arange(values.shape[1])[:, None],
            label_names=("feature",),
            n_structures=int(structure.max()) + 1,
        )

    def test_duplicated_columns_give_the_pseudo_inverse_solution(self):
        rng = np.random.default_rng(0)
        base = rng.normal(size=(30, 3))
        x = np.column_stack([base, base[:, 0], 2 * base[:, 1] - base[:, 2]])  # rank 3 of 5
        y = rng.normal(size=30)
        features = self._features(x, np.ones(30, dtype=int), np.arange(30))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Ridge(regularizer=0.0, baseline=None).fit(features, y)
        expected = np.linalg.pinv(x) @ y
        np.testing.assert_allclose(model.weights_, expected, rtol=1e-9, atol=1e-12)

    def test_features_inside_the_baseline_span_get_no_weight(self):
        """A large feature equal to the species count lies in the species baseline's span: its
        projection is rounding noise, which the old cutoff (relative to the projected matrix)
        kept, giving |w| ~ 1e16. The minimum-norm answer puts no weight on it."""
        rng = np.random.default_rng(1)
        counts = rng.integers(1, 6, 25)
        structure = np.repeat(np.arange(25), counts)
        species = np.where(rng.uniform(size=structure.size) < 0.5, 1, 8)
        small = 1e-3 * rng.normal(size=structure.size)
        x = np.column_stack([1e4 * (species == 1), small])
        true_w, offsets = np.array([0.0, 2.5]), {1: -1.0, 8: 3.0}
        atomic = x @ true_w + np.vectorize(offsets.get)(species)
        y = np.bincount(structure, weights=atomic)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Ridge(regularizer=0.0).fit(self._features(x, species, structure), y)
        # the projected problem: pinv of the baseline-projected summed features, where the
        # projection of the first column is exactly zero
        assert abs(model.weights_[0]) < 1e-6
        np.testing.assert_allclose(model.weights_[1], 2.5, rtol=1e-6)
        np.testing.assert_allclose(
            model.predict(self._features(x, species, structure)), y, atol=1e-6
        )
