"""The quality report for child protection managers (D16), with no personal data.

- :mod:`~kiosk.quality.facts`: the facts of one ended conference, a pure function of its record;
- :mod:`~kiosk.quality.store`: those facts and the room's check history, in their own SQLite file;
- :mod:`~kiosk.quality.figures`: period figures (sums) and the "fewer than 5" rule;
- :mod:`~kiosk.quality.charts`: SVG charts drawn on the server;
- :mod:`~kiosk.quality.report`: the report as data, CSV and terminal text;
- :mod:`~kiosk.quality.service`: the kiosk's side (bus subscriber, monthly MQTT payloads);
- :mod:`~kiosk.quality.collect`: ``kiosk quality``, every room's months from a broker, combined.
"""
