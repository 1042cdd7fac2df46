"""Named messages kept on the kiosk for the next page of a chair without JavaScript (web_ui.messages).

The store alone, on a clock the tests move; the chair's page using it is in test_web_chair.py and
test_browser_chair.py.
"""

from __future__ import annotations

import threading

from chair_web import Seconds
from web_ui.messages import PER_SESSION, TOTAL, TTL_S, KeptMessages


def _store(**limits) -> tuple[KeptMessages, Seconds]:
    clock = Seconds()
    return KeptMessages(clock, **limits), clock


def test_web_messages_a_message_is_taken_once_by_its_own_session():
    kept, _ = _store()
    message_id = kept.keep("tablet-a", 7, "Pat Police: Arrived online at 10:03:12 recorded.")
    assert message_id and "Pat" not in message_id
    assert kept.take("tablet-b", message_id) is None  # another tablet, even with the id
    assert kept.take("tablet-a", message_id) == "Pat Police: Arrived online at 10:03:12 recorded."
    assert kept.take("tablet-a", message_id) is None
    assert len(kept) == 0


def test_web_messages_ids_are_random_and_unknown_ones_give_nothing():
    kept, _ = _store()
    ids = {kept.keep("tablet-a", 7, f"message {n}") for n in range(PER_SESSION)}
    assert len(ids) == PER_SESSION and all(len(i) >= 16 for i in ids)
    assert kept.take("tablet-a", "not-an-id") is None and len(kept) == PER_SESSION


def test_web_messages_expire_after_the_ttl():
    kept, clock = _store()
    old = kept.keep("tablet-a", 7, "Sam Social: Arrived in room at 09:31:07 recorded.")
    clock.advance(TTL_S - 1)
    young = kept.keep("tablet-a", 7, "Pat Police: Arrived online at 09:31:59 recorded.")
    clock.advance(1)
    assert kept.take("tablet-a", old) is None
    assert kept.take("tablet-a", young) == "Pat Police: Arrived online at 09:31:59 recorded."


def test_web_messages_expired_ones_go_without_being_asked_for():
    kept, clock = _store()
    kept.keep("tablet-a", 7, "Sam Social: Arrived in room at 09:31:07 recorded.")
    kept.drop_expired()
    assert len(kept) == 1
    clock.advance(TTL_S)
    kept.drop_expired()
    assert len(kept) == 0


def test_web_messages_a_session_keeps_only_its_latest_few():
    kept, _ = _store()
    ids = [kept.keep("tablet-a", 7, f"tap {n}") for n in range(PER_SESSION + 2)]
    other = kept.keep("tablet-b", 7, "theirs")
    assert [kept.take("tablet-a", i) for i in ids] == [None, None] + [f"tap {n}" for n in range(2, PER_SESSION + 2)]
    assert kept.take("tablet-b", other) == "theirs"


def test_web_messages_the_total_is_capped_oldest_first():
    kept, _ = _store()
    ids = [(f"tablet-{n}", kept.keep(f"tablet-{n}", 7, f"tap {n}")) for n in range(TOTAL + 3)]
    assert len(kept) == TOTAL
    assert [kept.take(s, i) for s, i in ids[:3]] == [None, None, None]
    assert kept.take(*ids[3]) == "tap 3" and kept.take(*ids[-1]) == f"tap {TOTAL + 2}"


def test_web_messages_a_purged_conference_takes_its_messages_and_keeps_none_after():
    kept, _ = _store()
    gone = kept.keep("tablet-a", 7, "Sam Social: Arrived in room at 09:31:07 recorded.")
    stays = kept.keep("tablet-a", 8, "Pat Police: Arrived online at 09:32:00 recorded.")
    kept.forget_conference(7)
    assert kept.take("tablet-a", gone) is None
    assert kept.keep("tablet-a", 7, "Mary Parent: Apologies at 09:33:00 recorded.") is None  # read before the purge
    assert kept.take("tablet-a", stays) == "Pat Police: Arrived online at 09:32:00 recorded."


def test_web_messages_a_purged_conferences_id_given_again_gets_named_messages_after_the_ttl():
    kept, clock = _store()
    kept.forget_conference(7)
    assert kept.keep("tablet-a", 7, "Sam Social: Arrived in room at 09:31:07 recorded.") is None
    clock.advance(TTL_S + 1)  # no request of the purge's time is still being answered
    again = kept.keep("tablet-a", 7, "Ann Other: Arrived in room at 11:00:00 recorded.")  # a new conference 7
    assert again is not None and kept.take("tablet-a", again) == "Ann Other: Arrived in room at 11:00:00 recorded."


def test_web_messages_an_ended_session_takes_its_messages():
    kept, _ = _store()
    mine = kept.keep("tablet-a", 7, "Sam Social: Arrived in room at 09:31:07 recorded.")
    theirs = kept.keep("tablet-b", 7, "Pat Police: Arrived online at 09:32:00 recorded.")
    kept.forget_session("tablet-a")
    assert kept.take("tablet-a", mine) is None
    assert kept.take("tablet-b", theirs) == "Pat Police: Arrived online at 09:32:00 recorded."


def test_web_messages_many_threads_keep_and_take_without_losing_one():
    kept, _ = _store(total=10_000)
    taken: list[str] = []

    def tablet(n: int) -> None:
        for k in range(200):
            message_id = kept.keep(f"tablet-{n}", 7, f"{n}/{k}")
            taken.append(kept.take(f"tablet-{n}", message_id))

    threads = [threading.Thread(target=tablet, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(f"{n}/{k}" for n in range(4) for k in range(200)) and len(kept) == 0
