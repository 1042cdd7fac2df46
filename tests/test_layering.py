"""The layers: ``kiosk/`` holds no web code, so only its composition root may import ``web_ui``."""

import ast
from pathlib import Path

import kiosk

KIOSK = Path(kiosk.__file__).parent
COMPOSITION_ROOT = KIOSK / "service.py"


def _web_ui_imports(path: Path) -> list[str]:
    """Each place in ``path`` that imports web_ui (a statement, or importlib/__import__ with its name), as "line N"."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            names = [str(node.args[0].value)] if called in ("import_module", "__import__") else []
        else:
            continue
        if any(name == "web_ui" or name.startswith("web_ui.") for name in names):
            found.append(f"line {node.lineno}")
    return found


def test_layering_only_the_composition_root_imports_web_ui():
    offenders = {str(p.relative_to(KIOSK.parent)): lines for p in sorted(KIOSK.rglob("*.py"))
                 if p != COMPOSITION_ROOT and (lines := _web_ui_imports(p))}
    assert offenders == {}


def test_layering_check_sees_every_way_of_importing(tmp_path):
    # The composition root does import web_ui, so a check that found nothing there would be blind.
    assert _web_ui_imports(COMPOSITION_ROOT)
    sample = tmp_path / "sample.py"
    sample.write_text("import web_ui.server\nfrom web_ui import quality\nimport importlib\n"
                      "importlib.import_module('web_ui.quality')\nfrom kiosk import web_uix\nimport web_uix\n")
    assert _web_ui_imports(sample) == ["line 1", "line 2", "line 4"]
