"""The fleet's flows in the results: summary.json's fleet section from the workers'
counters, the web UI's rows of it, and timeline.png's power and energy panel."""

from __future__ import annotations

import csv
from pathlib import Path

from loadgen.observe.plots import plot_timeline
from loadgen.observe.report import fleet_section
from loadgen.observe.telemetry import TIMELINE_FIELDS
from loadgen.observe.webui import fleet_rows, overview_rows
from loadgen.sim.actions import Counters


def test_an_idle_fleet_has_no_fleet_section() -> None:
    """Counters of an idle fleet give no fleet section and no rows."""
    assert fleet_section(Counters().snapshot()) is None
    assert fleet_rows(None) == []


def test_the_fleet_section_counts_each_flow() -> None:
    """Sessions by end reason, energy (and what V2X EVs gave back), firmware, uploads,
    reservations, faults, tariffs."""
    counters = Counters(
        sessions_started=5,
        sessions_ended=4,
        ended_local=3,
        ended_remote=1,
        charging=1,
        power_w=11000,
        energy_wh=12345,
        firmware_updates=2,
        firmware_installed=1,
        firmware_failed=1,
        reservations=3,
        reservations_used=1,
        faults=2,
        energy_exported_wh=2500,
        v2x_sessions=2,
        tariffs_set=1,
    )
    section = fleet_section(counters.snapshot())
    assert section is not None
    assert section["sessions"]["ended"] == {
        "total": 4,
        "Local": 3,
        "Remote": 1,
        "Reset": 0,
        "DeAuthorized": 0,
        "Other": 0,
    }
    assert (section["energy_wh"], section["power_w_now"]) == (12345, 11000)
    assert (section["energy_exported_wh"], section["v2x_sessions"]) == (2500, 2)
    assert section["tariffs_set"] == 1
    assert section["firmware"] == {"updates": 2, "installed": 1, "failed": 1}
    assert section["reservations"]["made"] == 3 and section["faults"]["reported"] == 2
    rows = dict(fleet_rows(section))
    assert rows["Sessions ended"] == "4 (Local 3, Remote 1)"
    assert rows["Energy delivered"] == "12.3 kWh"
    assert rows["Energy exported (V2X)"] == "2.5 kWh (2 V2X sessions)"
    assert rows["Firmware updates"] == "2 (1 installed, 1 failed)"


def test_the_web_ui_shows_the_fleet() -> None:
    """The "Charge points" table has the fleet's rows when the fleet did something."""
    now = {
        "stage": 1,
        "stages": 1,
        "stage_left_s": 5,
        "connected": 3,
        "target": 3,
        "attempted": 3,
        "established": 3,
        "failed": 0,
        "success_rate": 1.0,
        "booted": 3,
        "reconnects": 0,
        "failures": {},
        "fleet": fleet_section(Counters(sessions_started=1, charging=1).snapshot()),
    }
    metrics = [row["metric"] for row in overview_rows(now)]
    assert "Sessions started" in metrics and "Faults" in metrics


def test_the_timeline_plots_power_and_energy(tmp_path: Path) -> None:
    """timeline.png gets a fifth panel when the timeline has the fleet's energy."""
    path = tmp_path / "timeline.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TIMELINE_FIELDS)
        writer.writeheader()
        for second in range(10):
            writer.writerow(
                {"time_s": second, "stage": 1, "target_users": 5, "connected": 5,
                 "energy_wh": second * 30, "power_w": 11000, "charging": 1}
            )  # fmt: skip
    png = plot_timeline(path, tmp_path / "timeline.png", "fleet")
    assert png.stat().st_size > 10_000
