"""Leader election per group, as zyre runs it: an echo wave with extinction (spec/election.md).

Every contesting node starts a *wave* named by its own UUID; a node joins the wave of the lowest
UUID it has seen (its *current active wave*, ``caw``), remembers who told it first (its *father*),
passes the wave on to its other group peers and, once it has heard the wave from every group peer,
echoes it to its father. The initiator that hears its wave from all its peers is the leader and
announces it with LEADER, which every node passes on once; a node that has heard LEADER from every
group peer reports the leader (spec/election.md#state-machine).

UUIDs are strings as zyre prints them (32 upper-case hex digits): "lowest" is ``<`` on those
strings, zyre's ``strcmp``. The core is sans-IO: the node tells it about membership changes
(``peer_joined``, ``peer_left``, ``peer_exited``) and ELECT/LEADER messages, always with the group's
peers as it sees them *after* the change (``members``, without itself); it answers with effects.

``zyre_strict=True`` does exactly what zyre does. The default adds what zyre lacks
(spec/election.md#zre-ref-additions): a non-contesting node also forgets a running wave when the
group changes, a leader or a member that goes away mid-wave (LEAVE or EXIT) starts a new election,
a lone contester is its own leader, and LEADER is passed on with the leader it names.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

#: A wave that made no progress this long (seconds) is restarted (spec/election.md#zre-ref-additions)
DEFAULT_RESTART_AFTER = 2.0


@dataclass(frozen=True, slots=True)
class SendElect:
    """Send ELECT(group, challenger) to each peer in ``to``."""

    to: tuple[str, ...]
    group: str
    challenger: str


@dataclass(frozen=True, slots=True)
class SendLeader:
    """Send LEADER(group, leader) to each peer in ``to``."""

    to: tuple[str, ...]
    group: str
    leader: str


@dataclass(frozen=True, slots=True)
class LeaderDecided:
    """The election in ``group`` is over: ``leader`` won (may be this node). zyre's LEADER event."""

    group: str
    leader: str


ElectionEffect = SendElect | SendLeader | LeaderDecided


@dataclass(slots=True)
class Wave:
    """One node's view of the running election in one group (zyre_election_t)."""

    caw: str | None = None  # current active wave: the lowest challenger seen
    father: str | None = None  # who brought us the wave (None: our own wave)
    erec: int = 0  # ELECT(caw) received
    lrec: int = 0  # LEADER received
    leader: str | None = None  # last LEADER's leader id
    # zre-ref's additions (not zyre_strict): who sent them, and when the wave last moved
    heard: set[str] = field(default_factory=set, compare=False)
    lheard: set[str] = field(default_factory=set, compare=False)
    answered: bool = field(default=False, compare=False)
    last_progress: float = field(default=0.0, compare=False)


