"""Ctrl-C stops long computations; ``n_threads`` is validated; pools are reused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import lode_rs
from lode_rs._lode_rs import testing

# A SOAP computation on a 40 000-atom gas: tens of seconds uninterrupted on two cores, so a
# SIGINT one second in must be what ends it. After the interruption, a small computation must
# give exactly the result of a fresh process (the cancellation request is cleared).
CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import lode_rs

    rng = np.random.default_rng(0)
    n = 40_000
    box = (n / 0.1) ** (1 / 3)
    gas = lode_rs.System(
        positions=rng.uniform(0, box, (n, 3)), numbers=np.full(n, 11), cell=np.eye(3) * box,
        pbc=True,
    )
    small = lode_rs.System(positions=rng.uniform(0, 6, (8, 3)), numbers=np.full(8, 11),
                           cell=np.eye(3) * 6, pbc=True)
    soap = lode_rs.SoapExpansion(cutoff=7.0, smearing=0.3, n_max=8, l_max=6, species=[11])
    print("ready", flush=True)
    try:
        # repeated, so the signal lands inside a Rust call however fast the machine is
        # (one call takes ~1 s on 2 idle cores); bounded so a broken interrupt cannot hang
        for _ in range(300):
            soap.compute(gas)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    np.save(sys.argv[1], soap.compute(small).values)
    """
)


def test_sigint_stops_soap_within_two_seconds(tmp_path):
    after = tmp_path / "after.npy"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(after)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert child.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    sent = time.perf_counter()
    line = child.stdout.readline().strip()
    stopped = time.perf_counter() - sent
    child.wait(timeout=60)
    assert line == "interrupted"
    assert stopped < 2.0, f"stopped {stopped:.2f} s after SIGINT"
    assert child.returncode == 0
    # the computation after the interruption is exact
    rng = np.random.default_rng(0)
    rng.uniform(0, 1, (40_000, 3))
    small = lode_rs.System(
        positions=rng.uniform(0, 6, (8, 3)), numbers=np.full(8, 11), cell=np.eye(3) * 6, pbc=True
    )
    soap = lode_rs.SoapExpansion(cutoff=7.0, smearing=0.3, n_max=8, l_max=6, species=[11])
    assert np.array_equal(np.load(after), soap.compute(small).values)


# LODE on each route family: a long call (many seconds uninterrupted on two cores), repeated so
# the signal lands inside Rust however fast the machine is; the small call after it must equal
# a fresh process's result. Routes: the reciprocal sum by shells (cubic cell) and dense
# (triclinic), the Ewald split (streamed pairs + dense k-space), the p = 0 pair route, the
# mesh, and the finite (all pairs) route.
LODE_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import lode_rs

    route = sys.argv[2]
    rng = np.random.default_rng(1)
    kw = dict(cutoff=3.0, smearing=1.0, n_max=6, l_max=4, species=[11])
    if route == "real-space":
        n, box, pbc = 6000, 60.0, False
    elif route in ("reciprocal-shells", "reciprocal-dense"):
        n, box, pbc = 2000, 40.0, True
        kw.update(method="reciprocal", smearing=0.5)
    elif route == "pairs":
        n, box, pbc = 20000, 60.0, True
        kw.update(exponent=0, smearing=2.0)
    else:
        n, box, pbc = 20000, 60.0, True
        kw.update(method=route)
    cell = np.eye(3) * box
    if route == "reciprocal-dense":
        cell = cell + np.array([[0, 0, 0], [3.1, 0, 0], [1.7, 2.3, 0]])
    frame = lode_rs.System(positions=rng.uniform(0, box, (n, 3)), numbers=np.full(n, 11),
                           cell=cell, pbc=pbc)
    small = lode_rs.System(positions=rng.uniform(0, 10, (8, 3)), numbers=np.full(8, 11),
                           cell=np.eye(3) * 10, pbc=True)
    calc = lode_rs.LodeExpansion(**kw)
    assert calc.routes(frame)[0]["route"] == route.removesuffix("-shells").removesuffix("-dense")
    calc.routes(small)
    print("ready", flush=True)
    try:
        for _ in range(300):
            calc.compute(frame)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    np.save(sys.argv[1], calc.compute(small).values)
    """
)


@pytest.mark.parametrize(
    "route",
    ["reciprocal-shells", "reciprocal-dense", "ewald", "mesh", "pairs", "real-space"],
)
def test_sigint_stops_lode_within_two_seconds(tmp_path, route):
    after = tmp_path / "after.npy"
    child = subprocess.Popen(
        [sys.executable, "-c", LODE_CHILD, str(after), route],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert child.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    sent = time.perf_counter()
    line = child.stdout.readline().strip()
    stopped = time.perf_counter() - sent
    child.wait(timeout=60)
    assert line == "interrupted", line
    assert stopped < 2.0, f"{route}: stopped {stopped:.2f} s after SIGINT"
    assert child.returncode == 0
    kw = dict(cutoff=3.0, smearing=1.0, n_max=6, l_max=4, species=[11])
    if route.startswith("reciprocal"):
        kw.update(method="reciprocal", smearing=0.5)
    elif route == "pairs":
        kw.update(exponent=0, smearing=2.0)
    elif route != "real-space":
        kw.update(method=route)
    rng = np.random.default_rng(1)
    n = {"real-space": 6000, "reciprocal-shells": 2000, "reciprocal-dense": 2000}.get(route, 20000)
    rng.uniform(0, 1, (n, 3))
    small = lode_rs.System(
        positions=rng.uniform(0, 10, (8, 3)), numbers=np.full(8, 11), cell=np.eye(3) * 10, pbc=True
    )
    assert np.array_equal(np.load(after), lode_rs.LodeExpansion(**kw).compute(small).values)

# Gradients: a long Jacobian (dense LODE rows, sparse SOAP rows) or a long backward pass,
# repeated as above; after the interruption, the small structure's Jacobian and backward pass
# must equal a fresh process's bitwise.
GRADIENT_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import lode_rs

    mode, route = sys.argv[2], sys.argv[3]
    rng = np.random.default_rng(2)
    if route == "soap":
        calc = lode_rs.SoapExpansion(cutoff=4.0, smearing=0.3, n_max=4, l_max=3, species=[11])
        n, box = (3000, 32.0) if mode == "jacobian" else (40000, 74.0)
    else:
        kw = dict(cutoff=3.0, smearing=1.0, species=[11], method=route)
        if mode == "jacobian":
            calc = lode_rs.LodeExpansion(n_max=2, l_max=1, **kw)
            n, box = 400, 16.0
        else:
            calc = lode_rs.LodeExpansion(n_max=6, l_max=4, **kw)
            n, box = 8000, 43.0
    frame = lode_rs.System(positions=rng.uniform(0, box, (n, 3)), numbers=np.full(n, 11),
                           cell=np.eye(3) * box, pbc=True)
    small = lode_rs.System(positions=rng.uniform(0, 10, (8, 3)), numbers=np.full(8, 11),
                           cell=np.eye(3) * 10, pbc=True)
    v = np.ones(calc.compute(frame).values.shape) if mode == "backward" else None
    calc.compute(small)
    print("ready", flush=True)
    try:
        for _ in range(300):
            if mode == "jacobian":
                calc.compute(frame, gradients=["positions", "strain"])
            else:
                calc.backward(frame, v)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    result = calc.compute(small, gradients=["positions", "strain"])
    out = calc.backward(small, np.ones(result.values.shape))
    np.savez(sys.argv[1], jacobian=result.gradient("positions").values,
             strain=result.gradient("strain").values, forces=out.positions[0],
             virial=out.strain[0])
    """
)


