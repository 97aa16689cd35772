import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from pyiron_mtp import MTP, MTPCalculator
from pyiron_mtp.active import ActiveSet
from pyiron_mtp.on_the_fly import (LearningOnTheFly, MDProtocol, ReferenceError, RelaxProtocol,
                                   new_structures, reference_calculation, sample, structure_key)

CALLS = {"n": 0}


class CountingEMT(EMT):
    def calculate(self, *args, **kwargs):
        CALLS["n"] += 1
        super().calculate(*args, **kwargs)


class FlakyEMT(EMT):
    """Fails on the first attempt for every new geometry."""

    seen = set()

    def calculate(self, atoms=None, *args, **kwargs):
        key = tuple(np.round(atoms.positions.ravel(), 6))
        if key not in FlakyEMT.seen:
            FlakyEMT.seen.add(key)
            raise RuntimeError("SCF did not converge")
        super().calculate(atoms, *args, **kwargs)


class NaNEMT(EMT):
    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results["energy"] = float("nan")


def start():
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)


def loop(**kw):
    args = dict(max_iterations=30, train_iter=30, rattle=0.1, max_selected=5, seed=1)
    args.update(kw)
    return LearningOnTheFly(MTP.from_level(6, ["Cu"], 2.0, 4.5), args.pop("reference", EMT), [start()],
                            args.pop("protocol", MDProtocol(temperature=300, steps=80)), **args)


def test_a_structure_is_computed_once(monkeypatch):
    """A selected structure equal to a training structure (e.g. an MD's first frame, which is
    its start) or to another selected one is neither computed nor added again."""
    import pyiron_mtp.on_the_fly as otf_module
    from pyiron_mtp.on_the_fly import SampleResult
    new = start()
    new.rattle(0.02, seed=5)

    def fake_sample(atoms, *args, **kwargs):
        frames = [atoms.copy(), new.copy(), new.copy()]
        return SampleResult(collected=frames, grades=[3.0] * 3, max_grade=3.0, steps=3)

    monkeypatch.setattr(otf_module, "sample", fake_sample)
    monkeypatch.setattr(ActiveSet, "select", lambda self, images, **kw: list(range(len(images))))
    otf = loop(max_iterations=1, n_initial=2)
    otf.run(progress=False)
    keys = [structure_key(a) for a in otf.training]
    assert len(keys) == 4 and len(set(keys)) == 4 == otf.reference_calls
    assert otf.log[0]["selected"] == 1 and structure_key(new) in keys
    assert [structure_key(x) for x in new_structures([start(), new, new.copy()], [start()])] == [structure_key(new)]


def test_converges_and_stops_selecting():
    otf = loop()
    pot = otf.run(progress=False)
    assert otf.converged
    last = otf.log[-1]
    assert last["selected"] == 0 and last["max_grade"] <= 2.0 and last["md_steps"] == 81
    assert otf.log[0]["selected"] >= 1
    assert otf.reference_calls == len(otf.training)
    # the potential now follows EMT on fresh MD snapshots
    test = start()
    test.rattle(0.08, seed=11)
    ref = test.copy()
    ref.calc = EMT()
    test.calc = MTPCalculator(pot)
    assert np.abs(test.get_forces() - ref.get_forces()).max() < 0.05


def test_deterministic_for_a_seed():
    a = loop(max_iterations=3)
    a.run(progress=False)
    b = loop(max_iterations=3)
    b.run(progress=False)
    assert [r["selected"] for r in a.log] == [r["selected"] for r in b.log]
    assert np.array_equal(a.pot.parameters, b.pot.parameters)