class Elections:
    """One node's elections, in every group (spec/election.md#state-machine)."""

    def __init__(self, me: str, *, zyre_strict: bool = False,
                 restart_after: float = DEFAULT_RESTART_AFTER) -> None:
        self.me = me
        self.zyre_strict = zyre_strict
        self.restart_after = restart_after
        self._contest: set[str] = set()
        self._waves: dict[str, Wave] = {}
        self._leaders: dict[str, str] = {}

    # -- queries ----------------------------------------------------------------------------------
    def set_contest(self, group: str) -> None:
        """This node stands for leader in ``group`` (zyre_set_contest_in_group)."""
        self._contest.add(group)

    def contests(self, group: str) -> bool:
        return group in self._contest

    def leader(self, group: str) -> str | None:
        """The leader elected last in ``group`` and still there, or None."""
        return self._leaders.get(group)

    def wave(self, group: str) -> Wave | None:
        """The running election's state in ``group`` (for tests and logs)."""
        return self._waves.get(group)

    # -- membership -------------------------------------------------------------------------------
    def left(self, group: str) -> None:
        """This node left ``group``: its election there is over for it."""
        self._waves.pop(group, None)
        self._leaders.pop(group, None)

    def peer_joined(self, group: str, peer: str, members: Collection[str], *,
                    in_group: bool, now: float = 0.0) -> list[ElectionEffect]:
        """``peer`` sent JOIN ``group`` (not on HELLO: zyre starts no election then)."""
        if not in_group:
            return []
        if group in self._contest:
            return self._initiate(group, members, now)
        if not self.zyre_strict:
            self._waves.pop(group, None)
        return []

    def peer_left(self, group: str, peer: str, members: Collection[str], *,
                  in_group: bool, now: float = 0.0) -> list[ElectionEffect]:
        """``peer`` sent LEAVE ``group``."""
        return self._peer_gone(group, peer, members, in_group=in_group, exited=False, now=now)

    def peer_exited(self, group: str, peer: str, members: Collection[str], *,
                    in_group: bool, now: float = 0.0) -> list[ElectionEffect]:
        """``peer``, a member of ``group``, went away (EXIT); zyre does nothing here."""
        return self._peer_gone(group, peer, members, in_group=in_group, exited=True, now=now)

    def _peer_gone(self, group: str, peer: str, members: Collection[str], *, in_group: bool,
                   exited: bool, now: float) -> list[ElectionEffect]:
        was_leader = self._leaders.get(group) == peer
        if was_leader:
            del self._leaders[group]
        if not in_group:
            return []
        if self.zyre_strict:
            # zyre: only a LEAVE from the leader it knows restarts the election
            if exited or not was_leader:
                return []
            self._waves.pop(group, None)
            return self._initiate(group, members, now) if group in self._contest else []
        running = self._waves.pop(group, None) is not None
        if (was_leader or running) and group in self._contest:
            return self._initiate(group, members, now)
        return []

    def _initiate(self, group: str, members: Collection[str],
                  now: float = 0.0) -> list[ElectionEffect]:
        """Start our own wave: caw = us, ELECT to every group peer."""
        self._waves[group] = Wave(caw=self.me, last_progress=now)
        if not members and not self.zyre_strict:
            return self._decide(group, self.me)  # alone: nobody to ask
        return [SendElect(_sorted(members), group, self.me)]

    # -- messages ---------------------------------------------------------------------------------
    def on_elect(self, group: str, sender: str, challenger: str, members: Collection[str],
                 now: float = 0.0, *, in_group: bool = True) -> list[ElectionEffect]:
        """ELECT(group, challenger) from ``sender``."""
        if self.zyre_strict:
            return self._zyre_elect(group, sender, challenger, members)
        if not in_group or sender not in members or (
                challenger != self.me and challenger not in members):
            return []  # not our group, or from or for a node not (or no longer) in it
        wave, out = self._join_if_better(group, sender, challenger, members)
        if wave.caw != challenger:
            return out  # a worse challenger is ignored
        wave.heard.add(sender)
        wave.erec = len(wave.heard)
        wave.last_progress = now
        if not wave.answered and wave.heard.issuperset(members):
            wave.answered = True
            out.extend(self._wave_complete(wave, group, challenger, members))
        return out

    def _join_if_better(self, group: str, sender: str, challenger: str,
                        members: Collection[str]) -> tuple[Wave, list[ElectionEffect]]:
        """A challenger below our wave (or the first one): join its wave with ``sender`` as
        father and pass it on to every other member."""
        wave = self._waves.setdefault(group, Wave())
        if wave.caw is not None and challenger >= wave.caw:
            return wave, []
        self._waves[group] = wave = Wave(caw=challenger, father=sender)
        others = _sorted(p for p in members if p != sender)
        return wave, [SendElect(others, group, challenger)] if others else []

    def _wave_complete(self, wave: Wave, group: str, challenger: str,
                       members: Collection[str]) -> list[ElectionEffect]:
        """Every member took part: our own wave makes us leader, another's is echoed to the father."""
        if challenger == self.me:
            return [SendLeader(_sorted(members), group, self.me)]
        return [SendElect((wave.father,), group, challenger)] if wave.father is not None else []

    def on_leader(self, group: str, sender: str, leader: str, members: Collection[str],
                  now: float = 0.0, *, in_group: bool = True) -> list[ElectionEffect]:
        """LEADER(group, leader) from ``sender``."""
        if self.zyre_strict:
            return self._zyre_leader(group, sender, leader, members)
        if not in_group or sender not in members or (leader != self.me and leader not in members):
            return []
        wave = self._waves.setdefault(group, Wave())
        if (wave.caw is not None and leader > wave.caw) or sender in wave.lheard:
            return []  # our lower wave still runs; or a repeat
        out: list[ElectionEffect] = []
        if not wave.lheard and leader != self.me:
            out.append(SendLeader(_sorted(members), group, leader))  # pass it on once
        wave.caw = leader
        wave.lheard.add(sender)
        wave.lrec, wave.leader, wave.last_progress = len(wave.lheard), leader, now
        if wave.lheard.issuperset(members):
            out.extend(self._decide(group, leader))
        return out

    def tick(self, now: float, members: Callable[[str], Collection[str]]) -> list[ElectionEffect]:
        """Restart our election where a wave made no progress for ``restart_after`` seconds
        (spec/election.md#zre-ref-additions); ``members(group)`` gives a group's peers."""
        if self.zyre_strict:
            return []
        out: list[ElectionEffect] = []
        for group, wave in list(self._waves.items()):
            if wave.last_progress + self.restart_after > now:  # as next_deadline computes it
                continue
            del self._waves[group]
            if group in self._contest:
                out.extend(self._initiate(group, members(group), now))
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has work next."""
        if self.zyre_strict or not self._waves:
            return None
        return min(w.last_progress for w in self._waves.values()) + self.restart_after

    # -- zyre, exactly (zyre_node.c, ELECT and LEADER handlers) --------------------------------------
    def _zyre_elect(self, group: str, sender: str, challenger: str,
                    members: Collection[str]) -> list[ElectionEffect]:
        wave, out = self._join_if_better(group, sender, challenger, members)
        if wave.caw == challenger:
            wave.erec += 1
            if wave.erec == len(members):  # zyre compares the count with ==
                out.extend(self._wave_complete(wave, group, challenger, members))
        return out

    def _zyre_leader(self, group: str, sender: str, leader: str,
                     members: Collection[str]) -> list[ElectionEffect]:
        out: list[ElectionEffect] = []
        wave = self._waves.setdefault(group, Wave())
        if leader != self.me and wave.lrec == 0 and wave.caw is not None:
            # passed on once, naming its own caw; with none, zyre's assert aborts the process:
            # here it is counted and not passed on
            out.append(SendLeader(_sorted(members), group, wave.caw))
        wave.lrec += 1
        wave.leader = leader
        if wave.lrec == len(members):
            out.extend(self._decide(group, leader))
        return out

    def _decide(self, group: str, leader: str) -> list[ElectionEffect]:
        self._waves.pop(group, None)
        self._leaders[group] = leader
        return [LeaderDecided(group, leader)]


def _sorted(peers: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(peers))