@pytest.mark.parametrize(
    ("mode", "route"),
    [
        ("jacobian", "soap"),
        ("backward", "soap"),
        ("jacobian", "ewald"),
        ("jacobian", "reciprocal"),
        ("backward", "ewald"),
        ("backward", "mesh"),
        ("backward", "reciprocal"),
    ],
)
def test_sigint_stops_gradients_within_two_seconds(tmp_path, mode, route):
    after = tmp_path / "after.npz"
    fresh = tmp_path / "fresh.npz"
    child = subprocess.Popen(
        [sys.executable, "-c", GRADIENT_CHILD, str(after), mode, route],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert child.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    sent = time.perf_counter()
    line = child.stdout.readline().strip()
    stopped = time.perf_counter() - sent
    child.wait(timeout=120)
    assert line == "interrupted", line
    assert stopped < 2.0, f"{mode} {route}: stopped {stopped:.2f} s after SIGINT"
    assert child.returncode == 0
    # a fresh process that never runs the long call: the same small results, bitwise
    script = GRADIENT_CHILD.replace("range(300)", "range(0)").replace(
        'if mode == "backward" else None', "if False else None"
    )
    subprocess.run([sys.executable, "-c", script, str(fresh), mode, route], check=True,
                   stdout=subprocess.DEVNULL, cwd=tmp_path, timeout=300)
    with np.load(after) as a, np.load(fresh) as b:
        for key in ("jacobian", "strain", "forces", "virial"):
            assert np.array_equal(a[key], b[key]), key


def _gas(seed: int) -> lode_rs.System:
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3), axis=-1).reshape(-1, 3)[:10]
    positions = 1.8 * grid + rng.uniform(-0.3, 0.3, (10, 3))
    cell = 5.4 * np.eye(3) + rng.uniform(-0.5, 0.5, (3, 3))
    return lode_rs.System(positions=positions, numbers=[1, 8] * 5, cell=cell, pbc=True)


class TestThreads:
    frames = [_gas(s) for s in range(3)]

    @pytest.mark.parametrize("n", [-1, -(2**40), 2**40, 10**6])
    def test_bad_n_threads(self, n):
        soap = lode_rs.SoapExpansion(cutoff=3.0, smearing=0.3, n_max=2, l_max=1)
        with pytest.raises(lode_rs.InvalidParameterError, match="n_threads"):
            soap.compute(self.frames, n_threads=n)
        with pytest.raises(lode_rs.InvalidParameterError, match="n_threads"):
            lode_rs.SoapExpansion(cutoff=3.0, smearing=0.3, n_max=2, l_max=1, n_threads=n).compute(
                self.frames
            )
        x = np.ones((2, 3))
        with pytest.raises(lode_rs.InvalidParameterError, match="n_threads"):
            testing.spherical_harmonics(x, 2, n_threads=n)

    def test_thread_counts_give_identical_results(self):
        soap = lode_rs.SoapExpansion(cutoff=4.0, smearing=0.3, n_max=4, l_max=3)
        lode = lode_rs.LodeExpansion(cutoff=3.0, smearing=1.0, n_max=3, l_max=2)
        for calculator in (soap, lode):
            reference = calculator.compute(self.frames, n_threads=1).values
            for n in (0, 2, 3, 7, 64):
                values = calculator.compute(self.frames, n_threads=n).values
                assert np.array_equal(values, reference), n

    @pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="threads read from /proc")
    def test_pools_are_reused(self):
        """A thread pool is built once per size: repeated calls do not add threads."""
        x = np.ones((4, 3))
        testing.spherical_harmonics(x, 2, n_threads=5)
        before = len(os.listdir("/proc/self/task"))
        for _ in range(20):
            testing.spherical_harmonics(x, 2, n_threads=5)
        assert len(os.listdir("/proc/self/task")) == before
