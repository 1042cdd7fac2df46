"""The SVG charts: one measure each, values written on the bars, text escaped, no style attributes."""

from xml.etree import ElementTree

from kiosk.quality import charts


def test_charts_columns_label_every_bar_and_mark_missing_months():
    svg = charts.columns("Started <on> time", ["Oct", "Nov"], [None, 0.5])
    root = ElementTree.fromstring(svg)  # well-formed XML, the title escaped
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Started <on> time" in texts and "50%" in texts and "\u2013" in texts
    assert " style=" not in svg and "<script" not in svg
    assert len(list(root.iter("{http://www.w3.org/2000/svg}rect"))) == 1


def test_charts_bars_draw_no_bar_for_a_value_not_shown():
    svg = charts.bars("Late", ["Police", "Health"], [None, 0.25], ["fewer than 5", "6 (25%)"])
    root = ElementTree.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "fewer than 5" in texts and "6 (25%)" in texts
    filled = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") == charts.BAR_FILL]
    assert len(filled) == 1
