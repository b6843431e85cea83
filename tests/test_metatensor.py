"""metatensor export: the TensorMap equals featomic's, block by block, for the same
hyper-parameters (keys, samples, components, properties identical; values to 1e-7 of each block's
largest value: featomic tabulates its radial integrals with splines of accuracy 1e-8, lode_rs
with 1e-10, and we observe 3e-9; a wrong sign, factor or permutation gives O(1) differences).

LODE: both sides compute the same plain reciprocal sum truncated at ``k_cutoff`` (featomic's
only route, lode_rs's ``k_cutoff=``), so the truncation is identical and only the splines differ.
"""

from __future__ import annotations

import numpy as np
import pytest

import lode_rs

featomic = pytest.importorskip("featomic")
metatensor = pytest.importorskip("metatensor")

from featomic.basis import Gto, TensorProduct  # noqa: E402
from featomic.cutoff import Cutoff, ShiftedCosine  # noqa: E402
from featomic.density import Gaussian, SmearedPowerLaw  # noqa: E402

TOLERANCE = 1e-7
N_MAX, L_MAX, CUTOFF = 4, 3, 3.5


@pytest.fixture(scope="module")
def frames():
    return lode_rs.datasets.random_ionic_gas(
        3, n_atoms=10, box_range=(7.0, 9.0), min_distance=1.8, seed=4
    )


def assert_tensormaps_equal(ours, reference):
    assert ours.keys == reference.keys  # same keys in the same order
    for key, ref in reference.items():
        block = ours.block(key)
        assert block.samples == ref.samples, key
        assert block.components == ref.components, key
        assert block.properties == ref.properties, key
        scale = np.abs(ref.values).max()
        assert np.abs(block.values - ref.values).max() <= TOLERANCE * scale, key


def soap_hypers(radial_only=False):
    radial = Gto(max_radial=N_MAX - 1, radius=CUTOFF)
    return dict(
        cutoff=Cutoff(radius=CUTOFF, smoothing=ShiftedCosine(width=0.5)),
        density=Gaussian(width=0.4),
        basis={"radial": radial}
        if radial_only
        else TensorProduct(max_angular=L_MAX, radial=radial),
    )


def soap():
    return lode_rs.SoapExpansion(cutoff=CUTOFF, smearing=0.4, n_max=N_MAX, l_max=L_MAX)


def test_soap_spherical_expansion_equals_featomic(frames):
    reference = featomic.SphericalExpansion(**soap_hypers()).compute(frames)
    ours = soap().compute(frames).to_tensormap()
    assert ours.keys.names == ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]
    assert_tensormaps_equal(ours, reference)
    # featomic's sparse samples: some centres have no neighbour of some type here
    dense = soap().compute(frames).to_tensormap(keep_zero_rows=True)
    assert sum(len(b.samples) for b in dense) > sum(len(b.samples) for b in ours)


def test_soap_power_spectrum_equals_featomic(frames):
    reference = featomic.SoapPowerSpectrum(**soap_hypers()).compute(frames)
    ours = lode_rs.PowerSpectrum(soap()).compute(frames).to_tensormap()
    assert ours.keys.names == ["center_type", "neighbor_1_type", "neighbor_2_type"]
    assert_tensormaps_equal(ours, reference)


def test_soap_radial_spectrum_equals_featomic(frames):
    reference = featomic.SoapRadialSpectrum(**soap_hypers(radial_only=True)).compute(frames)
    ours = lode_rs.invariants.radial(soap(), frames).to_tensormap()
    assert_tensormaps_equal(ours, reference)


@pytest.mark.parametrize("exponent", [1, 3])
def test_lode_spherical_expansion_equals_featomic(frames, exponent):
    k_cutoff = 2.0
    reference = featomic.LodeSphericalExpansion(
        density=SmearedPowerLaw(smearing=1.0, exponent=exponent),
        basis=TensorProduct(max_angular=L_MAX, radial=Gto(max_radial=N_MAX - 1, radius=CUTOFF)),
        k_cutoff=k_cutoff,
    ).compute(frames)
    lode = lode_rs.LodeExpansion(
        cutoff=CUTOFF, smearing=1.0, n_max=N_MAX, l_max=L_MAX, exponent=exponent, k_cutoff=k_cutoff
    )
    assert_tensormaps_equal(lode.compute(frames).to_tensormap(), reference)


def test_power_spectrum_export_keeps_dot_products(frames):
    """The unfolding and signs only re-arrange columns: per-sample dot products of the export
    equal those of lode_rs's folded features (an independent check of the weights)."""
    x = lode_rs.PowerSpectrum(soap()).compute(frames)
    tensor = x.to_tensormap(keep_zero_rows=True)
    gram = x.values @ x.values.T
    gram[x.center_species[:, None] != x.center_species[None, :]] = 0  # blocks per centre type
    rebuilt = np.zeros_like(gram)
    order = np.lexsort((x.centers, x.structure))
    position = {(int(x.structure[i]), int(x.centers[i])): i for i in order}
    for block in tensor:
        rows = [position[(int(s), int(a))] for s, a in block.samples.values]
        rebuilt[np.ix_(rows, rows)] += block.values @ block.values.T
    assert np.allclose(rebuilt, gram, rtol=1e-12, atol=1e-12 * np.abs(gram).max())


