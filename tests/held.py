"""What the process still holds: for the tests that a purge leaves no name in memory."""

from __future__ import annotations

import gc


def strings_holding(marker: int) -> list[str]:
    """Every str held by a live container (dicts, lists, tuples, sets: so also every object's attributes)
    that contains ``marker``'s digits, after a full collection."""
    gc.collect()
    objects = gc.get_objects()
    needle = str(marker)
    found = []
    for obj in objects:
        if isinstance(obj, dict):
            items = [*obj.keys(), *obj.values()]
        elif isinstance(obj, (list, tuple, set, frozenset)) and obj is not found:
            items = obj
        else:
            continue
        found += [x for x in items if type(x) is str and x is not needle and needle in x]
    return found
