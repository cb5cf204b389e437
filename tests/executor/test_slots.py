"""The slot scheduler shared by the MPI and simulated executors (hyppo_hep/executor/slots.py),
driven by hand: which worker gets which trial under each rule, the capacity the driver sees,
and a lost worker's trials moved with their seeds."""

from hyppo_hep.executor.slots import Slots
from hyppo_hep.trial import TrialSpec


def spec(set_id, n, first=0):
    trials = tuple(range(first, first + n))
    return TrialSpec(set_id, {"x": set_id}, trials, tuple(100 * set_id + t for t in trials))


def placed(slots):
    return [(p.set_id, p.trials, ws) for p, ws in slots.place()]


def test_groups_only_a_spec_takes_a_whole_group_and_the_next_waits_for_one():
    s = Slots([[1, 2], [3, 4]], trial_level=False)
    for i in range(3):
        s.submit(spec(i, 2))
    assert placed(s) == [(0, (0, 1), [1, 2]), (1, (0, 1), [3, 4])]
    assert s.n_slots == 3  # three sets in flight, no free group
    s.done((0, 0))
    s.done((1, 0))
    assert placed(s) == []  # ranks 1 and 3 idle, but no whole group: groups only waits
    s.done((0, 1))
    assert placed(s) == [(2, (0, 1), [1, 2])]
    assert s.outstanding == {1: 1, 2: 2}


def test_trial_level_idle_workers_of_two_busy_groups_run_the_next_set_together():
    s = Slots([[1, 2], [3, 4]])
    for i in range(3):
        s.submit(spec(i, 2))
    assert placed(s) == [(0, (0, 1), [1, 2]), (1, (0, 1), [3, 4])]
    s.done((0, 0))
    assert placed(s) == [(2, (0,), [1])]  # one trial now, the other waits at the head
    assert [(q.set_id, q.trials, q.seeds) for q in s.queue] == [(2, (1,), (201,))]
    s.done((1, 0))
    assert placed(s) == [(2, (1,), [3])]  # the set spans both groups
    assert s.where[(2, 0)] == (1, 200) and s.where[(2, 1)] == (3, 201)


def test_a_set_larger_than_a_group_waits_for_a_whole_group_round_robin():
    s = Slots([[1, 2], [3, 4]])
    s.submit(spec(0, 2))
    s.submit(spec(1, 3))
    assert placed(s) == [(0, (0, 1), [1, 2]), (1, (0, 1, 2), [3, 4, 3])]
    assert list(s.todo[3]) == [(1, 0), (1, 2)]  # rank 3 runs two trials back to back
    s.submit(spec(2, 3))
    s.done((0, 0))
    assert placed(s) == []  # a 3-trial set is not spread over single idle ranks
    s.done((0, 1))
    assert placed(s) == [(2, (0, 1, 2), [1, 2, 1])]


def test_single_trials_go_to_partly_busy_groups_first_keeping_whole_groups_free():
    s = Slots([[1, 2], [3, 4], [5, 6]])
    s.submit(spec(0, 2))
    s.submit(spec(1, 2))
    placed(s)
    s.done((0, 1))  # rank 2 idle in a busy group; group [5, 6] wholly idle
    s.submit(spec(0, 1, first=2))  # a confirmation trial of set 0
    assert placed(s) == [(0, (2,), [2])]
    s.submit(spec(2, 1))
    assert placed(s) == [(2, (0,), [5])]  # then a whole group's worker, when nothing else
    s.submit(spec(3, 2))
    assert placed(s) == [(3, (0,), [6])]  # no whole group left: the idle rank takes one


def test_capacity_counts_spare_idle_workers_a_set_per_group_begun():
    s = Slots([[1, 2, 3], [4, 5, 6]])
    assert s.n_slots == 2
    s.submit(spec(0, 3))
    s.submit(spec(1, 3))
    placed(s)
    assert s.n_slots == 2
    s.done((0, 0))  # one idle rank: a third set may be proposed, its trials wait for ranks
    assert s.n_slots == 3
    s.submit(spec(2, 3))
    placed(s)
    assert s.n_queued == 2 and s.n_slots == 3  # the queued trials take the next idle ranks
    groups_only = Slots([[1, 2, 3], [4, 5, 6]], trial_level=False)
    groups_only.submit(spec(0, 3))
    placed(groups_only)
    groups_only.done((0, 0))
    assert groups_only.n_slots == 2  # set 0 in flight + the idle group


def test_a_lost_worker_fails_its_trial_moves_the_rest_with_their_seeds_and_retires_its_group():
    s = Slots([[1, 2], [3, 4]])
    s.submit(spec(1, 4))
    placed(s)  # ranks 1, 2 hold trials (0, 2) and (1, 3)
    head, seed, moved = s.lose(1)
    assert head == (1, 0) and seed == 100 and moved == [(1, 2)]
    assert s.retired == {0} and s.outstanding == {1: 3}
    assert placed(s) == [(1, (2,), [3])]  # the moved trial runs on the live group
    assert s.where[(1, 2)] == (3, 102)
    for key in ((1, 1), (1, 3), (1, 2)):
        s.done(key)
    assert s.outstanding == {} and s.idle() == [3, 4]  # the retired group gets nothing again


def test_prefetch_queues_one_trial_behind_a_running_one_earliest_end_first():
    """depth 2 (the MPI executor's prefetch): with no idle worker, a whole set goes
    round-robin to the open group expected to free first, smaller specs to single open
    workers in that order; nobody holds more than two; the capacity counts open workers."""
    s = Slots([[1, 2], [3, 4]], depth=2)
    ends = {1: 5.0, 2: 6.0, 3: 1.0, 4: 2.0}
    s.prefetch_key = ends.get
    s.submit(spec(0, 2))
    s.submit(spec(1, 2))
    placed(s)
    assert s.n_slots == 4  # two sets running, room for two more behind them
    s.submit(spec(2, 2))
    assert placed(s) == [(2, (0, 1), [3, 4])]  # group [3, 4] frees first (ends 1, 2 < 5, 6)
    assert list(s.todo[3]) == [(1, 0), (2, 0)]
    s.submit(spec(3, 1))
    assert placed(s) == [(3, (0,), [1])]  # a single trial: the open worker expected to end first
    s.submit(spec(4, 2))
    assert placed(s) == [(4, (0,), [2])]  # the last open worker; trial 1 waits at the head
    assert max(len(t) for t in s.todo.values()) == 2 and s.n_queued == 1
    s.done((1, 0))  # rank 3 starts set 2's trial: open again, takes the waiting trial
    assert placed(s) == [(4, (1,), [3])]


def test_depth_one_never_queues_behind_a_running_trial():
    s = Slots([[1, 2], [3, 4]])
    for i in range(3):
        s.submit(spec(i, 2))
    placed(s)
    assert placed(s) == [] and s.n_queued == 2 and s.n_slots == 3


def test_take_back_moves_a_queued_trial_to_an_idle_worker_with_its_seed():
    s = Slots([[1], [2]], depth=2)
    s.submit(spec(0, 1))
    s.submit(spec(1, 1))
    placed(s)
    s.submit(spec(2, 1))
    assert placed(s) == [(2, (0,), [1])]  # behind set 0 on worker 1
    s.done((1, 0))  # worker 2 idle, nothing queued: the executor recalls set 2's trial
    s.take_back((2, 0))
    assert list(s.todo[1]) == [(0, 0)] and s.outstanding == {0: 1, 2: 1}
    assert placed(s) == [(2, (0,), [2])] and s.where[(2, 0)] == (2, 200)
    s.done((0, 0))
    assert s.n_idle == 1
