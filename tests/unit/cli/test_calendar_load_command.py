"""`crm calendar load FILE --check`: the file checked against the notice's shape and the statute, nothing sent."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from calendar_support import notice_2027
from crm_cli.main import app

runner = CliRunner()


def test_a_valid_notice_passes_the_check(tmp_path: Path) -> None:
    file = tmp_path / "2027.json"
    file.write_text(json.dumps(notice_2027(), ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["calendar", "load", str(file), "--check"])
    assert result.exit_code == 0, result.output
    assert "2027: 33 rest days, 7 make-up working days" in result.output


def test_the_override_shape_is_accepted_too(tmp_path: Path) -> None:
    file = tmp_path / "override.json"
    file.write_text(
        json.dumps({"2024": {"holidays": {"2024-01-01": "New Year's Day"}, "workdays": []}}), encoding="utf-8"
    )
    result = runner.invoke(app, ["calendar", "load", str(file), "--check"])
    assert result.exit_code == 0, result.output  # before 2025 the statute's 2024 rules are not applied


def test_a_notice_missing_a_holiday_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    notice = notice_2027()
    del notice["holidays"][5]  # 中秋
    file = tmp_path / "2027.json"
    file.write_text(json.dumps(notice, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["calendar", "load", str(file), "--complaints-api", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "2027-09-15 (中秋节" in result.output


def test_a_shape_error_names_the_field(tmp_path: Path) -> None:
    notice = notice_2027()
    notice["holidays"][0]["rest"]["to"] = "2027-13-01"
    file = tmp_path / "2027.json"
    file.write_text(json.dumps(notice, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["calendar", "load", str(file), "--check"])
    assert result.exit_code == 2
    assert "holidays[0].rest.to" in result.output


def test_the_deploy_example_notice_passes_the_check() -> None:
    example = Path(__file__).resolve().parents[3] / "deploy" / "calendar-notice.example.json"
    result = runner.invoke(app, ["calendar", "load", str(example), "--check"])
    assert result.exit_code == 0, result.output
    assert "2099: 34 rest days, 7 make-up working days" in result.output
