"""`loadgen run` of a small mixed fleet against the embedded gateway as an operator: the
gateway's script reaches the chargers, every frame passes the official schemas, and the
results count the fleet's flows (summary.json's fleet, timeline.csv's energy and power)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import ROOT, SCALE

pytestmark = pytest.mark.integration

CONFIG = """
target: embedded
ocpp_version: "{version}"
charge_points:
  id_prefix: MINI-
  heartbeat_interval_s: 5
  scenario: {{idle: 0.5, charging: 0.5}}
  session: {{meter_interval_s: 2}}
  configuration:
    MeterValuesSampledData: "{measurands}"
    StopTxnSampledData: "Energy.Active.Import.Register,SoC"
fleet:
  models:
    - {{name: ac-11, weight: 2, vendor: Acme, model: Home11, connectors: 1, max_power_w: 11000}}
    - {{name: ac-22, weight: 1, vendor: Acme, model: Street22, connectors: 2, max_power_w: 22000}}
    - {{name: dc-50, weight: 1, vendor: Volt, model: Fast50, connectors: 2, max_power_w: 50000,
       dc: true, voltage_v: 400, soc: true}}
  sessions: {{arrival: exponential, mean_pause_s: 2, duration_s: [3, 6]}}
  firmware: {{download_s: 1, install_s: 1, failure_share: 0.2}}
  faults: {{share: 0.25, mean_interval_s: 5, recover_s: 2}}
gateway:
  validate: true
  script:
    - {{at: 4s, call: SendLocalList, share: 0.5, params: {{tags: "A,B", version: 1}}}}
    - {{at: 6s, call: SetChargingProfile, share: 0.5, params: {{limit_w: 7000}}}}
    - {{at: 8s, call: ReserveNow, share: 0.2, params: {{expiry_s: 4}}}}
    - {{at: 9s, call: UpdateFirmware, share: 0.4}}
    - {{at: 10s, call: GetDiagnostics, share: 0.3}}
    - {{at: 12s, call: GetCompositeSchedule, share: 0.3}}
stages:
  - {{users: 40, spawn_rate: 40, duration: 26s}}
thresholds: {{min_success_rate: 1.0}}
"""

MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"


def final_status(log: str) -> dict[str, Any]:
    """The gateway's last ``final status`` line."""
    lines = [line for line in log.splitlines() if "final status: " in line]
    assert lines, log[-3000:]
    return dict(json.loads(lines[-1].split("final status: ", 1)[1]))


@pytest.mark.timeout(200)
@pytest.mark.parametrize("version", ["2.0.1"])
def test_a_mixed_fleet_run_against_the_operating_gateway(tmp_path: Path, version: str) -> None:
    """40 chargers of three models charge, meter and take the gateway's script (local
    list, limits, reservations, firmware, logs, composite schedules): every call is
    answered, no frame breaks its schema, the summary counts the flows and the timeline
    has the fleet's energy and power. (2.0.1 alone: test_fleet_behaviour covers each
    flow in both versions, test_gateway_operator the script's payloads of both.)"""
    config = tmp_path / "mini-fleet.yaml"
    config.write_text(CONFIG.format(version=version, measurands=MEASURANDS), encoding="utf-8")
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "loadgen", "run", str(config), "--results", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150 * SCALE,
    )
    log = (results / "gateway.log").read_text(encoding="utf-8")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + log[-2000:]
    status = final_status(log)
    assert status["schema"]["errors"] == 0, status["schema"]
    operator = status["operator"]
    assert operator["steps_done"] == 6 and operator["timeouts"] == {}, operator
    assert operator["errors"] == {}, operator
    for action, sent in operator["sent"].items():
        assert sum(operator["answered"][action].values()) == sent, (action, operator)
    profiles = operator["sent"]["SetChargingProfile"]
    assert operator["answered"]["SetChargingProfile"] == {"Accepted": profiles}
    firmware = status["notifications"].get("FirmwareStatusNotification", {})
    assert firmware.get("Installed", 0) >= 1, status["notifications"]
    assert status["uploads"]["received"] >= 1, status["uploads"]
    summary = json.loads((results / "summary.json").read_text(encoding="utf-8"))
    fleet = summary["fleet"]
    assert fleet["sessions"]["started"] >= 10 and fleet["energy_wh"] > 0, fleet
    assert fleet["firmware"]["updates"] == operator["sent"]["UpdateFirmware"], fleet
    assert fleet["profiles_set"] == operator["sent"]["SetChargingProfile"], fleet
    assert fleet["uploads"]["ok"] >= 1 and fleet["faults"]["reported"] >= 1, fleet
    with (results / "timeline.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    energy = [float(r["energy_wh"]) for r in rows if r["energy_wh"]]
    assert energy and energy == sorted(energy) and energy[-1] > 0
    assert max(float(r["power_w"] or 0) for r in rows) > 0
    assert (results / "timeline.png").stat().st_size > 0
