"""The NYC data readers and the epidemic's calibration (recorded trials, resumable)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from societas.cli.main import app
from societas.scenarios.epidemic.calibrate import CalibrationSpec, calibrate
from societas.scenarios.epidemic.data import (
    MONTHS,
    load_cases,
    load_unemployment,
    parse_number,
)
from societas.typing import ConfigError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "agenttorch"
needs_data = pytest.mark.skipif(
    not (DATA / "county_data.csv").exists(), reason="shared/data/agenttorch not beside the repo"
)


def test_padded_numbers_are_cleaned_and_bad_ones_named() -> None:
    assert parse_number(" \t1,147,100 ", "t.csv", "x") == 1_147_100.0
    with pytest.raises(ConfigError, match=r"t\.csv"):
        parse_number("n/a", "t.csv", "line 9.Unemployed")


def _table(path: Path, rows: list[list[str]]) -> None:
    head = [
        ["Revised 2019-2023 Labor Force Data", "", "", "", "", "", ""],
        ["", "", "", "Labor Force", "Employed", "Unemployed", "Unemployment"],
        ["Area", "Year", "Month", "", "", "", "Rate (%)"],
    ]
    with path.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\r\n").writerows(head + rows)


def test_a_labour_table_with_the_exports_quirks(tmp_path: Path) -> None:
    good = [
        ["X County", "2020", "Jan", " \t1,000 ", " \t950 ", " \t50 ", " \t5.0 "],
        ["X County", "2020", "Avg", " \t1,000 ", " \t950 ", " \t50 ", " \t9.9 "],
        ["", "", "", "", "", "", ""],
        ["X County", "2019", "Dec", " \t2,000 ", " \t1,900 ", " \t100 ", " \t5.0 "],
    ]
    for name in ("Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island"):
        _table(tmp_path / f"{name}-Table.csv", good)
    rates = load_unemployment(tmp_path)
    assert rates["Queens"] == {(2020, 1): 5.0, (2019, 12): 5.0}
    _table(tmp_path / "Queens-Table.csv", [["X County", "2020", "Jam", "1", "1", "0", "0"]])
    with pytest.raises(ConfigError, match=r"Queens-Table.csv.*line 4"):
        load_unemployment(tmp_path)


@needs_data
def test_the_real_tables_agree_with_their_own_rate_column() -> None:
    rates = load_unemployment(DATA)
    assert set(rates) == {"Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island"}
    for borough, series in rates.items():
        assert len(series) == 60  # 2019-2023, twelve months each
        with (DATA / f"{borough}-Table.csv").open(newline="") as fh:
            for row in list(csv.reader(fh))[3:]:
                if len(row) == 7 and row[2].strip() not in ("", "Avg"):
                    force, unemployed = (parse_number(row[k], "t", "x") for k in (3, 5))
                    rate = series[(int(row[1]), MONTHS.index(row[2].strip()) + 1)]
                    assert rate == pytest.approx(float(row[6]), abs=1e-9)
                    assert rate == pytest.approx(100 * unemployed / force, abs=0.1)
    assert rates["Bronx"][(2020, 5)] == pytest.approx(26.2, abs=0.05)  # the May 2020 peak
    cases = load_cases(DATA / "county_data.csv")
    assert {c.borough for c in cases.values()} == set(rates)
    assert all(len(c.cases) == 115 for c in cases.values())
    assert cases["Astoria"].dates[8] == "2020/10/03"


@needs_data
def test_calibration_records_every_trial_and_resumes(tmp_path: Path) -> None:
    spec = CalibrationSpec(agents=4_000, train=6, test=3, grid=[1.0, 2.5], refine=[0.8])
    lines: list[str] = []
    first = calibrate(spec, DATA, tmp_path, log=lines.append)
    assert len(first.trials) == 4  # two common, one refined, the final
    assert sum("running" in line for line in lines) == len({t.name for t in first.trials})
    assert all((tmp_path / "trials" / t.name / "run.db").exists() for t in first.trials)
    assert set(first.test_rmse) == {
        "Astoria",
        "Upper West Side",
        "Bay Ridge",
        "Pelham Bay",
        "Port Richmond",
    }
    assert all(len(f) == 9 for f in first.forecast.values())
    # Each borough's multiplier is the best of the trials by its own training loss.
    assert set(first.transmission.values()) <= {1.0, 2.5, 0.8, 2.0}
    lines.clear()
    again = calibrate(spec, DATA, tmp_path, log=lines.append)
    assert not any("running" in line for line in lines)
    assert again.test_rmse == first.test_rmse
    saved = json.loads((tmp_path / "calibration.json").read_text())
    assert saved["transmission"] == first.transmission


def test_calibrate_names_a_bad_scenario_and_bad_numbers(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app, ["calibrate", "wealth", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    res = runner.invoke(
        app,
        [
            "calibrate",
            "epidemic",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--grid",
            "1,x",
        ],
    )
    assert res.exit_code == 2
    assert "--grid" in res.output
