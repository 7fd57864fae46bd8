"""OrderedAcks: finished messages acknowledged together only below the lowest delivery still in hand."""

from __future__ import annotations

from dataclasses import dataclass, field

from taskplatform.messaging.ordered_acks import OrderedAcks


@dataclass
class _Channel:
    acks: list[tuple[int, bool]] = field(default_factory=list)


@dataclass
class _Message:
    channel: _Channel
    delivery_tag: int

    def ack(self, multiple: bool = False) -> None:
        self.channel.acks.append((self.delivery_tag, multiple))


def test_finished_messages_below_the_lowest_in_hand_take_one_multiple_ack_and_the_others_their_own() -> None:
    channel = _Channel()
    messages = [_Message(channel, tag) for tag in range(1, 7)]
    acks = OrderedAcks()
    for message in messages:
        acks.started(message)
    done = [messages[0], messages[1], messages[4]]  # 3 is still uploading; 4 failed and was requeued
    for message in [*done, messages[3]]:
        acks.finished(message)
    acks.ack(done)
    # A multiple ack up to 5 would have acknowledged 3 before its upload finished.
    assert sorted(channel.acks) == [(2, True), (5, False)]
    acks.finished(messages[2])
    acks.finished(messages[5])
    acks.ack([messages[2], messages[5]])
    assert sorted(channel.acks)[-1] == (6, True) and acks.in_hand == {}


def test_each_channel_is_acknowledged_on_its_own() -> None:
    """A reconnection starts a new channel whose tags count from 1 again."""
    old, new = _Channel(), _Channel()
    messages = [_Message(old, 7), _Message(new, 1), _Message(new, 2)]
    acks = OrderedAcks()
    for message in messages:
        acks.started(message)
    for message in messages:
        acks.finished(message)
    acks.ack(messages)
    assert old.acks == [(7, True)] and new.acks == [(2, True)]
