"""docs/configuration.md is generated from the config schema and cannot drift from it."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk import cli, config
from kiosk.config_doc import BEGIN, END, generated_part, render, replace_generated

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"


def test_config_doc_committed_page_matches_the_schema():
    page = PAGE.read_text(encoding="utf-8")
    assert BEGIN in page and END in page
    assert generated_part(page) == render(), (
        "docs/configuration.md is out of date with the config schema (kiosk/config.py): "
        "regenerate it with ./scripts/gen-config-doc and commit the result")


def test_config_doc_lists_every_key_with_its_default_and_meaning():
    text = render()
    for section, key, default, doc in config.describe():
        assert f"### `[{section}]`" in text
        row = next((line for line in text.splitlines() if line.startswith(f"| `{key}` |")
                    and doc.replace("|", "\\|") in line), None)
        assert row is not None, (section, key)
    cls = config.SECTIONS["camera"]
    backend = next(f for f in dataclasses.fields(cls) if f.name == "backend")
    assert "| `backend` | `\"auto\"` | " + ", ".join(f"`{c}`" for c in backend.metadata["choices"]) in text


def test_config_doc_regenerating_keeps_the_hand_written_parts():
    page = f"# Title\n\nIntro.\n\n{BEGIN}\nold tables\n{END}\n\nAfter.\n"
    new = replace_generated(page, render())
    assert new.startswith("# Title\n\nIntro.\n\n") and new.endswith(f"{END}\n\nAfter.\n")
    assert generated_part(new) == render()
    with pytest.raises(ValueError, match="BEGIN GENERATED"):
        replace_generated("no markers here", render())


def test_config_doc_cli_prints_the_same_tables(capsys):
    assert cli.main(["config", "--defaults", "--markdown"]) == 0
    assert capsys.readouterr().out == render()
    assert cli.main(["config", "--markdown"]) == 2
    assert "--markdown goes with --defaults" in capsys.readouterr().err


def test_config_doc_script_regenerates_a_stale_page(tmp_path):
    stale = tmp_path / "configuration.md"
    stale.write_text(f"Intro.\n\n{BEGIN}\n| `gone` | 1 | | a key that no longer exists |\n{END}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "kiosk.config_doc", str(stale)], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "regenerated" in done.stdout
    assert generated_part(stale.read_text(encoding="utf-8")) == render()
