"""Dask: features on a LocalCluster of 2 worker processes equal the in-process ones bitwise,
runs resume from their chunk files, a killed worker's chunks are recomputed, and fits from
normal equations reduced on the workers equal the in-memory fits (predictions to 1e-10)."""

from __future__ import annotations

import os
import signal
import time

import ase.io
import numpy as np
import pytest

import lode_rs
from lode_rs.models import PolynomialKernel, Ridge, SparseGPR

distributed = pytest.importorskip("dask.distributed")
import lode_rs.distributed as ld  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close(timeout=60)  # a loaded machine needs more than the default 5 s


@pytest.fixture(scope="module")
def frames():
    frames = lode_rs.datasets.random_ionic_gas(
        30, n_atoms=8, box_range=(6.0, 8.0), min_distance=1.8, seed=5
    )
    for f, e in zip(frames, lode_rs.electrostatic_energy(frames), strict=True):
        f.info["energy"] = float(e)
    return frames


def calculator(frames=None):
    soap = lode_rs.SoapExpansion(cutoff=3.0, smearing=0.4, n_max=3, l_max=2)
    lode = lode_rs.LodeExpansion(cutoff=3.0, smearing=1.0, n_max=3, l_max=2)
    calc = lode_rs.PowerSpectrum(soap, lode)
    return calc if frames is None else calc.fix_species(frames)


