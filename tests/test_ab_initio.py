"""The ab initio melting point workflow end to end with a cheap stand-in for DFT (ASE's EMT for Al)
and tiny settings; the GPAW settings are in benchmarks/bench_ab_initio_melting.py."""
import json
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.emt import EMT

from pyiron_mtp.free_energy.ab_initio import CachedReferences, ab_initio_melting_point, shifted_melting_point
from pyiron_mtp.free_energy.protocol import Protocol

FAST = Protocol(equilibration_steps=600, spring_steps=300, switching_steps=800, switch_equilibration_steps=200, switching_doublings=0,
                melt_steps=800)


class CountingEMT:
    """EMT as the reference, counting its calls in a file (processes and reruns see the same count)."""

    def __init__(self, path):
        self.path = str(path)

    def __call__(self):
        p = Path(self.path)
        p.write_text(str(int(p.read_text()) + 1 if p.exists() else 1))
        return EMT()


def test_shifted_melting_point():
    ds = 1.1 * 8.617333e-5                     # eV/K/atom
    t, e = shifted_melting_point(900.0, 3.0, ds, 0.002, 0.0004, 0.002 + 10 * ds, 0.0003)
    assert t == pytest.approx(910.0)
    assert e == pytest.approx(np.sqrt(9 + (0.0004 ** 2 + 0.0003 ** 2) / ds ** 2))
    with pytest.raises(ValueError, match="positive"):
        shifted_melting_point(900.0, 3.0, 0.0, 0, 0, 0, 0)


def test_stage_clock_survives_an_interruption(tmp_path):
    """The stage minutes reach the work folder while the stage runs (an interrupted run keeps
    them), a rerun adds to them, and a stage that raises is stopped."""
    import time
    from pyiron_mtp.free_energy.ab_initio import _StageClock
    clock = _StageClock(tmp_path, interval=0.05)
    t0 = time.monotonic()
    clock.start("learning")
    time.sleep(0.3)
    written = json.loads((tmp_path / "timing.json").read_text())["wall_minutes"]["learning"]
    assert 0.1 / 60 < written <= (time.monotonic() - t0) / 60 + 1e-6   # on disk before the stage ends
    clock._stop_event.set()                                  # "killed": no stop()
    clock._thread.join()
    first = (time.monotonic() - t0) / 60
    again = _StageClock(tmp_path, interval=0.05)
    t1 = time.monotonic()
    with pytest.raises(RuntimeError):
        with again.stage("learning"):
            time.sleep(0.2)
            raise RuntimeError("reference failed")
    second = (time.monotonic() - t1) / 60
    assert not again._thread.is_alive()
    total = json.loads((tmp_path / "timing.json").read_text())["wall_minutes"]["learning"]
    assert written + 0.2 / 60 - 1e-6 <= total <= first + second + 1e-6   # the rerun added its own time


def test_cached_references_compute_once(tmp_path):
    from ase.build import bulk
    from pyiron_mtp.on_the_fly import reference_calculation
    ref = CountingEMT(tmp_path / "calls")
    a = bulk("Al", "fcc", a=4.05, cubic=True)
    a.rattle(0.05, seed=1)
    first = CachedReferences(tmp_path / "cache").submit(reference_calculation, a, ref).result()
    again = CachedReferences(tmp_path / "cache").submit(reference_calculation, a, ref).result()
    assert int((tmp_path / "calls").read_text()) == 1
    assert first[0] == again[0] and np.array_equal(first[1], again[1]) and np.allclose(first[2], again[2])


