"""What every device backend shares, and the fault switch of the simulated ones."""

from __future__ import annotations


class Device:
    """Base of every backend: a ``backend`` name, a description, ``close()`` and use as a context manager.

    ``close()`` releases what the backend holds and may be called any number of times.
    """

    backend: str = ""

    def describe(self) -> str:
        """One line saying what this backend reads, for logs and ``kiosk doctor``."""
        return self.backend

    def close(self) -> None:
        """Release what the backend holds (nothing, unless a backend overrides this)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class Faults:
    """For simulated backends: ``fault``, settable at any time (from the simulator page) to one of ``FAULTS``.

    ``DEVICE`` names the device in the error for an unknown fault; :meth:`_fault_changed`
    lets a backend drop what it derived from the previous fault.
    """

    DEVICE = "device"
    FAULTS: tuple[str, ...] = ("none",)
    _fault = "none"

    @property
    def fault(self) -> str:
        """The simulated fault: one of ``FAULTS``."""
        return self._fault

    @fault.setter
    def fault(self, value: str) -> None:
        if value not in self.FAULTS:
            raise ValueError(f"unknown {self.DEVICE} fault {value!r} (choose from {', '.join(self.FAULTS)})")
        self._fault = value
        self._fault_changed()

    def _fault_changed(self) -> None:
        """Called after ``fault`` changed."""