def test_failed_references_are_kept_and_retried():
    FlakyEMT.seen.clear()
    otf = loop(reference=FlakyEMT, max_iterations=3)
    otf._initial_training()
    assert len(otf.training) == 0 and len(otf.failed) == 5   # all failed once, none lost
    assert otf.reference_calls == 0 and otf.reference_failures == 5
    otf.run(progress=False)      # the retry succeeds
    assert len(otf.training) >= 5
    # results are counted once per structure, failed attempts apart (every new structure fails once)
    assert otf.reference_calls == len(otf.training)
    assert otf.reference_failures == len(otf.training) + len(otf.failed)
    assert sum(row["reference_calls"] for row in otf.log) == len(otf.training) - 5  # after the initial 5
    assert all("reference_error" not in a.info for a in otf.training)


def test_nan_reference_rejected():
    with pytest.raises(ReferenceError, match="NaN"):
        reference_calculation(start(), NaNEMT)
    with pytest.raises(ReferenceError, match="no reference calculation succeeded"):
        loop(reference=NaNEMT, max_iterations=1).run(progress=False)


def test_restart_does_not_recompute(tmp_path):
    CALLS["n"] = 0
    first = loop(reference=CountingEMT, max_iterations=2, workdir=tmp_path)
    first.run(progress=False)
    calls_first = CALLS["n"]
    assert calls_first == first.reference_calls > 0
    # a new object in the same folder resumes: same training data, no recomputation
    second = loop(reference=CountingEMT, max_iterations=2, workdir=tmp_path)
    assert second.iteration == 2 and len(second.training) == len(first.training)
    assert np.allclose(second.pot.parameters, first.pot.parameters)
    second.run(progress=False)   # already at max_iterations: nothing to do
    assert CALLS["n"] == calls_first
    third = loop(reference=CountingEMT, max_iterations=4, workdir=tmp_path)
    third.run(progress=False)
    assert third.iteration == 4 and len(third.training) >= len(first.training)
    new_calls = CALLS["n"] - calls_first
    assert new_calls == third.reference_calls - first.reference_calls


def test_samplers_relax_and_npt():
    otf = loop(max_iterations=2)
    otf.run(progress=False)
    aset = ActiveSet.build(otf.pot, otf.training)
    strained = start()
    strained.set_cell(strained.cell.array * 1.02, scale_atoms=True)
    strained.rattle(0.05, seed=3)
    res = sample(strained, otf.pot, aset, RelaxProtocol(fmax=0.05, steps=30), break_threshold=1e9)
    assert res.steps >= 2 and len(res.grades) == res.steps
    res = sample(start(), otf.pot, aset, MDProtocol(ensemble="npt", temperature=(100, 300), steps=10,
                                                    pressure=0.0), break_threshold=1e9)
    assert res.steps == 11 and not res.broke
    with pytest.raises(ValueError, match="ensemble"):
        sample(start(), otf.pot, aset, MDProtocol(ensemble="nph"))


def test_loop_with_lammps_sampler():
    from pyiron_mtp.on_the_fly import LammpsProtocol
    otf = loop(protocol=LammpsProtocol(ensemble="nvt", temperature=300, steps=80), max_iterations=30)
    otf.run(progress=False)
    assert otf.converged and otf.log[-1]["md_steps"] == 80 and otf.log[-1]["selected"] == 0


def test_calculator_grade_matches_active_set():
    otf = loop(max_iterations=1)
    otf.run(progress=False)
    for mode in ("configuration", "neighborhood"):
        aset = ActiveSet.build(otf.pot, otf.training, mode=mode)
        a = start()
        a.rattle(0.2, seed=5)
        a.calc = MTPCalculator(otf.pot, active_set=aset)
        a.get_potential_energy()
        assert a.calc.results["mtp_grade"] == pytest.approx(aset.grade(a), rel=1e-9)
        if mode == "neighborhood":
            assert a.calc.results["mtp_grades"].shape == (len(a),)


def test_bad_arguments():
    with pytest.raises(ValueError, match="select_threshold"):
        loop(select_threshold=5.0, break_threshold=2.0)
    with pytest.raises(ValueError, match="protocols"):
        loop(protocol=[MDProtocol(), MDProtocol()])
