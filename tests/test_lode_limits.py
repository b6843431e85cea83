"""LODE resource limits (issue 14, items 4 and 6): the pair routes hold their pair buffers to
``max_memory``; table builds are counted, bounded and cached (failures too)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lode_rs


def gas(n: int, box: float, seed: int = 0) -> lode_rs.System:
    rng = np.random.default_rng(seed)
    return lode_rs.System(
        positions=rng.uniform(0, box, (n, 3)), numbers=np.full(n, 11), cell=np.eye(3) * box,
        pbc=True,
    )


class TestPairMemory:
    """200 atoms in a 15 Å cube, p = 0, σ = 3 Å: about 1 840 pairs per centre within the
    19.5 Å reach, 0.21 MB of pair buffers per thread beside 0.47 MB of coefficients."""

    frame = gas(200, 15.0)
    kw = dict(cutoff=3.0, n_max=4, l_max=3, species=[11], exponent=0, smearing=3.0)

    def test_budget_counts_the_pair_buffers_of_every_thread(self):
        budget = 7e5
        calc = lode_rs.LodeExpansion(**self.kw, max_memory=budget)
        assert calc.routes(self.frame)[0]["route"] == "pairs"
        with pytest.raises(lode_rs.InvalidParameterError) as error:
            calc.compute(self.frame, n_threads=2)
        message = str(error.value)
        match = re.search(r"([\d.]+) MB of coefficients.*2 threads × ([\d.e+]+) pairs per centre",
                          message)
        assert match, message
        assert "max_memory" in message and "fewer threads" in message
        # the estimate is the gas's mean: ρ 4π/3 reach³ (reach 19.5 Å)
        assert 1500 < float(match.group(2)) < 2200, message
        assert float(match.group(1)) * 1e6 < budget  # the coefficients alone fit
        # one thread's buffers fit: the same budget passes, with the unbounded values
        bounded = calc.compute(self.frame, n_threads=1).values
        reference = lode_rs.LodeExpansion(**self.kw).compute(self.frame).values
        np.testing.assert_array_equal(bounded, reference)

    @pytest.mark.parametrize("method", ["ewald", "mesh"])
    def test_split_routes_check_their_short_range(self, method):
        kw = dict(self.kw, exponent=1, smearing=1.0, method=method)
        # the pair loop's budget: the k-space part fits, the pairs of 64 threads do not
        calc = lode_rs.LodeExpansion(**kw, max_memory=2e7)
        with pytest.raises(lode_rs.InvalidParameterError, match=f"the {method} route.*64 threads"):
            calc.compute(self.frame, n_threads=64)
        np.testing.assert_array_equal(
            calc.compute(self.frame, n_threads=2).values,
            lode_rs.LodeExpansion(**kw).compute(self.frame, n_threads=2).values,
        )

    def test_finite_route_counts_its_pairs(self):
        rng = np.random.default_rng(1)
        molecule = lode_rs.System(positions=rng.uniform(0, 30, (400, 3)), numbers=np.full(400, 11))
        kw = dict(self.kw, exponent=1, smearing=1.0)
        with pytest.raises(lode_rs.InvalidParameterError,
                           match="real-space route.*399 pairs per centre|real-space route.*3.990e2"):
            lode_rs.LodeExpansion(**kw, max_memory=5e5).compute(molecule, n_threads=8)