def assert_same(a, b):
    for name in ("values", "structure", "centers", "center_species", "labels"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.n_structures == b.n_structures


def test_features_equal_in_process_bitwise(client, frames, tmp_path):
    calc = calculator(frames)
    local = calc.compute(frames)
    assert_same(ld.compute(calc, frames, client=client, chunk_size=7), local)
    # from files read by the workers, cut into chunks inside and across files
    ase.io.write(tmp_path / "a.xyz", frames[:13])
    ase.io.write(tmp_path / "b.extxyz", frames[13:])
    assert ld.count_frames(tmp_path / "a.xyz") == 13
    paths = [str(tmp_path / "a.xyz"), str(tmp_path / "b.extxyz")]
    from_files = ld.compute(calc, paths, client=client, chunk_size=5, n_threads=2)
    assert_same(from_files, calc.compute(ase.io.read(paths[0], ":") + ase.io.read(paths[1], ":")))
    expansion = lode_rs.SoapExpansion(cutoff=3.0, smearing=0.4, n_max=3, l_max=2, species=[11, 17])
    e = ld.compute(expansion, frames, client=client, chunk_size=11)
    assert np.array_equal(e.values, expansion.compute(frames).values)


def test_unfixed_calculator_is_refused(client, frames):
    with pytest.raises(lode_rs.InvalidParameterError, match="fix_species"):
        ld.compute(calculator(), frames, client=client)


def test_errors_are_raised_on_the_client(client, frames):
    calc = calculator(frames)
    carbon = frames[0].copy()
    carbon.numbers[0] = 6
    # the core's error, with its type, saying where in the data set it happened
    with pytest.raises(lode_rs.InvalidParameterError, match=r"structures 4\.\.5.*species 6"):
        ld.compute(calc, frames[:5] + [carbon], client=client, chunk_size=2)
    with pytest.raises(lode_rs.InvalidParameterError, match="explicit regularizer"):
        ld.fit(Ridge(regularizer=None), calc, frames, "energy", client=client)


def test_output_resumes_where_it_stopped(client, frames, tmp_path):
    calc = calculator(frames)
    out = tmp_path / "features"
    files = ld.compute(calc, frames, client=client, chunk_size=4, output=out)
    assert len(files) == 8
    assert_same(ld.load(out), calc.compute(frames))
    # a run that died: two chunks never written
    for name in (files[2], files[5]):
        os.remove(name)
    with pytest.raises(lode_rs.InvalidInputError, match="2 chunks"):
        ld.load(out)
    run = ld.submit(calc, frames, client=client, chunk_size=4, output=out)
    assert sum(f is not None for f in run.futures) == 2  # only the missing chunks
    run.result()
    assert_same(ld.load(out), calc.compute(frames))
    other = lode_rs.PowerSpectrum(lode_rs.SoapExpansion(cutoff=3.5, smearing=0.4, n_max=3, l_max=2))
    with pytest.raises(lode_rs.InvalidParameterError, match="another run"):
        ld.compute(other.fix_species(frames), frames, client=client, chunk_size=4, output=out)


def test_killed_worker_chunks_are_recomputed(client, frames):
    lode = lode_rs.LodeExpansion(cutoff=4.0, smearing=1.0, n_max=4, l_max=3)
    calc = lode_rs.PowerSpectrum(lode).fix_species(frames)
    local = calc.compute(frames)
    run = ld.submit(calc, frames, client=client, chunk_size=2, show_progress=False)
    distributed.wait(run.futures, return_when="FIRST_COMPLETED")
    held = client.who_has(run.futures)
    processing = client.processing()
    by_worker = {w: set() for w in processing}
    for key, workers in held.items():
        for w in workers:
            by_worker.setdefault(w, set()).add(key)
    for w, keys in processing.items():
        by_worker[w] |= set(keys)
    victim = max(by_worker, key=lambda w: len(by_worker[w]))
    lost = by_worker[victim]
    assert lost, "the victim worker holds or runs no chunk"
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    assert_same(run.result(), local)
    # every chunk the dead worker held or was computing came back from another worker
    assert all(f.status == "finished" for f in run.futures if f.key in lost)
    deadline = time.time() + 30  # the nanny restarts the worker for the next tests
    while len(client.scheduler_info()["workers"]) < 2 and time.time() < deadline:
        time.sleep(0.2)


@pytest.mark.parametrize("regularizer", [1e-6, 1e-3])
def test_ridge_fit_equals_in_memory(client, frames, regularizer):
    calc = calculator(frames)
    x = calc.compute(frames)
    y = np.array([f.info["energy"] for f in frames])
    reference = Ridge(regularizer=regularizer).fit(x, y)
    model = ld.fit(Ridge(regularizer=regularizer), calc, frames, y, client=client, chunk_size=4)
    p0, p1 = reference.predict(x), model.predict(x)
    assert np.abs(p1 - p0).max() <= 1e-10 * np.abs(p0).max()
    by_key = ld.fit(Ridge(regularizer=regularizer), calc, frames, "energy", client=client)
    assert np.abs(by_key.predict(x) - p0).max() <= 1e-10 * np.abs(p0).max()


def test_sparse_gpr_fit_equals_in_memory(client, frames):
    calc = calculator(frames)
    x = calc.compute(frames)
    y = np.array([f.info["energy"] for f in frames])
    make = lambda: SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=40, regularizer=1e-6)  # noqa: E731
    reference = make().fit(x, y)
    active = reference._active  # the same active set (prepared rows): then the same model
    model = ld.fit(make(), calc, frames, y, client=client, chunk_size=4, active=active)
    p0, v0 = reference.predict(x, return_variance=True)
    p1, v1 = model.predict(x, return_variance=True)
    assert np.abs(p1 - p0).max() <= 1e-10 * np.abs(p0).max()
    # the variance subtracts nearly equal terms: normal equations keep ~1e-8 of it here
    assert np.abs(v1 - v0).max() <= 1e-6 * np.abs(v0).max()
    # active set chosen on the cluster (FPS on a sample): a different but good model
    sampled = ld.fit(make(), calc, frames, y, client=client, chunk_size=4)
    assert lode_rs.models.rmse_percent(sampled.predict(x), y) < 5.0


def test_cli_scheduler(client, frames, tmp_path):
    from lode_rs.cli import main

    ase.io.write(tmp_path / "data.xyz", frames)
    soap = '{"cutoff": 3.0, "smearing": 0.4, "n_max": 3, "l_max": 2}'
    common = [str(tmp_path / "data.xyz"), "--soap", soap]
    assert main(["featurize", *common, "-o", str(tmp_path / "local.npz")]) == 0
    address = client.scheduler.address
    assert (
        main(
            [
                "featurize",
                *common,
                "-o",
                str(tmp_path / "dask.npz"),
                "--scheduler",
                address,
                "--chunk-size",
                "6",
            ]
        )
        == 0
    )
    with np.load(tmp_path / "local.npz") as a, np.load(tmp_path / "dask.npz") as b:
        assert np.array_equal(a["values"], b["values"])
        assert np.array_equal(a["structure"], b["structure"])
