"""LODE resource limits (issue 14, items 4 and 6): the pair routes hold their pair buffers to
``max_memory``; table builds are counted in the route choice, bounded, and not repeated by a
failing request."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lode_rs
from lode_rs._lode_rs import testing


def gas(n: int, box: float, seed: int = 0) -> lode_rs.System:
    rng = np.random.default_rng(seed)
    return lode_rs.System(
        positions=rng.uniform(0, box, (n, 3)), numbers=np.full(n, 11), cell=np.eye(3) * box,
        pbc=True,
    )


class TestPairMemory:
    """200 atoms in a 15 Å cube, p = 0, σ = 3 Å: about 1 840 pairs per centre within the
    19.5 Å reach, 0.41 MB of pair buffers per thread (budgeted at twice the mean) beside
    0.47 MB of coefficients."""

    frame = gas(200, 15.0)
    kw = dict(cutoff=3.0, n_max=4, l_max=3, species=[11], exponent=0, smearing=3.0)

    def test_budget_counts_the_pair_buffers_of_every_thread(self):
        budget = 1e6
        calc = lode_rs.LodeExpansion(**self.kw, max_memory=budget)
        assert calc.routes(self.frame)[0]["route"] == "pairs"
        with pytest.raises(lode_rs.InvalidParameterError) as error:
            calc.compute(self.frame, n_threads=2)
        message = str(error.value)
        match = re.search(
            r"([\d.]+) MB of coefficients.*2 threads × ([\d.e+]+) pairs per centre", message
        )
        assert match, message
        assert "max_memory" in message and "fewer threads" in message
        # the estimate is the gas's mean: ρ 4π/3 reach³ (reach 19.5 Å)
        assert 1500 < float(match.group(2)) < 2200, message
        assert float(match.group(1)) * 1e6 < budget  # the coefficients alone fit
        # one thread's buffers fit: the same budget passes, with the unbounded values
        bounded = calc.compute(self.frame, n_threads=1).values
        reference = lode_rs.LodeExpansion(**self.kw).compute(self.frame).values
        np.testing.assert_array_equal(bounded, reference)

    def test_ewald_checks_its_short_range(self):
        kw = dict(self.kw, exponent=1, smearing=1.0, method="ewald")
        # the k-space part fits in 2 MB, the pair buffers of 64 threads (350 pairs per centre
        # within 11 Å, budgeted twice) do not; 2 threads pass
        calc = lode_rs.LodeExpansion(**kw, max_memory=2e6)
        with pytest.raises(lode_rs.InvalidParameterError, match="the ewald route.*64 threads"):
            calc.compute(self.frame, n_threads=64)
        np.testing.assert_array_equal(
            calc.compute(self.frame, n_threads=2).values,
            lode_rs.LodeExpansion(**kw).compute(self.frame, n_threads=2).values,
        )

    def test_finite_route_counts_its_pairs(self):
        rng = np.random.default_rng(1)
        molecule = lode_rs.System(positions=rng.uniform(0, 30, (400, 3)), numbers=np.full(400, 11))
        kw = dict(self.kw, exponent=1, smearing=1.0)
        with pytest.raises(
            lode_rs.InvalidParameterError, match=r"real-space route.*3\.990e2 pairs per centre"
        ):
            lode_rs.LodeExpansion(**kw, max_memory=5e5).compute(molecule, n_threads=8)


class TestTables:
    """The first call in a sparse box builds a bounded table (issue 14, item 6): the planner
    charges each Ewald width the cost of its short-range table (amortised when cheap, in full
    when large), and a failing request does not build its tables again."""

    kw = dict(cutoff=3.0, smearing=1.0, n_max=4, l_max=3, species=[11])

    def test_sparse_box_plans_a_bounded_table(self):
        # one atom in a 1 000 Å box: the width of least run cost is η = 64σ, whose table took
        # 3.9 s; with its cost counted (and the k-space work per k-vector, which one atom
        # does not amortise) the planner stops at a narrower split
        frame = lode_rs.System(positions=[[1.0, 2.0, 3.0]], numbers=[11], cell=np.eye(3) * 1000,
                               pbc=True)
        calc = lode_rs.LodeExpansion(**self.kw)
        before = testing.lode_table_builds()
        plan = calc.routes(frame)[0]
        assert plan["route"] == "ewald" and plan["eta"] < 64.0, plan
        # planning built the chosen width's table (its lattice-tail check), nothing else
        assert testing.lode_table_builds() == before + 1
        values = calc.compute(frame).values
        assert testing.lode_table_builds() == before + 1
        # the values: those of a tighter request (another width, its own tables)
        tight = lode_rs.LodeExpansion(**self.kw, accuracy=1e-7)
        np.testing.assert_allclose(values, tight.compute(frame).values, rtol=0, atol=1.1e-6)

    def test_tight_accuracy_in_a_sparse_box(self):
        # 47 atoms in a 500 Å box at 1e-10 (33 s before, η = 64σ): a narrower width
        rng = np.random.default_rng(0)
        frame = lode_rs.System(positions=rng.uniform(0, 500, (47, 3)), numbers=np.full(47, 11),
                               cell=np.eye(3) * 500, pbc=True)
        plan = lode_rs.LodeExpansion(**self.kw, accuracy=1e-10).routes(frame)[0]
        assert plan["route"] == "ewald" and plan["eta"] < 64.0, plan

    def test_failed_request_builds_once(self):
        # a mesh request over its memory budget fails after its table is built; asking again
        # fails the same way without building again (it repeated a 33 s build on every call)
        frame = gas(24, 12.0)
        calc = lode_rs.LodeExpansion(**self.kw, method="mesh", max_memory=1e5)
        before = testing.lode_table_builds()
        with pytest.raises(lode_rs.InvalidParameterError, match="max_memory") as first:
            calc.compute(frame)
        built = testing.lode_table_builds() - before
        assert built >= 1
        for _ in range(3):
            with pytest.raises(lode_rs.InvalidParameterError) as again:
                calc.compute(frame)
            assert str(again.value) == str(first.value)
        assert testing.lode_table_builds() - before == built
