"""TimerWheel (zre_ref/aio/timerwheel.py): many owners' exact deadlines, one loop timer.

Most tests drive it on a fake loop whose clock only the test moves, so firing order and times
are exact and nothing waits; the last ones run it, and ZRE nodes, on a real asyncio loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from zre_ref.aio.loopshared import LoopShared
from zre_ref.aio.timerwheel import TimerWheel
from zre_ref.aio.zre import ZreNode


class FakeHandle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """``time``, ``call_at`` and ``call_exception_handler``; ``advance(t)`` runs the timers due
    by ``t`` one at a time, earliest first, with the clock at each one's time (as a loop that
    sleeps until its next timer), then leaves the clock at ``t``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.handles: list[FakeHandle] = []
        self.errors: list[dict[str, Any]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle(when, callback)
        self.handles.append(handle)
        return handle

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.errors.append(context)

    def armed(self) -> list[FakeHandle]:
        self.handles = [h for h in self.handles if not h.cancelled]
        return self.handles

    def advance(self, to: float) -> None:
        for _ in range(10_000):
            due = [h for h in self.armed() if h.when <= to]
            if not due:
                self.now = max(self.now, to)
                return
            first = min(due, key=lambda h: h.when)
            self.handles.remove(first)
            self.now = max(self.now, first.when)
            first.callback()
        raise AssertionError("timers keep firing")


def wheel_on_fake() -> tuple[FakeLoop, TimerWheel]:
    loop = FakeLoop()
    return loop, TimerWheel(loop)  # type: ignore[arg-type]  # the three methods it uses


def recorder(loop: FakeLoop, calls: list[tuple[str, float]], name: str) -> Callable[[], None]:
    return lambda: calls.append((name, loop.now))


def assert_armed_at_earliest(loop: FakeLoop, wheel: TimerWheel, earliest: float | None) -> None:
    """Exactly one loop timer, at the earliest live deadline (none without deadlines)."""
    armed = loop.armed()
    assert [h.when for h in armed] == ([] if earliest is None else [earliest])
    assert wheel.armed_at() == earliest
    assert wheel.entry_count() <= 2 * wheel.deadline_count()


def test_owners_run_at_their_own_deadlines_in_order() -> None:
    loop, wheel = wheel_on_fake()
    calls: list[tuple[str, float]] = []
    for name, when in (("c", 3.0), ("a", 1.0), ("b", 2.0)):
        wheel.set(name, when, recorder(loop, calls, name))
    assert_armed_at_earliest(loop, wheel, 1.0)
    loop.advance(10.0)
    assert calls == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert_armed_at_earliest(loop, wheel, None)
    assert wheel.deadline_count() == 0


def test_moving_a_deadline_earlier_and_later() -> None:
    loop, wheel = wheel_on_fake()
    calls: list[tuple[str, float]] = []
    wheel.set("a", 5.0, recorder(loop, calls, "a"))
    wheel.set("b", 6.0, recorder(loop, calls, "b"))
    wheel.set("b", 2.0, recorder(loop, calls, "b"))  # earlier: the loop timer moves with it
    assert_armed_at_earliest(loop, wheel, 2.0)
    wheel.set("b", 8.0, recorder(loop, calls, "b"))  # later than a: back to a's
    assert_armed_at_earliest(loop, wheel, 5.0)
    loop.advance(7.9)
    assert calls == [("a", 5.0)]  # b's old deadlines (6, 2) are gone
    loop.advance(8.0)
    assert calls == [("a", 5.0), ("b", 8.0)]


def test_removed_owner_is_not_called_and_the_timer_follows() -> None:
    loop, wheel = wheel_on_fake()
    calls: list[tuple[str, float]] = []
    wheel.set("a", 1.0, recorder(loop, calls, "a"))
    wheel.set("b", 2.0, recorder(loop, calls, "b"))
    wheel.remove("a")
    assert_armed_at_earliest(loop, wheel, 2.0)
    wheel.remove("a")  # twice: nothing
    wheel.remove("b")
    assert_armed_at_earliest(loop, wheel, None)
    loop.advance(5.0)
    assert calls == []
    assert wheel.entry_count() == 0


def test_an_owner_that_raises_does_not_stop_the_others() -> None:
    loop, wheel = wheel_on_fake()
    calls: list[tuple[str, float]] = []

    def boom() -> None:
        raise RuntimeError("owner b failed")

    wheel.set("a", 1.0, recorder(loop, calls, "a"))
    wheel.set("b", 1.0, boom)
    wheel.set("c", 1.0, recorder(loop, calls, "c"))
    wheel.set("d", 2.0, recorder(loop, calls, "d"))
    loop.advance(3.0)
    assert calls == [("a", 1.0), ("c", 1.0), ("d", 2.0)]
    assert len(loop.errors) == 1
    assert str(loop.errors[0]["exception"]) == "owner b failed"


def test_callbacks_reschedule_and_remove_within_a_firing() -> None:
    """A deadline set by a callback, even one already due, runs in a later loop timer, never in
    the same call (as with one loop timer per owner); an owner removed by an earlier callback
    in the same firing is not called."""
    loop, wheel = wheel_on_fake()
    calls: list[tuple[str, float]] = []

    def a() -> None:
        calls.append(("a", loop.now))
        wheel.remove("b")
        if len(calls) < 3:
            wheel.set("a", loop.now, a)  # due at once: the next firing

    wheel.set("a", 1.0, a)
    wheel.set("b", 1.0, recorder(loop, calls, "b"))
    loop.now = 1.0
    [first] = loop.armed()
    loop.handles.remove(first)
    first.callback()  # one firing: a once, b removed by it, a's new deadline not yet
    assert calls == [("a", 1.0)]
    assert wheel.deadline_count() == 1
    assert_armed_at_earliest(loop, wheel, 1.0)
    loop.advance(1.0)  # the later firings, at the same instant
    assert calls == [("a", 1.0)] * 3
    assert_armed_at_earliest(loop, wheel, None)


def test_stale_entries_stay_bounded() -> None:
    """Moving one deadline again and again never grows the heap past twice the live owners."""
    loop, wheel = wheel_on_fake()
    for owner in range(10):
        wheel.set(owner, 100.0 + owner, lambda: None)
    peak = 0
    for i in range(5000):
        wheel.set(i % 3, 50.0 + (i % 97), lambda: None)
        peak = max(peak, wheel.entry_count())
    assert wheel.deadline_count() == 10
    assert peak <= 20
    for owner in range(10):
        wheel.remove(owner)
        assert wheel.entry_count() <= 2 * wheel.deadline_count()
    assert wheel.entry_count() == 0
    assert_armed_at_earliest(loop, wheel, None)


def test_many_owners_with_equal_deadlines_run_in_one_firing_in_set_order() -> None:
    loop, wheel = wheel_on_fake()
    calls: list[tuple[str, float]] = []
    names = [f"n{i}" for i in range(99)]
    for name in reversed(names):
        wheel.set(name, 2.0, recorder(loop, calls, name))
    made = len(loop.handles)
    loop.advance(2.0)
    assert calls == [(name, 2.0) for name in reversed(names)]
    assert made == 1  # one loop timer for all of them


def test_fires_owners_up_to_the_time_it_was_armed_at() -> None:
    """asyncio runs a timer up to its clock resolution early: the owner it was armed for is due."""
    loop, wheel = wheel_on_fake()
    calls: list[tuple[str, float]] = []
    wheel.set("a", 1.0, recorder(loop, calls, "a"))
    wheel.set("b", 1.0 + 1e-12, recorder(loop, calls, "b"))
    loop.now = 1.0 - 1e-12
    loop.handles.pop().callback()  # the loop runs it a hair early
    assert [name for name, _ in calls] == ["a"]
    assert_armed_at_earliest(loop, wheel, 1.0 + 1e-12)


# -- property test against a reference model ---------------------------------------------------

OWNERS = 5
#: what an owner does when called: nothing, or set its next deadline that far ahead
REACTIONS = (None, 0.25, 1.0)

operation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, OWNERS - 1), st.integers(-2, 12)),
    st.tuples(st.just("remove"), st.integers(0, OWNERS - 1), st.just(0)),
    st.tuples(st.just("advance"), st.just(0), st.integers(0, 8)),
)


