"""Reading an invitation list from CSV text (as a spreadsheet exports it).

Columns (header row required, any order and case): ``name``, ``role`` (both required),
``agency``, ``direct_contact``, ``expected_mode``, ``email``. Blank cells take the
defaults of :func:`~kiosk.conference.validation.invitee_fields`; modes may be written as
the chair's page words them ("In room", "Online", "Remote"...). Columns with other
headings are ignored, each with a note saying so (a spreadsheet often has a column or two
more). Any bad row makes the
whole list fail with a :class:`~kiosk.conference.errors.CsvImportError` naming every bad
row (the header is row 1, as in a spreadsheet), so nothing is half-imported.
"""

from __future__ import annotations

import csv
import io

from kiosk.conference.errors import CsvImportError, InvalidInput
from kiosk.conference.model import text_key
from kiosk.conference.validation import invitee_fields

COLUMNS = ("name", "role", "agency", "direct_contact", "expected_mode", "email")
REQUIRED = ("name", "role")
MAX_ROWS = 200
_ALIASES = {"mode": "expected_mode", "attendance": "expected_mode", "e_mail": "email", "email_address": "email",
            "direct": "direct_contact", "contact": "direct_contact", "organisation": "agency"}


def _header(cells: list[str], notes: list[str]) -> list[str | None]:
    """The column names of a header row; None for a column to ignore (with a note in ``notes``)."""
    columns, problems, ignored = [], [], []
    for number, cell in enumerate(cells, start=1):
        key = text_key(cell)
        key = _ALIASES.get(key, key)
        if key not in COLUMNS:
            ignored.append(number)
            key = None
        elif key in columns:
            problems.append(f"the column {key!r} appears twice")
        columns.append(key)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        # Headings not quoted: without a header row, they are someone's name (D15).
        problems.append(f"the header must name the column(s) {', '.join(missing)} (headings: {', '.join(COLUMNS)}; "
                        f"is the header row missing?)")
    if problems:
        raise CsvImportError([(1, p) for p in problems])
    for number in ignored:
        notes.append(f"column {number} ({cells[number - 1].strip()[:40] or 'no heading'}) is not one the kiosk "
                     f"knows, so it was ignored (headings: {', '.join(COLUMNS)})")
    return columns


def parse_invitees_csv(text: str) -> list[dict]:
    """The invitees in ``text`` as clean field dicts; raises CsvImportError and nothing else."""
    return [fields for _, fields in numbered_invitees(text)]


def numbered_invitees(text: str, notes: list[str] | None = None) -> list[tuple[int, dict]]:
    """Like :func:`parse_invitees_csv`, with each invitee's row number (for later error messages).

    ``notes`` (a list, if given) receives a line for each column that was ignored.
    """
    notes = [] if notes is None else notes
    if not isinstance(text, str):
        raise CsvImportError([(0, "the invitation list must be text")])
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise CsvImportError([(0, "the file is empty")])
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, problems, seen = [], [], {}
    row = 0  # the last row read whole; csv.Error concerns the next one
    try:
        columns = _header(next(reader), notes)
        row = 1
        for cells in reader:
            row += 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(columns):
                problems.append((row, f"has {len(cells)} cells but the header has {len(columns)} columns"))
                continue
            try:
                # A short row leaves its last cells blank, as a spreadsheet does.
                known = {c: v for c, v in zip(columns, cells) if c is not None}
                fields = invitee_fields(**(dict.fromkeys(filter(None, columns), "") | known))
            except InvalidInput as exc:
                problems.append((row, str(exc)))
                continue
            person = (fields["name"].casefold(), fields["role"])
            if person in seen:
                problems.append((row, f"the same person and role are already on row {seen[person]}"))
                continue
            seen[person] = row
            rows.append((row, fields))
            if len(rows) > MAX_ROWS:
                raise CsvImportError([(row, f"more than {MAX_ROWS} invitees: is this the right file?")])
    except csv.Error as exc:
        raise CsvImportError(problems + [(row + 1, f"is not valid CSV ({exc})")]) from None
    if problems:
        raise CsvImportError(problems)
    if not rows:
        raise CsvImportError([(0, "the file has a header but no invitees")])
    return rows
