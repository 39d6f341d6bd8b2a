"""A wheel installed into a fresh venv imports every part, and installs no bare top-level `exporter`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

from tests.support.layout import source_modules
from tests.support.paths import ROOT

# Imports every module the wheel installed, and lists them: the list must be the source tree's, so a
# sub-package missing from pyproject's package list fails here rather than in a user's application.
IMPORT_ALL = """
import importlib, importlib.util, pkgutil, cachewatch
names = sorted(['cachewatch', *(m.name for m in pkgutil.walk_packages(cachewatch.__path__, 'cachewatch.'))])
for name in names:
    if not name.endswith('__main__'):
        importlib.import_module(name)
assert importlib.util.find_spec('exporter') is None, 'bare top-level exporter package installed'
# the alert lifecycle's data files: Alembic's migrations run, every console template is there
from cachewatch.alert_lifecycle.store.engine import open_store, schema_revision
assert schema_revision(open_store('installed.db').engine) is not None, 'migrations missing from the wheel'
from cachewatch.alert_lifecycle.console.pages import ENV
for template in ('base.html', 'open.html', 'episode.html', 'history.html', 'analytics.html', 'login.html'):
    ENV.get_template(template)
import cachewatch.exporter.app as app
print(app.__file__)
print(' '.join(name for name in names if not name.endswith('__main__')))
"""


def run(*cmd: str | Path, cwd: Path | None = None) -> str:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=600)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out.stdout


def test_wheel_in_a_fresh_venv_imports_every_part(tmp_path: Path) -> None:
    source = tmp_path / "source"  # build from a copy: setuptools leaves build/ and *.egg-info behind
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info",
                                                                 "__pycache__", ".*_cache", ".hypothesis"))
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, source)
    (wheel,) = wheels.glob("cachewatch-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel)
    location, modules = run(python, "-c", IMPORT_ALL, cwd=tmp_path).splitlines()
    assert str(env_dir) in location, "imported from the venv, not from the source tree"
    assert modules.split() == source_modules(), "the wheel's modules differ from the source tree's"
    assert "exporter" in run(env_dir / "bin" / "cachewatch", "--help", cwd=tmp_path)
