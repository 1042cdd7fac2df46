"""Hardware behind small interfaces, each with a real and a simulated implementation.

One module per device category (camera, microphone, speaker, display, clock). Each
defines an abstract base class whose docstring is the backend contract, its real
backends and a simulated one, and an ``open_<device>(cfg, backend)`` function that
builds the backend named by an already-resolved ``backend`` string (never "auto":
:mod:`kiosk.factory` resolves that). Backends needing optional packages (picamera2)
import them lazily, inside ``open_<device>``.

Backends raise :class:`kiosk.errors.DeviceError` (or ``DeviceMissing``) when a device
cannot be opened or read; the checks turn that into a ``fail`` with the reason.
Simulated backends fake at the lowest level (frames, samples, a sysfs tree), so the
same check code runs for real on their data.
"""