class Model:
    """The specification: owner -> (deadline, set order); due owners run at their deadline (or
    at once if it has passed), earliest first, ties in set order; what they set runs later."""

    def __init__(self, reactions: list[float | None]) -> None:
        self.now = 0.0
        self.seq = 0
        self.deadlines: dict[int, tuple[float, int]] = {}
        self.reactions = reactions
        self.calls: list[tuple[int, float]] = []

    def set(self, owner: int, when: float) -> None:
        self.seq += 1
        self.deadlines[owner] = (when, self.seq)

    def advance(self, to: float) -> None:
        while self.deadlines:
            earliest = min(when for when, _ in self.deadlines.values())
            if earliest > to:
                break
            self.now = max(self.now, earliest)
            due = sorted((d, owner) for owner, d in self.deadlines.items() if d[0] <= self.now)
            for d, owner in due:
                if self.deadlines.get(owner) != d:
                    continue
                del self.deadlines[owner]
                self.calls.append((owner, self.now))
                reaction = self.reactions[owner]
                if reaction is not None:
                    self.set(owner, self.now + reaction)
        self.now = max(self.now, to)


@settings(max_examples=300, deadline=None)
@given(reactions=st.lists(st.sampled_from(REACTIONS), min_size=OWNERS, max_size=OWNERS),
       ops=st.lists(operation, max_size=60))
