"""Between a ZRE node and the election core (spec/election.md#messages).

:class:`~zre_ref.zre.election.Elections` decides; these functions translate for it: which ZRE
message is which election input (:func:`election_input`), and which message carries each of its
sends (:func:`election_message`). :class:`~zre_ref.zre.node.NodeCore` sends them and turns
:class:`~zre_ref.zre.election.LeaderDecided` into the LEADER event.
"""

from __future__ import annotations

from collections.abc import Collection

from .election import ElectionEffect, Elections, SendElect, SendLeader
from .messages import Elect, Join, Leader, Leave, ZreMessage

__all__ = ["election_input", "election_message"]


def election_input(elections: Elections, msg: Join | Leave | Elect | Leader, sender: str,
                   members: Collection[str], *, in_group: bool,
                   now: float) -> list[ElectionEffect]:
    """Feed ``msg`` from peer ``sender`` to ``elections``; ``members``: the peers in its group,
    ``in_group``: whether we are in it."""
    if isinstance(msg, Join):
        return elections.peer_joined(msg.group, sender, members, in_group=in_group, now=now)
    if isinstance(msg, Leave):
        return elections.peer_left(msg.group, sender, members, in_group=in_group, now=now)
    if isinstance(msg, Elect):
        return elections.on_elect(msg.group, sender, msg.challenger_id, members, now,
                                  in_group=in_group)
    return elections.on_leader(msg.group, sender, msg.leader_id, members, now, in_group=in_group)


def election_message(send: SendElect | SendLeader) -> ZreMessage:
    """The ELECT or LEADER message for one of the election core's sends (sequence 0: each
    peer's is set when it is sent)."""
    if isinstance(send, SendElect):
        return Elect(sequence=0, group=send.group, challenger_id=send.challenger)
    return Leader(sequence=0, group=send.group, leader_id=send.leader)