def test_mixed_and_generic_features_export(frames):
    lode = lode_rs.LodeExpansion(cutoff=CUTOFF, smearing=1.0, n_max=2, l_max=2)
    mixed = lode_rs.PowerSpectrum(soap(), lode).compute(frames)
    assert not mixed.folded
    tensor = mixed.to_tensormap(keep_zero_rows=True)
    # every (neighbor_1, neighbor_2) pair, N_MAX x 2 radial pairs for each l <= 2
    assert len(tensor) == 2 * 4
    assert all(b.values.shape[1] == 3 * N_MAX * 2 for b in tensor)
    assert sum(b.values.size for b in tensor) == mixed.values.size
    joined = lode_rs.models.concatenate([mixed, lode_rs.invariants.radial(lode, frames)])
    generic = joined.to_tensormap()
    assert generic.keys.names == ["center_type"]
    assert sum(len(b.samples) for b in generic) == joined.values.shape[0]
    assert generic.block(0).properties.names == ["block", "feature"]


def test_charge_channel_is_neighbor_type_zero(frames):
    lode = lode_rs.LodeExpansion(cutoff=CUTOFF, smearing=1.0, n_max=2, l_max=1, charges=True)
    tensor = lode.compute(frames).to_tensormap()
    assert set(tensor.keys.column("neighbor_type").tolist()) == {0}


class _WithGradients:
    """An Expansion carrying position gradients in the shape api.md gives them (``.gradient``:
    ``values (n_pairs, 3, *row shape)``, ``samples (row, structure, atom)``), random numbers:
    checks where each gradient entry lands in the TensorMap (the values come from soapgrad)."""

    def __init__(self, expansion, seed=0):
        self.__dict__.update(expansion.__dict__)
        self.n_max, self.l_max = expansion.n_max, expansion.l_max
        rng = np.random.default_rng(seed)
        rows = np.repeat(np.arange(len(expansion.values)), 2)
        centers = expansion.centers
        atoms = np.stack([centers, (centers + 1) % 10], axis=1).reshape(-1)  # 2 distinct atoms
        self._samples = np.stack([rows, expansion.structure[rows], atoms], axis=1)
        self._values = rng.normal(size=(rows.size, 3, *expansion.values.shape[1:]))

    def gradient(self, name):
        from types import SimpleNamespace

        assert name == "positions"
        return SimpleNamespace(values=self._values, samples=self._samples)


def test_gradient_hook_places_every_entry(frames):
    e = soap().compute(frames[:1])
    fake = _WithGradients(e)
    from lode_rs.interop.metatensor import expansion_to_tensormap

    tensor = expansion_to_tensormap(fake, ["positions"])
    for key, block in tensor.items():
        g = block.gradient("positions")
        assert g.samples.names == ["sample", "system", "atom"]
        assert [c.names for c in g.components] == [["xyz"], ["o3_mu"]]
        l, a = key["o3_lambda"], e.species.index(key["neighbor_type"])
        for i, (sample, system, atom) in enumerate(g.samples.values):
            structure, center = block.samples.values[sample]
            row = np.nonzero((e.structure == structure) & (e.centers == center))[0][0]
            match = np.nonzero((fake._samples[:, 0] == row) & (fake._samples[:, 2] == atom))[0][0]
            expected = fake._values[match][:, a, :, l * l : (l + 1) ** 2].transpose(0, 2, 1)
            assert system == structure
            assert np.array_equal(g.values[i], expected)


def test_gradient_hook_strain_layout(frames):
    """Strain gradients in api.md's shape (``(n_rows, 3, 3, *row shape)``, no samples) become
    blocks with samples ``(sample,)`` and components ``xyz_1, xyz_2``, then the block's own."""
    from types import SimpleNamespace

    from lode_rs.interop.metatensor import features_to_tensormap

    x = lode_rs.invariants.radial(soap(), frames[:1])
    values = np.random.default_rng(1).normal(size=(len(x.values), 3, 3, x.values.shape[1]))

    class WithStrain:
        def __init__(self):
            self.__dict__.update(x.__dict__)

        def gradient(self, name):
            assert name == "strain"
            return SimpleNamespace(values=values)

    tensor = features_to_tensormap(WithStrain(), ["strain"], keep_zero_rows=True)
    for key, block in tensor.items():
        g = block.gradient("strain")
        assert g.samples.names == ["sample"] and len(g.samples) == len(block.samples)
        assert [c.names for c in g.components] == [["xyz_1"], ["xyz_2"]]
        columns = np.nonzero(x.labels[:, 0] == key["neighbor_type"])[0]
        rows = [
            np.nonzero((x.structure == s) & (x.centers == a))[0][0] for s, a in block.samples.values
        ]
        assert np.array_equal(g.values, values[rows][..., columns])


def test_position_gradient_blocks_equal_featomic(frames):
    """Gradient blocks from the computed Jacobians: every non-zero featomic gradient entry is
    ours, and equal to 5e-6 of the block's largest gradient (featomic differentiates its value
    splines, accurate to 1e-8, so its derivatives carry ~1e-6; we observe 7e-7). lode_rs also
    lists atoms whose gradient in a block is exactly zero (e.g. of another neighbour type),
    which featomic leaves out; those are checked to be zero."""
    pytest.importorskip("featomic")
    two = frames[:2]
    reference = featomic.SphericalExpansion(**soap_hypers()).compute(two, gradients=["positions"])
    result = soap().compute(two, gradients=["positions"])
    ours = result.to_tensormap(gradients=["positions"])
    for key, ref_block in reference.items():
        block = ours.block(key)

        def entries(b):
            g = b.gradient("positions")
            return {
                (tuple(b.samples.values[s[0]]), int(s[2])): g.values[i]
                for i, s in enumerate(g.samples.values)
            }

        ref, mine = entries(ref_block), entries(block)
        scale = np.abs(ref_block.gradient("positions").values).max()
        for where, value in ref.items():
            assert where in mine, (key, where)
            assert np.abs(mine[where] - value).max() <= 5e-6 * scale, (key, where)
        assert all(not np.any(v) for w, v in mine.items() if w not in ref), key