def test_wheel_equals_the_reference_model(reactions: list[float | None],
                                          ops: list[tuple[str, int, int]]) -> None:
    loop, wheel = wheel_on_fake()
    model = Model(reactions)
    calls: list[tuple[int, float]] = []

    def callback_of(owner: int) -> Callable[[], None]:
        def called() -> None:
            calls.append((owner, loop.now))
            reaction = reactions[owner]
            if reaction is not None:
                wheel.set(owner, loop.now + reaction, called)
        return called

    for kind, owner, amount in ops:
        if kind == "set":  # on a quarter-second grid (exact floats, many ties), past ones too
            when = loop.now + amount * 0.25
            wheel.set(owner, when, callback_of(owner))
            model.set(owner, when)
        elif kind == "remove":
            wheel.remove(owner)
            model.deadlines.pop(owner, None)
        else:
            loop.advance(loop.now + amount * 0.25)
            model.advance(model.now + amount * 0.25)
        assert calls == model.calls
        assert loop.now == model.now
        earliest = min((when for when, _ in model.deadlines.values()), default=None)
        assert_armed_at_earliest(loop, wheel, earliest)
        assert wheel.deadline_count() == len(model.deadlines)
    assert loop.errors == []


# -- on a real loop ----------------------------------------------------------------------------

def test_on_a_real_loop_owners_run_in_order_and_not_early() -> None:
    async def main() -> list[tuple[str, float, float]]:
        loop = asyncio.get_running_loop()
        wheel = TimerWheel(loop)
        done = loop.create_future()
        calls: list[tuple[str, float, float]] = []
        start = loop.time()
        plan = {"c": 0.03, "a": 0.01, "b": 0.02, "a2": 0.01}

        def owner(name: str) -> Callable[[], None]:
            def called() -> None:
                calls.append((name, start + plan[name], loop.time()))
                if len(calls) == len(plan):
                    done.set_result(None)
            return called

        for name, offset in plan.items():
            wheel.set(name, start + offset, owner(name))
        await asyncio.wait_for(done, 5)
        return calls

    calls = asyncio.run(main())
    assert [name for name, _, _ in calls] == ["a", "a2", "b", "c"]
    assert all(ran >= deadline - 1e-6 for _, deadline, ran in calls)


def test_zre_nodes_on_one_loop_share_one_timer_and_leave_it_on_stop() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        wheel = LoopShared.of(loop).node_timers(loop)
        nodes = [ZreNode(f"n{i}", beacon=False) for i in range(3)]
        for node in nodes:
            await node.start()
        assert wheel.deadline_count() == 3
        deadlines = [node._core.next_deadline() for node in nodes]
        assert [node._timer_at for node in nodes] == deadlines
        assert wheel.armed_at() == min(d for d in deadlines if d is not None)
        for node in nodes:
            await node.stop()
        assert wheel.deadline_count() == 0 and wheel.armed_at() is None

    asyncio.run(asyncio.wait_for(main(), 30))


def test_each_loop_has_its_own_node_timer() -> None:
    async def wheel_of_this_loop() -> TimerWheel:
        loop = asyncio.get_running_loop()
        return LoopShared.of(loop).node_timers(loop)

    first = asyncio.run(wheel_of_this_loop())
    second = asyncio.run(wheel_of_this_loop())
    assert first is not second
