"""Quorum rules D3-D5, table-driven from DOMAIN.md."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from kiosk.conference.errors import InvalidInput
from kiosk.conference.model import Agency, Role
from kiosk.conference.presence import replay
from kiosk.conference.quorum import assess, judge
from kiosk.conference.scenario import Scenario
from kiosk.conference.settings import ConferenceSettings
from kiosk.errors import ConfigError

QUORATE_CSC_HEALTH_POLICE = "Quorate: children's social care, health and police present"
NEEDS_ONE = "Not quorate: needs one more agency with direct contact besides children's social care"
NO_CSC = "Not quorate: children's social care is not present"

# Who is present: (role, agency or None, direct_contact, mode)
SW = ("social worker", None, True, "in_person")
TM = ("team manager", None, False, "virtual")
HV = ("health visitor", None, True, "virtual")
GP = ("gp", None, True, "virtual")
NURSE = ("school nurse", None, True, "in_person")
POLICE = ("police officer", None, True, "virtual")
POLICE_NO_CONTACT = ("police officer", None, False, "virtual")
SCHOOL = ("school", None, True, "virtual")
HOUSING = ("housing officer", None, True, "in_person")
CHAIR = ("chair", "childrens_social_care", False, "in_person")
NOTE_TAKER = ("note-taker", "childrens_social_care", False, "in_person")
PARENT = ("parent", None, None, "in_person")
CHILD = ("child", None, None, "in_person")
ADVOCATE = ("advocate", None, None, "in_person")
INTERPRETER = ("interpreter", None, None, "virtual")
OTHER_PRO = ("other professional", "other", True, "virtual")


def present(people, settings=ConferenceSettings()):
    """A scenario where everyone in ``people`` arrived before the start."""
    s = Scenario(settings=settings)
    for n, (role, agency, contact, mode) in enumerate(people):
        who = s.invite(f"Person {n}", role, agency, direct_contact=contact)
        s.add("arrived", who, -10 + n * 0.1, mode=mode)
    return s


@pytest.mark.parametrize("people, overrides, quorate, reason", [
    # D3: social care and two other agencies with direct contact, in person...
    ([SW, ("health visitor", None, True, "in_person"), ("police officer", None, True, "in_person")], {}, True,
     QUORATE_CSC_HEALTH_POLICE),
    # ...or virtually: both count.
    ([("social worker", None, True, "virtual"), HV, POLICE], {}, True, QUORATE_CSC_HEALTH_POLICE),
    # Several people from one agency count once (D2).
    ([SW, HV, GP], {}, False, NEEDS_ONE),
    ([SW, TM, HV], {}, False, NEEDS_ONE),
    # Health counted separately when configured (Swindon).
    ([SW, HV, GP], {"health_as_one_agency": False}, True,
     "Quorate: children's social care, health (health visitor) and health (GP) present"),
    ([SW, HV, NURSE], {"health_as_one_agency": False}, True,
     "Quorate: children's social care, health (health visitor) and health (school nurse) present"),
    # Parents, the child, advocates, interpreters never count.
    ([SW, POLICE, PARENT, CHILD, ADVOCATE, INTERPRETER], {}, False, NEEDS_ONE),
    # The chair and the note-taker do not count, even from children's social care.
    ([CHAIR, NOTE_TAKER, HV, POLICE], {}, False, NO_CSC),
    ([HV, POLICE, SCHOOL, HOUSING], {}, False, NO_CSC),
    # Other agencies count only with direct contact; social care counts without the flag.
    ([SW, HV, POLICE_NO_CONTACT], {}, False, NEEDS_ONE),
    ([TM, HV, POLICE], {}, True, QUORATE_CSC_HEALTH_POLICE),
    ([SW, HV, OTHER_PRO], {}, True, "Quorate: children's social care, health and other agency present"),
    # The minimum is a setting.
    ([SW, HV, POLICE], {"min_other_agencies": 3}, False, NEEDS_ONE),
    ([SW, HV, POLICE, SCHOOL], {"min_other_agencies": 3}, True,
     "Quorate: children's social care, health, police and education present"),
    ([SW, HV], {"min_other_agencies": 1}, True, "Quorate: children's social care and health present"),
    ([], {}, False, "Not quorate: children's social care is not present; needs two more agencies with direct "
                    "contact besides children's social care"),
])
def test_conference_quorum_rule_table(people, overrides, quorate, reason):
    view = present(people, ConferenceSettings(**overrides)).assess(0)
    assert (view.quorate, view.reason) == (quorate, reason)


def test_conference_quorum_counts_everyone_present_by_mode_and_lists_agencies():
    view = present([SW, CHAIR, PARENT, PARENT[:1] + (None, None, "virtual"), HV, POLICE]).assess(0)
    assert (view.in_person, view.virtual) == (3, 3)
    assert view.agencies == ("children's social care", "health", "police")
    assert view.childrens_social_care and view.needed == 0
    assert view.to_dict()["agencies"] == ["children's social care", "health", "police"]


def _quorate_meeting():
    s = Scenario()
    sw, hv, police = s.invite("Sam", "social worker"), s.invite("Hana", "health visitor", direct_contact=True), \
        s.invite("Pat", "police officer", direct_contact=True)
    s.add("arrived", sw, -5, mode="in_person")
    s.add("arrived", hv, -4, mode="virtual")
    s.add("arrived", police, -3, mode="virtual")
    return s, sw, hv, police


def test_conference_quorum_leaving_early_breaks_it_at_that_moment():
    s, _, _, police = _quorate_meeting()
    s.add("left", police, 30, agreed=True)
    assert s.assess(29.9).quorate
    assert not s.assess(30).quorate and s.assess(30).reason == NEEDS_ONE
    tl = s.timeline()
    assert [c.label for c in tl.changes] == ["quorate", "quorum lost"]
    assert tl.lost_at == (s.at(30),) and tl.quorate_at_start is True
    assert [(p.start, p.end, p.decision) for p in tl.inquorate_periods] == [(s.at(30), None, None)]


def test_conference_quorum_lost_connection_breaks_it_and_rejoining_restores_it():
    s, _, hv, _ = _quorate_meeting()
    s.add("lost_connection", hv, 20)
    s.add("rejoined", hv, 26)
    assert s.assess(19).quorate
    view = s.assess(21)
    assert not view.quorate and (view.in_person, view.virtual) == (1, 1)
    assert s.assess(26).quorate
    tl = s.timeline()
    assert [(c.label, c.at) for c in tl.changes] == [
        ("quorate", s.at(-3)), ("quorum lost", s.at(20)), ("quorum regained", s.at(26))]
    assert tl.regained_at == (s.at(26),)
    assert [(p.start, p.end) for p in tl.inquorate_periods] == [(s.at(20), s.at(26))]
    assert [p.start for p in tl.undecided_periods] == [s.at(20)]


def test_conference_quorum_could_not_rejoin_keeps_it_lost():
    s, _, hv, _ = _quorate_meeting()
    s.add("lost_connection", hv, 20)
    s.add("could_not_rejoin", hv, 25, emailed_chair=True)
    assert not s.assess(60).quorate
    assert [c.label for c in s.timeline().changes] == ["quorate", "quorum lost"]


def test_conference_quorum_correction_voids_an_arrival_entirely():
    s = Scenario()
    sw, hv, police = s.invite("Sam", "social worker"), s.invite("Hana", "health visitor", direct_contact=True), \
        s.invite("Pat", "police officer", direct_contact=True)
    s.add("arrived", sw, -5, mode="in_person")
    s.add("arrived", hv, -4, mode="virtual")
    wrong = s.add("arrived", police, -3, mode="virtual")   # the chair tapped the wrong name
    assert s.assess(0).quorate
    s.add("correction", None, 2, event_id=wrong.id, reason="tapped the wrong name")
    assert not s.assess(0).quorate           # voided as if never recorded, also before the correction
    assert s.timeline().changes == ()
    # the voided arrival no longer blocks recording the real one
    s.add("arrived", police, 5, mode="virtual")
    assert s.assess(5).quorate


def test_conference_quorum_departure_after_a_voided_arrival_is_skipped():
    s, _, _, police = _quorate_meeting()
    s.add("left", police, 10, agreed=False)
    arrival = next(e for e in s.events if e.invitee_id == police.id and e.kind.value == "arrived")
    s.add("correction", None, 11, event_id=arrival.id, reason="was never here")
    assert not s.assess(5).quorate and s.assess(5).virtual == 1


def test_conference_quorum_proceed_inquorate_is_recorded_with_its_reason():
    s, _, _, police = _quorate_meeting()
    s.add("left", police, 30, agreed=True)
    s.add("proceed_inquorate", None, 31, reason="Social care and health present; delay would harm the child")
    tl = s.timeline()
    assert tl.proceeded_inquorate
    assert [d.reason for d in tl.decisions] == ["Social care and health present; delay would harm the child"]
    assert tl.inquorate_periods[0].decision is tl.decisions[0]
    assert tl.undecided_periods == ()
    assert tl.decision_at(s.at(30)) is None and tl.decision_at(s.at(40)) is tl.decisions[0]


@pytest.mark.parametrize("details, message", [
    ({}, "needs a reason"),
    ({"reason": "   "}, "needs a reason"),
    ({"reason": "x", "why": "y"}, "does not take why"),
])
def test_conference_quorum_proceed_inquorate_refused_without_a_reason(details, message):
    s, _, _, police = _quorate_meeting()
    s.add("left", police, 30, agreed=True)
    with pytest.raises(InvalidInput, match=message):
        s.add("proceed_inquorate", None, 31, **details)
    assert not s.timeline().proceeded_inquorate


def test_conference_quorum_proceed_inquorate_refused_while_quorate():
    s, *_ = _quorate_meeting()
    with pytest.raises(InvalidInput, match="the conference is quorate"):
        s.add("proceed_inquorate", None, 5, reason="just in case")


def test_conference_quorum_a_decision_covers_only_its_own_inquorate_stretch():
    s, _, hv, _ = _quorate_meeting()
    s.add("lost_connection", hv, 10)
    s.add("proceed_inquorate", None, 11, reason="health gave its report")
    s.add("rejoined", hv, 15)
    s.add("lost_connection", hv, 40)
    tl = s.timeline()
    assert [p.decision is not None for p in tl.inquorate_periods] == [True, False]
    assert tl.decision_at(s.at(41)) is None


def test_conference_quorum_inquorate_at_the_start_is_a_period_of_the_meeting():
    s = Scenario()
    sw, hv = s.invite("Sam", "social worker"), s.invite("Hana", "health visitor", direct_contact=True)
    police = s.invite("Pat", "police officer", direct_contact=True)
    s.add("arrived", sw, -5, mode="in_person")
    s.add("arrived", hv, -5, mode="virtual")
    s.add("arrived", police, 7, mode="virtual")
    tl = s.timeline()
    assert tl.quorate_at_start is False
    assert [(p.start, p.end) for p in tl.inquorate_periods] == [(s.at(0), s.at(7))]


@pytest.mark.parametrize("kind, details, message", [
    ("left", {}, "needs whether the chair agreed"),
    ("rejoined", {}, "has not lost connection"),
    ("arrived", {"mode": "virtual"}, "is already present"),
    ("lost_connection", {}, "attending in person"),
    ("camera_off", {}, "attending in person"),
    ("arrived", {"mode": "by carrier pigeon"}, "mode: unknown mode \\(known: in person, virtual\\)"),
])
def test_conference_quorum_events_that_do_not_fit_are_refused(kind, details, message):
    s, sw, *_ = _quorate_meeting()
    with pytest.raises(InvalidInput, match=message):
        s.add(kind, sw, 10, **details)


def test_conference_settings_are_validated_like_the_config():
    from kiosk.config import Config, parse

    with pytest.raises(ConfigError, match=r"\[conference\] min_other_agencies: must be at least 0"):
        Config().replace("conference", min_other_agencies=-1)
    with pytest.raises(ConfigError, match=r"<config>:2: \[conference\] health_as_one_agency: must be true or false"):
        parse('[conference]\nhealth_as_one_agency = "no"\n')
    assert Config().replace("conference", late_after_min=2).conference.late_after_min == 2
    for f in dataclasses.fields(ConferenceSettings):
        assert f.metadata["doc"] and set(f.metadata) == {"doc", "min", "max", "choices", "check"}


def test_conference_model_parses_labels_and_aliases():
    assert Agency.parse("Children's social care") is Agency.CHILDRENS_SOCIAL_CARE
    assert Agency.parse("CSC") is Agency.CHILDRENS_SOCIAL_CARE
    assert Agency.parse("child/young person") is Agency.CHILD
    assert Role.parse("Note-taker") is Role.NOTE_TAKER and Role.parse("GP") is Role.GP
    with pytest.raises(ValueError, match="unknown role"):
        Role.parse("wizard")


# -- property: arrivals never break quorum ---------------------------------------------------------------------

_PEOPLE = st.lists(st.tuples(st.sampled_from(list(Role)), st.sampled_from(list(Agency)), st.booleans(),
                             st.sampled_from(["in_person", "virtual"])), min_size=1, max_size=12)


@hsettings(database=None, deadline=None, max_examples=150)
@given(people=_PEOPLE, data=st.data(), health_as_one=st.booleans(), minimum=st.integers(0, 4))
def test_conference_quorum_property_an_arrival_never_makes_a_quorate_conference_inquorate(
        people, data, health_as_one, minimum):
    settings = ConferenceSettings(health_as_one_agency=health_as_one, min_other_agencies=minimum)
    s = Scenario(settings=settings)
    invited = []
    for n, (role, agency, contact, mode) in enumerate(people):
        agency = role.agency or agency
        invited.append((s.invite(f"P{n}", role, agency, direct_contact=contact), mode))
    order = data.draw(st.permutations(invited))
    before = s.assess(0)
    for minute, (who, mode) in enumerate(order, start=1):
        s.add("arrived", who, minute, mode=mode)
        after = s.assess(minute)
        assert not (before.quorate and not after.quorate)
        assert after.in_person + after.virtual == minute
        before = after
    # and the same outcome as the pure function on the whole list
    assert assess(s.invitees, s.events, s.at(len(order)), settings) == before


# -- property: the timeline's single pass agrees with assess() at every moment ---------------------------------

_MOVES = st.lists(st.tuples(st.integers(0, 11), st.sampled_from(
    ["arrived_in_person", "arrived_virtual", "left", "lost_connection", "rejoined", "could_not_rejoin"]),
    st.integers(0, 2)), max_size=40)


@hsettings(database=None, deadline=None, max_examples=150)
@given(people=_PEOPLE, moves=_MOVES)
def test_conference_quorum_property_timeline_agrees_with_assess(people, moves):
    s = Scenario()
    invited = [s.invite(f"P{n}", role, role.agency or agency, direct_contact=contact)
               for n, (role, agency, contact, _mode) in enumerate(people)]
    minute = 0
    for who, move, gap in moves:  # random taps; those that do not fit the person's state are refused
        minute += gap
        invitee = invited[who % len(invited)]
        kind, details = {"arrived_in_person": ("arrived", {"mode": "in_person"}),
                         "arrived_virtual": ("arrived", {"mode": "virtual"}),
                         "left": ("left", {"agreed": False})}.get(move, (move, {}))
        if move == "could_not_rejoin":
            details = {"emailed_chair": True}
        try:
            s.add(kind, invitee, minute, **details)
        except InvalidInput:
            pass
    changes = s.timeline().changes
    # Quorum recomputed from scratch at every minute flips exactly where the timeline says it does.
    quorate, flips = False, []
    for m in range(minute + 1):
        now = s.assess(m).quorate
        if now != quorate:
            flips.append((s.at(m), now))
            quorate = now
    assert [(c.at, c.quorate) for c in changes] == flips
    # The shortcuts the chair's view takes agree with assess(): judging a replay made already, and the
    # timeline's quorum at the start.
    for m in range(minute + 1):
        assert judge(s.invitees, replay(s.events, until=s.at(m)), s.at(m)) == s.assess(m)
    assert s.timeline().start_view == s.assess(0)
