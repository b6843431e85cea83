"""The command line: one clear line and a non-zero exit for every user error; help for every
option; ``fit`` with its defaults on a small set."""

from __future__ import annotations

import subprocess
import sys

import ase
import ase.io
import numpy as np
import pytest

from lode_rs import cli

SOAP = '{"cutoff": 3.0, "smearing": 0.5, "n_max": 2, "l_max": 1}'
LODE = '{"cutoff": 3.0, "smearing": 1.0, "n_max": 2, "l_max": 1}'


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """12 small random molecules with an ``energy`` in ``info`` (~40 environments)."""
    directory = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    frames = []
    for i in range(12):
        n = 2 + i % 4
        positions = np.cumsum(rng.uniform(0.9, 1.4, (n, 3)) * [1, 0.3, 0.2], axis=0)
        atoms = ase.Atoms(numbers=[1, 8] * (n // 2) + [1] * (n % 2), positions=positions)
        atoms.info["energy"] = float(rng.normal())
        frames.append(atoms)
    path = directory / "train.xyz"
    ase.io.write(path, frames, format="extxyz")
    return directory, path


def run(argv, capsys):
    """(exit status, stdout, stderr) of ``main``, a ``SystemExit`` message going to stderr as
    the interpreter would print it."""
    try:
        status = cli.main([str(a) for a in argv])
        message = ""
    except SystemExit as e:
        status, message = (1, e.code) if isinstance(e.code, str) else (e.code, "")
    out, err = capsys.readouterr()
    return status, out, err + (message + "\n" if message else "")


def assert_user_error(status, err, *words):
    assert status == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lode-rs ") and "error:" in lines[0], err
    for word in words:
        assert word in lines[0], err


def test_fit_with_defaults_on_a_small_set_then_predict(data, capsys, tmp_path):
    _, train = data
    model = tmp_path / "model.npz"
    status, out, err = run(
        ["fit", train, "--target", "energy", "--soap", SOAP, "-o", model], capsys
    )
    assert status == 0, err
    assert "n-sparse 500 is more than" in err and "using all" in err
    assert (tmp_path / "model.parity.png").read_bytes()[:4] == b"\x89PNG"  # beside the model
    status, out, err = run(["predict", model, train], capsys)
    assert status == 0, err
    assert len(out.split()) == 12 and np.all(np.isfinite(np.array(out.split(), dtype=float)))


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["featurize", "missing.xyz", "--soap", SOAP], ["missing.xyz", "no such file"]),
        (["featurize", "{train}", "--soap", "{not json"], ["--soap", "not valid JSON"]),
        (["featurize", "{train}", "--soap", "[1, 2]"], ["--soap", "JSON object"]),
        (["featurize", "{train}", "--soap", '{"cutoff": 3}'], ["--soap", "missing"]),
        (["featurize", "{train}", "--soap", '{"cutof": 3}'], ["--soap", "cutof"]),
        (
            ["featurize", "{train}", "--soap", SOAP.replace("3.0", "-3.0")],
            ["cutoff"],
        ),
        (["featurize", "{train}"], ["--soap"]),
        (["featurize", "{train}", "--soap", SOAP, "--invariant", "mixed"], ["mixed", "--lode"]),
        (["featurize", "{empty}", "--soap", SOAP], ["empty.xyz"]),
        (["featurize", "{garbage}", "--soap", SOAP], ["garbage.xyz", "cannot read"]),
        (
            ["featurize", "{train}", "--soap", SOAP, "-o", "{tmp}/no/such/dir/f.npz"],
            ["does not exist"],
        ),
        (["fit", "{train}", "--target", "nope", "--soap", SOAP], ["nope"]),
        (
            ["fit", "{train}", "--target", "energy", "--soap", SOAP, "--threads", "-1"],
            ["n_threads"],
        ),
        (["predict", "{tmp}/missing.npz", "{train}"], ["missing.npz"]),
        (["predict", "{garbage}", "{train}"], ["not a valid lode_rs model file"]),
    ],
)
def test_user_errors_are_one_line(data, capsys, tmp_path, argv, words):
    directory, train = data
    (tmp_path / "empty.xyz").write_text("")
    (tmp_path / "garbage.xyz").write_text("3\nnot\nan xyz file at all\n")
    names = {
        "train": train,
        "empty": tmp_path / "empty.xyz",
        "garbage": tmp_path / "garbage.xyz",
        "tmp": tmp_path,
    }
    for key, value in names.items():
        argv = [a.replace("{" + key + "}", str(value)) for a in argv]
    if argv[0] != "predict" and "-o" not in argv:
        argv += ["-o", str(tmp_path / "out.npz")]
    status, _, err = run(argv, capsys)
    assert_user_error(status, err, *words)


def test_no_traceback_from_the_console_script(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lode_rs", "featurize", str(tmp_path / "none.xyz"), "--soap", SOAP],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_every_option_has_help():
    parser = cli._parser()
    subparsers = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help text"
