"""Asynchronous jobs whose state is a pure function of creation time and the clock.

No timer runs per job: `Timeline.state_at(now)` walks the phase durations. A job whose input
carries `EMULATOR_FAIL` ends in the provider's failure state. The scheduler keeps a heap of
finish times so that side effects of finishing (refunds, callbacks) run exactly once, at the
first request or tick after the job's end, however many jobs there are.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import orjson

from emulators.engine import sharing

FAIL_MARKER = "EMULATOR_FAIL"

State = Any  # a provider's own state value: "PROCESSING", 2, "success", ...


_MARKER_BYTES = FAIL_MARKER.encode()


def carries_fail_marker(*values: Any) -> bool:
    """True when the marker occurs in any string inside `values` (nested lists/dicts included)."""
    try:  # in C: the marker has no character JSON escapes, so it shows in the text as in a string
        return _MARKER_BYTES in orjson.dumps(values, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # not JSON-native: walk it
        pass
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if FAIL_MARKER in value:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return False


@dataclass(slots=True)
class Job:
    """The engine's view of a provider job: its owner and its timeline (small: there may be
    100k of them)."""

    id: str
    kind: str
    owner: str
    created_at: float
    states: tuple[State, ...]  # the kind's phases, in order (a shared tuple)
    durations: tuple[float, ...]  # seconds spent in each of them
    end_state: State  # success or failure state, reached after the phases
    forced_state: State | None = None  # set by POST /_emulator/jobs/{id}; pins the job
    forced_at: float | None = None
    settled: bool = False  # finishing side effects done

    def __post_init__(self) -> None:
        # One tuple object for equal phase lists and durations: 100k jobs of a kind hold one,
        # not 100k (also after a state file is loaded, where each would be a fresh copy).
        self.states = sharing.values(tuple(self.states))
        self.durations = sharing.values(tuple(self.durations))

    @property
    def finishes_at(self) -> float:
        if self.forced_at is not None:
            return self.forced_at
        t = self.created_at
        for seconds in self.durations:  # added up as state_at does: the two agree to the last bit
            t += seconds
        return t

    def state_at(self, now: float) -> State:
        """The state at `now`: a phase until its end (creation time plus the durations so far,
        added in order), then the end state from exactly `finishes_at` on, so that a job the
        scheduler finds due is always over (never dropped while a rounding bit short of it)."""
        if self.forced_state is not None:
            return self.forced_state
        t = self.created_at
        for state, seconds in zip(self.states, self.durations):
            t += seconds
            if now < t:
                return state
        return self.end_state

    def progress_at(self, now: float) -> float:
        """0.0 .. 1.0 through the phases (1.0 once finished; a job pinned to a phase shows the
        progress at which that phase begins)."""
        total = sum(self.durations)
        if self.forced_state is not None:
            entered = self.entered_at(self.forced_state)
            if entered is None or self.forced_state == self.end_state or total <= 0:
                return 1.0
            return (entered - self.created_at) / total
        if total <= 0:
            return 1.0
        return max(0.0, min(1.0, (now - self.created_at) / total))

    def entered_at(self, state: State) -> float | None:
        """When the job entered `state` on its own timeline (None if it never does)."""
        t = self.created_at
        for phase_state, seconds in zip(self.states, self.durations):
            if phase_state == state:
                return t
            t += seconds
        return t if state == self.end_state else None


@dataclass(frozen=True)
class JobKind:
    """What a provider declares about one kind of job."""

    name: str
    phases: tuple[State, ...]  # non-terminal states, in order
    success: State
    failure: State
    terminal: tuple[State, ...] = ()  # further terminal states (e.g. a timeout)

    @property
    def states(self) -> tuple[State, ...]:
        return (*self.phases, self.success, self.failure, *self.terminal)

    def is_terminal(self, state: State) -> bool:
        return state == self.success or state == self.failure or state in self.terminal

    def new_job(
        self, job_id: str, owner: str, now: float, durations: Iterable[float], fail: bool
    ) -> Job:
        seconds = list(durations)
        if len(seconds) != len(self.phases):
            raise ValueError(f"{self.name}: {len(self.phases)} phase durations needed")
        return Job(id=job_id, kind=self.name, owner=owner, created_at=now, states=self.phases,
                   durations=tuple(float(s) for s in seconds),
                   end_state=self.failure if fail else self.success)


@dataclass
class Scheduler:
    """Finish times of unsettled jobs, earliest first."""

    heap: list[tuple[float, str]] = field(default_factory=list)

    def add(self, job: Job) -> None:
        heapq.heappush(self.heap, (job.finishes_at, job.id))

    def due(self, now: float) -> Iterable[str]:
        heap = self.heap
        while heap and heap[0][0] <= now:
            yield heapq.heappop(heap)[1]

    def rebuild(self, jobs: Iterable[Job]) -> None:
        self.heap = [(j.finishes_at, j.id) for j in jobs if not j.settled]
        heapq.heapify(self.heap)


FinishHook = Callable[[Job, float], None]
