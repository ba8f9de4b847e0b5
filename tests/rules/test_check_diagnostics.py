"""Diagnostics snapshots: each broken ruleset under fixtures/broken/ fails to load with exactly the text in
snapshots/<name>.txt (file:line:col, code, message, hint). The snapshots were reviewed by hand: every line/col
points at the offending token. Regenerate with ``ADJ_SNAPSHOT_UPDATE=1 pytest tests/rules/test_check_diagnostics.py``
— and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adjudicator.errors import RulesetError
from adjudicator.rules.parse import load_file

BROKEN = Path(__file__).parent / "fixtures" / "broken"
SNAPSHOTS = Path(__file__).parent / "snapshots"
CASES = sorted(p.stem for p in BROKEN.glob("*.yaml"))


def diagnostics_text(name: str, monkeypatch) -> str:
    monkeypatch.chdir(BROKEN)  # paths in messages are relative: stable wherever the repo lives
    with pytest.raises(RulesetError) as e:
        load_file(f"{name}.yaml")
    assert e.value.diagnostics and all(d.line >= 1 and d.col >= 1 for d in e.value.diagnostics)
    return str(e.value) + "\n"


@pytest.mark.parametrize("name", CASES)
def test_diagnostics_snapshot(name, monkeypatch):
    got = diagnostics_text(name, monkeypatch)
    snap = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("ADJ_SNAPSHOT_UPDATE"):
        snap.write_text(got, encoding="utf-8")
    assert snap.exists(), f"no snapshot for {name}: run with ADJ_SNAPSHOT_UPDATE=1 and review it"
    assert got == snap.read_text(encoding="utf-8")


def test_every_case_is_covered():
    assert {p.stem for p in SNAPSHOTS.glob("*.txt")} == set(CASES)
    assert {"unknown_field", "unknown_table", "unknown_param", "unknown_function", "wrong_arity", "type_mismatch",
            "null_compare", "action_count", "duplicate_ids", "set_later", "unknown_reason", "malformed",
            "missing_table", "table_missing_column"} <= set(CASES)


def test_unreadable_file_is_a_diagnostic(tmp_path):
    with pytest.raises(RulesetError, match="E000 cannot read the ruleset file"):
        load_file(tmp_path / "nope.yaml")


def test_empty_file(tmp_path):
    (tmp_path / "e.yaml").write_text("")
    with pytest.raises(RulesetError, match="E001 the ruleset file is empty"):
        load_file(tmp_path / "e.yaml")
