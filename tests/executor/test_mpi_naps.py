"""How a waiting MPI rank naps (hyppo_hep.executor.mpi._wait_message), on a fake communicator:
no MPI job needed. A message that arrives about when it is expected is seen within a few ms,
no nap is longer than MAX_SLEEP, and without a guess the naps are the plain doubling."""

import time

import pytest

from hyppo_hep.executor import mpi

pytest.importorskip("mpi4py")


class FakeComm:
    """improbe finds a message once the fake clock reaches ``arrival``."""

    def __init__(self, clock, arrival):
        self.clock, self.arrival = clock, arrival

    def improbe(self, source, tag, status):
        if self.clock.now < self.arrival:
            return None

        class Msg:
            def recv(self_inner):
                return "work"
        return Msg()


class Clock:
    def __init__(self):
        self.now, self.naps = 100.0, []

    def monotonic(self):
        return self.now

    def sleep(self, s):
        self.naps.append(s)
        self.now += s


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(mpi.time, "monotonic", c.monotonic)
    monkeypatch.setattr(mpi.time, "sleep", c.sleep)
    return c


class Stats:
    def __init__(self):
        self.wakeups, self.guess_errors = 0, []


@pytest.mark.parametrize("late", [0.0, 0.004, -0.003])
def test_a_message_near_its_expected_moment_is_seen_within_a_few_ms(clock, late):
    expected = clock.now + 0.5
    arrival = expected + late
    stats = Stats()
    got = mpi._wait_message(FakeComm(clock, arrival), 0, 0, stats=stats, expect=[expected])
    assert got is not None and got[0] == "work"
    seen_after = clock.now - arrival
    assert seen_after <= max(mpi.NEAR_SLEEP, abs(late) / 2) + 1e-9, seen_after
    assert max(clock.naps) <= mpi.MAX_SLEEP
    assert stats.wakeups == len(clock.naps)
    # about as many wake-ups as the plain 20 ms timer would need for the same 0.5 s wait
    assert stats.wakeups <= 0.5 / mpi.MAX_SLEEP + 15


def test_without_a_guess_a_message_costs_up_to_max_sleep(clock):
    arrival = clock.now + 0.5
    mpi._wait_message(FakeComm(clock, arrival), 0, 0, stats=Stats())
    assert clock.naps[:4] == pytest.approx([0.0005, 0.001, 0.002, 0.004])
    assert max(clock.naps) == pytest.approx(mpi.MAX_SLEEP)


def test_nearest_moment_before_or_after_now():
    assert mpi._nearest([1.0, 2.0, 3.0], 2.1) == pytest.approx(0.1)
    assert mpi._nearest([1.0, 2.0, 3.0], 2.9) == pytest.approx(-0.1)
    assert mpi._nearest([5.0], 1.0) == pytest.approx(-4.0)


@pytest.mark.parametrize("late", [0.13, 0.03, 0.002])
def test_a_patient_wait_past_its_moment_takes_fewer_naps(clock, late):
    """A worker waiting for work that comes ``late`` after the master's usual answer (a
    sibling's trial, the end of the campaign): naps double past the moment, so it wakes
    less often than with naps of a third of the lateness, and sees the work within the
    lateness (or NEAR_SLEEP)."""
    def wait(patient):
        clock.naps.clear()
        start = clock.now
        expected = start + 0.004
        stats = Stats()
        mpi._wait_message(FakeComm(clock, expected + late), 0, 0, stats=stats, expect=[expected], patient=patient)
        return stats.wakeups, clock.now - (expected + late)

    thirds, _ = wait(False)
    naps, seen_after = wait(True)
    assert seen_after <= max(mpi.NEAR_SLEEP, late) + 1e-9
    assert max(clock.naps) <= mpi.MAX_SLEEP
    if late >= 0.03:
        assert naps <= thirds - 3, (naps, thirds)
    else:
        assert naps <= thirds


def test_work_and_results_travel_as_plain_tuples():
    """What a rank unpickles per trial holds no dataclass (3-4x cheaper to decode), and
    the executors rebuild exactly the TrialSpec and TrialResult that were packed."""
    import pickle

    from hyppo_hep.fidelity import Fidelity
    from hyppo_hep.trial import TrialResult, TrialSpec

    spec = TrialSpec(7, {"x1": 3.0, "act": "relu"}, (2, 3), (11, 12), Fidelity(5))
    res = TrialResult(7, 2, 11, 0.25, None, "rank 3", "cpu", 1.0, 2.5, {"epochs": 5}, False)
    for obj, cls in ((spec, TrialSpec), (res, TrialResult)):
        packed = mpi._pack(obj)
        assert type(packed) is tuple and cls(*packed) == obj
    assert b"TrialSpec" not in pickle.dumps(mpi._pack(TrialSpec(1, {"x": 1.0}, (0,), (5,))))
    assert b"TrialResult" not in pickle.dumps(mpi._pack(res))
