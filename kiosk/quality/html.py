"""The quality report as HTML: the templates and style shared by the chair's page
(:mod:`web_ui.quality`, which renders them through Flask) and the one-file report of
``kiosk quality --html``, rendered here with Jinja alone (no app, no server).
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from kiosk import __version__

#: ``quality_report.html`` (the report's content) and ``quality_file.html`` (the one-file report).
TEMPLATES = Path(__file__).parent / "templates"
#: ``quality.css``: served beside the page, put inside the one-file report.
STATIC = Path(__file__).parent / "static"

_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def standalone_html(rep: dict) -> str:
    """The report (:func:`kiosk.quality.report.build`) as one HTML file with its style inside."""
    css = (STATIC / "quality.css").read_text(encoding="utf-8")
    return _ENV.get_template("quality_file.html").render(report=rep, css=css, version=__version__)
