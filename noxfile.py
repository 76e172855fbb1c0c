"""Development sessions: tests (oldest and newest supported zarr), lint, docs, demo.

nox -s tests      # zarr 3.1.x on Python 3.11, and the newest zarr on Python 3.13
nox -s lint       # ruff + mypy
nox -s docs       # mkdocs build --strict
nox -s demo       # zarr-stream demo (synthetic camera frames -> ./demo.zarr)
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "docs"]
# A Python version of the test matrix that is missing fails the run: a skipped end of the
# supported range would pass unseen.
nox.options.error_on_missing_interpreters = True


def interpreter(version: str) -> str:
    """An absolute path to a working python<version>: on PATH, or in pyenv's versions."""
    home = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [
        shutil.which(f"python{version}"),
        *sorted(glob.glob(f"{home}/versions/{version}*/bin/python{version}")),
    ]
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return version  # let nox report it missing


# The two ends of what we support: the oldest zarr on the oldest Python, the newest zarr on a new Python.
ZARR_RANGE_ENDS = nox.parametrize(
    ("python", "zarr_spec"),
    [(interpreter("3.11"), "zarr>=3.1,<3.2"), (interpreter("3.13"), "zarr>=3.1")],
    ids=["oldest", "newest"],
)


@nox.session
@ZARR_RANGE_ENDS
def tests(session: nox.Session, zarr_spec: str) -> None:
    """Run the whole test suite against one end of the supported zarr range."""
    session.install("-e", ".[test]", zarr_spec)
    session.run(
        "python", "-c", "import sys, zarr; print('python', sys.version.split()[0], 'zarr', zarr.__version__)"
    )
    session.run("pytest", "--benchmark-disable", *session.posargs)  # benchmarks run once, untimed


@nox.session(python=interpreter("3.11"))
def lint(session: nox.Session) -> None:
    """ruff and mypy (strict)."""
    session.install("-e", ".[lint,test]")
    session.run("ruff", "check", "src", "tests", "examples", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "examples", "noxfile.py")
    session.run("mypy")


@nox.session(python=interpreter("3.11"))
def docs(session: nox.Session) -> None:
    """Build the mkdocs site in strict mode."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
@ZARR_RANGE_ENDS
def bench(session: nox.Session, zarr_spec: str) -> None:
    """zarr-stream bench --compare: acquire-zarr, tensorstore and zarr-python (options after --)."""
    session.install("-e", ".[bench]", zarr_spec)
    session.run("zarr-stream", "bench", *(session.posargs or ["--compare"]))


@nox.session(python=interpreter("3.11"))
def demo(session: nox.Session) -> None:
    """Stream synthetic camera frames to ./demo.zarr and summarise the result."""
    session.install(".")
    session.run("zarr-stream", "demo", *session.posargs)
