"""Install the Hybrid Room Kiosk: ``pip install .`` gives the ``kiosk`` command."""

import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', Path("kiosk/__init__.py").read_text()).group(1)

setup(
    name="hybrid-room-kiosk",
    version=VERSION,
    description="Readiness controller for hybrid child protection conference suites on a Raspberry Pi",
    long_description=Path("README.md").read_text(encoding="utf-8") if Path("README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["kiosk", "kiosk.*", "web_ui", "web_ui.*"]),
    include_package_data=True,
    package_data={"web_ui": ["templates/*.html", "static/*"],
                  "kiosk.quality": ["templates/*.html", "static/*"]},
    # Compatible ranges: picamera2 is deliberately absent (apt's python3-picamera2 on the Pi,
    # seen through a venv made with --system-site-packages, imported lazily).
    install_requires=[
        "numpy>=1.24,<3",
        "opencv-python-headless>=4.8,<5",
        "gpiozero>=2.0,<3",
        "paho-mqtt>=2.0,<3",
        "Flask>=3.0,<4",
        "Flask-WTF>=1.2,<2",
        "pydantic>=2.12,<3",  # 2.12: model_validate_json(extra=...) for the answer checks
        "waitress>=3.0,<4",
        "icalendar>=7.0,<8",
        "recurring-ical-events>=3.8,<4",
        "x-wr-timezone>=2.0,<3",
        "python-dateutil>=2.8,<3",
        "holidays>=0.50,<1",
        "prometheus-client>=0.19,<1",
        "segno>=1.5,<2",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-timeout>=2.2,<3",
            "playwright>=1.40,<2",
            "hypothesis>=6.100,<7",
            "schemathesis>=4.0,<5",
            "radon>=6.0,<7",
            "PyYAML>=6.0,<7",
            "jsonschema>=4.18,<5",
            "radon>=6.0,<7",
        ],
    },
    entry_points={"console_scripts": ["kiosk=kiosk.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Operating System :: POSIX :: Linux",
    ],
)
