"""The conference record: who is invited, who attends, and whether the conference is quorate.

The domain and storage layer under the chair's page (DOMAIN.md D1-D15); no web code.

- :mod:`~kiosk.conference.model`: types, roles, agencies, event kinds; Conference, Invitee, Event
- :mod:`~kiosk.conference.quorum`: ``assess`` (quorum now) and ``timeline`` (lost and regained, D3-D5)
- :mod:`~kiosk.conference.workdays`: working days, report deadlines and timescales (D7-D9)
- :mod:`~kiosk.conference.store`: ``ConferenceStore``, the SQLite record (append-only events, purge)
- :mod:`~kiosk.conference.record`: the attendance record for the minutes, and its CSV export
- :mod:`~kiosk.conference.pin`: the chair's PIN and the lockout after wrong PINs
- :mod:`~kiosk.conference.access`: ``ChairAccess``, sign-in with the PIN or a pairing code, through the lockout
- :mod:`~kiosk.conference.service`: ``ChairService``, writes and reads the record; tells the room over the bus
- :mod:`~kiosk.conference.view`: ``build_view``, the chair's view as a pure function of the record and the clock
- :mod:`~kiosk.conference.view_cache`: ``ViewCache``, one kept view per (conference, revision)
- :mod:`~kiosk.conference.settings`: ``ConferenceSettings`` (the ``[conference]`` config section)
- :mod:`~kiosk.conference.errors`: the errors raised on purpose

Everything here may hold personal data except :class:`~kiosk.conference.quorum.QuorumView`'s
counts, which are what the room display and MQTT may show (D15).
"""

from kiosk.conference.model import Agency, Conference, ConferenceType, Event, EventKind, Invitee, Mode, Role, Status
from kiosk.conference.quorum import QuorumTimeline, QuorumView, assess, timeline
from kiosk.conference.settings import ConferenceSettings
from kiosk.conference.store import ConferenceStore

__all__ = ["Agency", "Conference", "ConferenceSettings", "ConferenceStore", "ConferenceType", "Event", "EventKind",
           "Invitee", "Mode", "QuorumTimeline", "QuorumView", "Role", "Status", "assess", "timeline"]
