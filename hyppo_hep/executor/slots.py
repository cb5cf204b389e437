"""Which worker runs which trial: the slot scheduler of the MPI and simulated executors.

Workers (MPI ranks, or the simulator's virtual workers) are cut into groups. The queue holds
TrialSpecs in submission order; :meth:`Slots.place` hands the head of the queue to idle
workers and says where each trial went, and the executor sends (or simulates) them.

Two rules (``trial_level``):

- groups only (the executors' rule before issue 16): a spec takes a fully idle group, its
  trials round-robin over the group's workers (a worker with two trials runs them back to
  back); the group is free again when all of them are back;
- trial level (the default): a spec with at least a group's worth of trials still goes to a
  fully idle group when there is one (groups stay the unit while there are sets to start).
  Otherwise a spec no larger than a group (the next set, a top-up or confirmation trial of
  an earlier set, trials moved off a lost worker) is run by idle workers one trial each,
  workers of partly busy groups first so that whole groups stay free for whole sets; what
  does not fit stays at the head of the queue for the next worker that frees up. A spec
  larger than a group waits for a whole group: spread over single workers it would keep
  every group partly busy (measured in benchmarks/RESULTS_mpi.md, section 4).

:attr:`Slots.n_slots` is the capacity the driver sees (it asks the Search for
``n_slots - sets in flight`` new specs): the sets in flight plus the free capacity in sets.
Pure bookkeeping, no MPI and no clock, so both executors share it and tests drive it by hand.

Prefetch (``depth`` 2, the MPI executor with short trials; the simulator keeps 1): when no
idle worker can take the head of the queue, a busy worker with nothing queued behind its
trial gets one more, so that it starts it the moment it finishes the current one instead of
after a round trip to the master. The same rule as for idle workers, applied to the "open"
workers in the order ``prefetch_key`` gives (the executor's expected end of their current
trial): a spec of at least a group goes round-robin to the whole open group expected to
free first, a smaller one to single open workers. :meth:`take_back` moves a queued trial
that has not started back to the queue (the end of a campaign, when a worker idles).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import replace

from hyppo_hep.trial import TrialSpec

Key = tuple  # (set_id, trial)


class Slots:
    """The queue and the placement of trials on ``layout`` (a list of groups, each a list
    of worker ids; ids are whatever the executor addresses, e.g. MPI ranks)."""

    def __init__(self, layout: list[list[int]], trial_level: bool = True, depth: int = 1):
        self.layout = [list(g) for g in layout]
        self.group_size = max(len(g) for g in self.layout)
        self.trial_level = trial_level
        self.depth = depth  # the most trials a worker holds (running + queued behind it)
        self.prefetch_key = lambda w: w  # order of open workers: the executor's expected end of their trial
        self.group_of = {w: g for g, members in enumerate(self.layout) for w in members}
        self.queue: deque[TrialSpec] = deque()
        self.n_queued = 0  # trials in the queue
        self.todo: dict[int, deque] = {w: deque() for w in self.group_of}  # worker -> its keys, in run order
        self.where: dict[Key, tuple[int, int]] = {}  # placed trial -> (worker, seed)
        self.outstanding: dict[int, int] = {}  # set_id -> trials not back yet (queued or placed)
        self.specs: dict[int, TrialSpec] = {}  # set_id -> its last spec (to requeue trials of it)
        self.retired: set[int] = set()  # groups that get no more work
        self.set_size = 1  # the most trials a submitted spec had (a new set's size)
        # kept up to date as workers start and finish (not recounted: 8000 simulated
        # workers poll some 50,000 times)
        self._busy = [0] * len(self.layout)  # group -> its workers with something to run
        self._whole: set[int] = set(range(len(self.layout)))  # live groups with every worker idle
        self._partial: set[int] = set()  # idle workers of live, partly busy groups
        self._n_whole = sum(len(g) for g in self.layout)  # workers of the groups in _whole

    # --- capacity -----------------------------------------------------------------------------
    def idle(self) -> list[int]:
        """Workers of live groups with nothing to run: partly busy groups' first, then
        whole idle groups' in group order."""
        return sorted(self._partial) + [w for g in sorted(self._whole) for w in self.layout[g]]

    @property
    def n_idle(self) -> int:
        return len(self._partial) + self._n_whole

    @property
    def n_slots(self) -> int:
        """Sets in flight (queued or running) plus free capacity in sets: every fully idle
        group, and (trial level, sets no larger than a group) the idle workers that no
        queued trial will take, a set for each group's worth begun. Never 0, so that the
        driver still submits and poll() can say that nothing runs any more."""
        free = len(self._whole)
        if self.trial_level and self.set_size <= self.group_size:
            spare = self.n_idle + len(self._open()) - self.n_queued
            free = max(free, math.ceil(spare / self.group_size)) if spare > 0 else 0
        return max(1, len(self.outstanding) + free)

    def _started(self, w: int) -> None:
        """Worker ``w`` had nothing to run and now has."""
        g = self.group_of[w]
        if self._busy[g] == 0:
            self._leave_whole(g)
            self._partial.update(x for x in self.layout[g] if x != w)
        else:
            self._partial.discard(w)
        self._busy[g] += 1

    def _finished(self, w: int) -> None:
        """Worker ``w`` ran everything it had."""
        g = self.group_of[w]
        self._busy[g] -= 1
        if g in self.retired:
            return
        if self._busy[g] == 0:
            self._partial.difference_update(self.layout[g])
            if g not in self._whole:
                self._whole.add(g)
                self._n_whole += len(self.layout[g])
        else:
            self._partial.add(w)

    def retire(self, g: int) -> None:
        """Group ``g`` gets no more work (its workers finish what they hold)."""
        self.retired.add(g)
        self._leave_whole(g)
        self._partial.difference_update(self.layout[g])

    def _leave_whole(self, g: int) -> None:
        if g in self._whole:
            self._whole.discard(g)
            self._n_whole -= len(self.layout[g])

    # --- the queue -----------------------------------------------------------------------------
    def submit(self, spec: TrialSpec) -> None:
        if not spec.trials:
            return
        self.set_size = max(self.set_size, len(spec.trials))
        self.queue.append(spec)
        self.n_queued += len(spec.trials)
        self.outstanding[spec.set_id] = self.outstanding.get(spec.set_id, 0) + len(spec.trials)
        self.specs[spec.set_id] = spec

    def place(self) -> list[tuple[TrialSpec, list[int]]]:
        """Move queued trials onto idle workers; returns (spec of the trials placed, the
        worker of each trial) pairs, in the order to send them."""
        out = []
        while self.queue:
            spec = self.queue[0]
            workers = self._workers_for(spec) or self._prefetch_for(spec)
            if not workers:
                break
            n = len(workers)
            self.queue.popleft()
            self.n_queued -= n
            if n < len(spec.trials):
                self.queue.appendleft(replace(spec, trials=spec.trials[n:], seeds=spec.seeds[n:]))
            part = replace(spec, trials=spec.trials[:n], seeds=spec.seeds[:n])
            for trial, seed, w in zip(part.trials, part.seeds, workers):
                if not self.todo[w]:
                    self._started(w)
                self.todo[w].append((spec.set_id, trial))
                self.where[(spec.set_id, trial)] = (w, seed)
            out.append((part, workers))
        return out

    def _workers_for(self, spec: TrialSpec) -> list[int]:
        """The worker of each trial of ``spec`` that can start now (a prefix; [] to wait)."""
        n = len(spec.trials)
        if self._whole and (n >= self.group_size or not self.trial_level):
            members = self.layout[min(self._whole)]
            return [members[i % len(members)] for i in range(n)]
        if not self.trial_level or n > self.group_size:
            return []
        # partly busy groups' workers first, so that whole groups stay free for whole sets
        workers = heapq.nsmallest(n, self._partial)  # = sorted(...)[:n]; thousands idle in a tail at 8000
        for g in sorted(self._whole):
            if len(workers) >= n:
                break
            workers += self.layout[g][:n - len(workers)]
        return workers

    def _open(self) -> list[int]:
        """Busy workers of live groups that may take one more trial (prefetch; [] at depth 1)."""
        if self.depth <= 1 or not self.trial_level:
            return []
        return [w for w, todo in self.todo.items()
                if 0 < len(todo) < self.depth and self.group_of[w] not in self.retired]

    def _prefetch_for(self, spec: TrialSpec) -> list[int]:
        """Open workers for the trials of ``spec`` (a prefix; [] to wait): the idle-worker rule
        of _workers_for on workers that are busy with less than ``depth`` trials."""
        n = len(spec.trials)
        if n > self.group_size:
            return []
        # a set's trials run side by side, never one queued behind another of its set
        open_ = [w for w in self._open() if all(k[0] != spec.set_id for k in self.todo[w])]
        if not open_:
            return []
        key = self.prefetch_key
        is_open = set(open_)
        if n >= self.group_size:
            # a whole set: the open group whose last member is expected to free first
            groups = [g for g, members in enumerate(self.layout)
                      if g not in self.retired and len(members) >= n and all(w in is_open for w in members)]
            if groups:
                members = self.layout[min(groups, key=lambda g: max(key(w) for w in self.layout[g]))]
                return [members[i % len(members)] for i in range(n)]
        return sorted(open_, key=key)[:n]

    def take_back(self, key: Key) -> None:
        """Queued trial ``key`` never started on its worker: back to the front of the queue
        with its seed (it stays outstanding), for the next worker that can take it."""
        worker, _ = self.where[key]
        self.todo[worker].remove(key)
        if not self.todo[worker]:
            self._finished(worker)
        self.requeue([key])

    # --- results -------------------------------------------------------------------------------
    def done(self, key: Key) -> int:
        """Trial ``key`` is back; returns the worker that ran it."""
        worker, _ = self.where.pop(key)
        self.todo[worker].remove(key)
        if not self.todo[worker]:
            self._finished(worker)
        self._count_back(key[0])
        return worker

    def _count_back(self, set_id: int) -> None:
        left = self.outstanding.get(set_id, 0) - 1
        if left > 0:
            self.outstanding[set_id] = left
        else:
            self.outstanding.pop(set_id, None)

    def lose(self, worker: int) -> tuple[Key, int, list[Key]]:
        """``worker`` stopped answering: its current trial is given up (counted back, to be
        reported failed), its other trials go back to the front of the queue with their
        seeds, and its group is retired. Returns (the trial given up, its seed, the moved)."""
        todo = self.todo[worker]
        head = todo.popleft()
        _, seed = self.where.pop(head)
        moved = list(todo)
        todo.clear()
        self.retire(self.group_of[worker])
        self._finished(worker)
        self._count_back(head[0])
        self.requeue(moved)
        return head, seed, moved

    def requeue(self, keys: list[Key]) -> None:
        """Put placed trials back at the front of the queue, one spec per set, seeds
        unchanged (they stay outstanding: only the worker that runs them changes)."""
        by_set: dict[int, list[tuple[int, int]]] = {}
        for key in keys:
            _, seed = self.where.pop(key)
            by_set.setdefault(key[0], []).append((key[1], seed))
        for set_id, pairs in reversed(list(by_set.items())):
            spec = self.specs[set_id]
            self.n_queued += len(pairs)
            self.queue.appendleft(replace(spec, trials=tuple(t for t, _ in pairs), seeds=tuple(s for _, s in pairs)))