def test_ab_initio_melting_point_with_a_stand_in_reference(tmp_path):
    ref = CountingEMT(tmp_path / "calls")
    kwargs = dict(temperatures=(300, 1600), workdir=tmp_path / "work", cell_atoms=32, level=8, learn_steps=1000,
                  max_iterations=4, train_iter=40, melting_atoms=108,
                  melting_kwargs=dict(repeats=2, size_correction=None, protocol=FAST), snapshots=8, interval=50,
                  progress=False)
    res = ab_initio_melting_point(ref, ["Al"], "fcc", **kwargs)
    calls = int((tmp_path / "calls").read_text())
    assert res.reference_calls["total"] == calls
    assert res.reference_calls["upsampling_solid"] == 8 and res.reference_calls["upsampling_liquid"] == 8
    up = res.upsampling
    assert up["solid"]["samples"] == up["liquid"]["samples"] == 8
    # the reference's T_m is the MTP's shifted by the upsampling, with all three errors in the bar
    t, e = shifted_melting_point(res.mtp_melting_temperature, res.mtp_melting_temperature_error,
                                 res.entropy_of_melting, up["solid"]["delta_f"], up["solid"]["delta_f_error"],
                                 up["liquid"]["delta_f"], up["liquid"]["delta_f_error"])
    assert res.melting_temperature == pytest.approx(t) and res.melting_temperature_error == pytest.approx(e)
    assert 500 < res.mtp_melting_temperature < 1300 and np.isfinite(res.melting_temperature_error)
    # an MTP learned from EMT is close to it: per-atom differences of a few meV at most
    assert abs(up["solid"]["delta_f"]) < 0.01 and abs(up["liquid"]["delta_f"]) < 0.01
    assert set(res.minutes) == set(res.cpu_minutes) == {"learning", "melting", "upsampling_solid", "upsampling_liquid"}
    assert all(v > 0 for v in res.cpu_minutes.values())
    stored = json.loads((tmp_path / "work" / "result.json").read_text())
    assert stored["melting_temperature"] == pytest.approx(res.melting_temperature)
    # both phases are computed in cells of the learning cells' size (a k-point error per atom that
    # differs between cell sizes must not pass for the MTP's error)
    from pyiron_mtp.ledger import ReferenceLedger
    for phase in ("solid", "liquid"):
        rows = ReferenceLedger(tmp_path / "work" / "upsampling" / phase / "references").entries.values()
        assert len(rows) == 8 and all(len(r["positions"]) == 32 for r in rows)
    # a rerun in the same folder reads every stage back: no reference calculation again
    again = ab_initio_melting_point(ref, ["Al"], "fcc", **kwargs)
    assert int((tmp_path / "calls").read_text()) == calls
    assert again.melting_temperature == pytest.approx(res.melting_temperature)
    with pytest.raises(ValueError, match="temperatures"):
        ab_initio_melting_point(ref, ["Al"], "fcc", **{**kwargs, "temperatures": (900, 300)})


def test_phase_snapshots_rejects_too_many_vacancies(tmp_path):
    from types import SimpleNamespace
    from pyiron_mtp.free_energy.ab_initio import phase_snapshots
    with pytest.raises(ValueError, match="liquid_vacancies"):
        phase_snapshots(SimpleNamespace(species=["Al"]), "liquid", 900.0, "fcc", 32, tmp_path, 4, 10,
                        liquid_vacancies=20)


def test_gpaw_reference_settings():
    from pyiron_mtp.dft import GpawReference
    with pytest.raises(ValueError, match="either kpts"):
        GpawReference("LDA", kpts=(2, 2, 2), kpoint_density=3.0)
    with pytest.raises(ValueError, match="either kpts"):
        GpawReference("LDA")
    with pytest.raises(ValueError, match="ecut"):
        GpawReference("LDA", ecut=-1, kpts=(1, 1, 1))
    ref = GpawReference("PBE", ecut=300, kpoint_density=3.0)
    assert "kpoint_density=3.0" in repr(ref)
    import pickle
    assert repr(pickle.loads(pickle.dumps(ref))) == repr(ref)     # runs in worker processes
    # GPAW replaces numpy.empty by a NaN-filling debug version when it sees pytest (breaking
    # e.g. matplotlib's object arrays in later tests): the calculation runs in its own process
    import importlib.util
    import subprocess
    import sys
    if importlib.util.find_spec("gpaw") is None:
        pytest.skip("GPAW not installed")
    code = ("from ase.build import bulk; import numpy as np; from pyiron_mtp.dft import GpawReference; "
            "a = bulk('Al', 'fcc', a=4.05); a.calc = GpawReference('LDA', ecut=150, kpts=(2, 2, 2))(); "
            "print(a.get_potential_energy(), np.abs(a.get_forces()).max())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    e, fmax = (float(v) for v in out.stdout.split()[-2:])
    assert np.isfinite(e) and fmax < 1e-3      # a perfect crystal: no forces
