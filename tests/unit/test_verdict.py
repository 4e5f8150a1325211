"""A verdict to trust: checks without samples, failed connects, misspelt actions, the
effective config, and a results folder that `loadgen report` can always read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from loadgen.config import ConfigError
from loadgen.observe import plots
from loadgen.observe.report import Entry, build_summary, evaluate, human_summary, rebuild
from loadgen.observe.telemetry import progress_line
from loadgen.run import cli, configfile
from loadgen.run.configfile import from_dict, load, with_overrides

# Modules added with these checks are imported in the tests that use them, so each test
# can be run against older code and fail on its own behaviour.


def summary_with(entries: list[Entry], thresholds: dict, totals: dict | None = None) -> dict:
    config = from_dict({"thresholds": thresholds})
    return build_summary(
        run_id="r",
        config=config,
        target="ws://127.0.0.1:9/ocpp",
        entries=entries,
        failures=[],
        totals=totals or {},
        workers={},
        stages=[],
        peak_connected=0,
    )


def failed_check(summary: dict, name: str) -> dict:
    return next(c for c in summary["thresholds"]["checks"] if c["name"] == name)


def test_a_misspelt_action_in_thresholds_is_a_config_error() -> None:
    """max_call_p95_ms.BootNotifcation is refused, naming the action it resembles."""
    with pytest.raises(ConfigError) as caught:
        from_dict({"thresholds": {"max_call_p95_ms": {"BootNotifcation": 500}}})
    message = str(caught.value)
    assert "max_call_p95_ms.BootNotifcation" in message and "BootNotification?" in message


def test_refused_connects_are_failures_without_latency() -> None:
    """Against an unreachable target (every connect failed) connect p95 is no data and fails."""
    summary = summary_with(
        [Entry("WS", "connect", 50, 50, 0.0, 0.0, 0.0)],
        {"max_connect_p95_ms": 2000},
        {"attempted": 50, "established": 0, "failed": 50},
    )
    assert summary["connect_ms"] == {"p50": None, "p95": None, "p99": None, "samples": 0}
    check = failed_check(summary, "max_connect_p95_ms")
    assert check["passed"] is False and check["no_data"] is True and check["value"] is None
    assert summary["thresholds"]["passed"] is False
    assert "no data" in human_summary(summary)


def test_a_check_without_samples_fails_unless_the_config_allows_it() -> None:
    """A threshold on an action never sent is "no data" and fails; allow_no_data lets it pass."""
    entries = [
        Entry("WS", "connect", 10, 0, 5.0, 6.0, 7.0),
        Entry("OCPP", "Heartbeat", 10, 0, 5.0, 6.0, 7.0),
    ]
    totals = {"attempted": 10, "established": 10, "failed": 0, "booted": 10}
    strict = summary_with(entries, {"max_call_p95_ms": {"StartTransaction": 500}}, totals)
    check = failed_check(strict, "max_call_p95_ms.StartTransaction")
    assert check == {
        "name": "max_call_p95_ms.StartTransaction",
        "limit": 500,
        "value": None,
        "passed": False,
        "no_data": True,
    }
    assert strict["thresholds"]["passed"] is False
    lenient = summary_with(
        entries,
        {
            "max_call_p95_ms": {"StartTransaction": 500},
            "allow_no_data": ["max_call_p95_ms.StartTransaction"],
        },
        totals,
    )
    assert lenient["thresholds"]["passed"] is True


def test_rates_without_finished_connections_are_no_data() -> None:
    """No connection finished: the success and boot rates are no data, not 0 or 100%."""
    summary = summary_with([], {}, {"attempted": 5, "established": 0, "failed": 0})
    assert summary["connections"]["success_rate"] is None
    assert [c["name"] for c in summary["thresholds"]["checks"] if c.get("no_data")] == [
        "min_success_rate",
        "min_boot_rate",
        "max_connect_p95_ms",
    ]
    assert summary["thresholds"]["passed"] is False


def test_the_progress_line_shows_no_rate_before_any_connect_finished() -> None:
    """0 of 0 connects done is not "success 100.00%"."""
    line = progress_line(3.0, None, {"attempted": 20, "established": 0, "failed": 0}, 0)
    assert "success -" in line and "100.00%" not in line


def test_an_empty_config_file_is_an_error(tmp_path: Path) -> None:
    """A config file without settings (empty, or `{}`) is refused; it would run defaults."""
    for text in ("", "# nothing\n", "{}\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match="the config is empty"):
            load(path)


def test_a_non_utf8_config_is_a_config_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 give a one-line error naming the byte, no traceback."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes("target: embedded\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(path)


def test_paths_in_a_config_resolve_from_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ids_file: ids.csv means the file beside the config, whatever the current folder."""
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "ids.csv").write_text("A1\nA2\n")
    (folder / "run.yaml").write_text(
        "charge_points: {ids_file: ids.csv}\nstages: [{users: 2, spawn_rate: 2, duration: 5}]\n"
    )
    monkeypatch.chdir(tmp_path)
    config = load(folder / "run.yaml")
    assert config.charge_points.ids_file == str(folder / "ids.csv")


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ("CP-1\nnot valid!\n", "not a valid charge point id"),
        ("# only a comment\n", "has no ids"),
        ("CP-1\nCP-1\n", "appears twice"),
        ("CP-1\nCP-2\n", "has 2 ids but the stages need up to 3"),
    ],
)
def test_the_ids_file_is_checked_before_the_run(tmp_path: Path, rows: str, problem: str) -> None:
    """A bad row, an empty file, a duplicate or too few ids for the peak stage stop the run."""
    from loadgen.run import preflight

    (tmp_path / "ids.csv").write_text(rows)
    (tmp_path / "run.yaml").write_text(
        "charge_points: {ids_file: ids.csv}\nstages: [{users: 3, spawn_rate: 3, duration: 5}]\n"
    )
    with pytest.raises(ConfigError, match=problem):
        preflight.check(load(tmp_path / "run.yaml"))


def test_bad_tls_files_are_config_errors(tmp_path: Path) -> None:
    """A CA or a key that is not PEM is refused at load, naming the field."""
    from loadgen.run import preflight

    (tmp_path / "ca.pem").write_text("not a certificate\n")
    (tmp_path / "run.yaml").write_text("target: wss://127.0.0.1:9/ocpp\ntls: {ca_file: ca.pem}\n")
    with pytest.raises(ConfigError, match="tls.ca_file"):
        preflight.check(load(tmp_path / "run.yaml"))
    (tmp_path / "c.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "k.pem").write_text("junk\n")
    (tmp_path / "run.yaml").write_text(
        "target: wss://127.0.0.1:9/ocpp\ntls: {cert_file: c.pem, key_file: k.pem}\n"
    )
    with pytest.raises(ConfigError, match="tls.cert_file / tls.key_file"):
        preflight.check(load(tmp_path / "run.yaml"))


def test_the_effective_config_keeps_overrides_and_masks_passwords(tmp_path: Path) -> None:
    """config.yaml in the results has the --users/--run-time stages, no password, and loads
    back to the config that ran."""
    (tmp_path / "run.yaml").write_text(
        "target: ws://127.0.0.1:9/ocpp\n"
        "redis: {url: 'redis://:s3cret-pw@127.0.0.1:6379/0'}\n"
        "charge_points: {session: {id_tag: s3cret-pw}}\n"
        "stages: [{users: 10, spawn_rate: 5, duration: 60}]\n"
        "thresholds: {max_call_p95_ms: {Heartbeat: 300}}\n"
    )
    config = with_overrides(load(tmp_path / "run.yaml"), users=4, run_time_s=20)
    text = configfile.effective_yaml(config)
    assert "s3cret-pw" not in text
    copy = tmp_path / "copy.yaml"
    copy.write_text(text)
    again = load(copy)
    assert again.stages == config.stages and again.stages[0].users == 4
    assert again.thresholds == config.thresholds
    plain = configfile.from_text(configfile.effective_yaml(config, masked=False))
    assert plain.redis == config.redis and plain.charge_points == config.charge_points


def test_failing_ids_are_bounded_and_merged() -> None:
    """Each category keeps its first ids only; a malformed worker report adds nothing."""
    from loadgen.failures import FIRST_IDS, FirstIds

    mine = FirstIds()
    for i in range(50):
        mine.note("handshake_rejected", f"CP-{i}")
    mine.note("not_a_category", "CP-x")
    assert mine.snapshot() == {"handshake_rejected": [f"CP-{i}" for i in range(FIRST_IDS)]}
    merged = FirstIds()
    assert merged.merge({"reset": ["A", "B"]}) and merged.merge(mine.snapshot())
    assert not merged.merge({"reset": ["x"] * (FIRST_IDS + 1)})
    assert not merged.merge({"reset": [3]}) and not merged.merge(["reset"])
    assert merged.snapshot()["reset"] == ["A", "B"]


def folder_of_a_run(tmp_path: Path) -> Path:
    """A results folder like a run leaves, built from plain files."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.yaml").write_text(
        "target: ws://127.0.0.1:9/ocpp\nstages: [{users: 2, spawn_rate: 2, duration: 4}]\n"
        "thresholds: {min_success_rate: 1.0}\n"
    )
    (folder / "locust_stats.csv").write_text(
        "Type,Name,Request Count,Failure Count,50%,95%,99%\n"
        "WS,connect,2,0,10,12,12\nOCPP,Heartbeat,6,0,3,4,4\n,Aggregated,8,0,4,12,12\n"
    )
    (folder / "timeline.csv").write_text(
        "time_s,stage,target_users,users,connected,attempted,established,failed,"
        "connect_p95_ms,booted,messages\n"
        "1.0,1,2,2,1,2,1,0,,1,2\n2.0,1,2,2,2,2,2,0,12,2,6\n4.0,,0,0,0,2,2,0,12,2,8\n"
    )
    return folder


def test_report_rebuilds_over_a_corrupt_summary(tmp_path: Path) -> None:
    """A summary.json that is not JSON is set aside and rebuilt from the CSV and timeline."""
    from loadgen.observe import htmlreport

    folder = folder_of_a_run(tmp_path)
    (folder / "summary.json").write_bytes(b"\x00{not json")
    summary = rebuild(folder, lambda path: load(path, check_files=False))
    assert summary["state"] == "finished" and summary["thresholds"]["passed"] is True
    assert summary["connections"]["booted"] == 2
    assert "summary.json" in summary["rebuilt_without"]
    assert json.loads((folder / "summary.json").read_text())["run_id"] == "run"
    page = (folder / "report.html").read_text()
    assert "PASSED" in page and page.count(htmlreport.BEGIN) == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("locust_stats.csv", b"Type,Name,Request Count\nWS,connect,many\n"),
        ("locust_stats.csv", b"\xff\xfe\x00garbage"),
        ("config.yaml", b"stages: [\n"),
        ("timeline.csv", b"\xff\xfe\x00garbage"),
    ],
)
def test_loadgen_report_on_a_corrupt_folder_says_which_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes
) -> None:
    """`loadgen report` on a damaged folder exits 2 with one line naming the file."""
    folder = folder_of_a_run(tmp_path)
    (folder / name).write_bytes(content)
    assert cli.main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loadgen: ") and "Traceback" not in err
    assert name.split(".")[0].split("_")[0] in err.lower() or "config" in err


def test_web_port_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """--web-port 70000 exits 2 naming the flag."""
    with pytest.raises(SystemExit) as caught:
        cli.main(["run", "configs/quickstart.yaml", "--web-port", "70000"])
    assert caught.value.code == 2
    assert "--web-port" in capsys.readouterr().err


def test_the_timeline_has_no_fake_zeros_and_marks_the_stages(tmp_path: Path) -> None:
    """Empty latency cells read as gaps (NaN) for the plot; stage starts are found."""
    folder = folder_of_a_run(tmp_path)
    data = plots.read_timeline(folder / "timeline.csv", empty=math.nan)
    assert math.isnan(data["connect_p95_ms"][0]) and data["connect_p95_ms"][1] == 12
    assert plots.stage_starts(data["time_s"], data["stage"]) == [(1.0, "stage 1"), (4.0, "end")]
    assert plots.rate_per_s([0.0, 1.0, 2.0], [0.0, 10.0, 30.0])[2] == pytest.approx(15.0)
    plots.plot_timeline(folder / "timeline.csv", folder / "timeline.png", "t")
    assert (folder / "timeline.png").read_bytes()[:4] == b"\x89PNG"


def test_report_html_carries_the_verdict_and_failing_ids() -> None:
    """The section shows the verdict, each check, the failures with their first ids."""
    from loadgen.observe import htmlreport

    summary = summary_with([Entry("WS", "connect", 3, 3, 0, 0, 0)], {}, {"failed": 3})
    summary["failures"] = {"handshake_rejected": 3}
    summary["failing_ids"] = {"handshake_rejected": ["CP-<1>", "CP-2"]}
    locust_page = (
        "<html><head><script>const t='<body style=\"m\">';</script></head>"
        "<body class='x'><div id=root></div></body></html>"
    )
    page = htmlreport.merged(locust_page, "")
    page = htmlreport.merged(page, htmlreport.section(summary, b"\x89PNG"))
    assert (
        page.index("<body class='x'>") < page.index(htmlreport.BEGIN) < page.index("<div id=root>")
    )
    assert page.index("</script>") < page.index(htmlreport.BEGIN)  # not inside the script
    assert "FAILED" in page and "CP-&lt;1&gt;, CP-2" in page and "data:image/png" in page
    assert "max_connect_p95_ms" in page and "no data" in page
    again = htmlreport.merged(page, htmlreport.section({"thresholds": {"passed": True}}))
    assert again.count(htmlreport.BEGIN) == 1 and "PASSED" in again


def test_evaluate_keeps_checks_with_data_unchanged() -> None:
    """A check with samples compares its value with the limit as before."""
    summary = {
        "connections": {"success_rate": 0.5, "boot_rate": 1.0},
        "connect_ms": {"p95": 10.0, "p99": 20.0, "samples": 4},
        "messages": {"Heartbeat": {"count": 3, "p95_ms": 900.0, "samples": 3}},
        "failures": {},
    }
    config = from_dict({"thresholds": {"max_call_p95_ms": {"*": 500}}})
    verdict = evaluate(summary, config.thresholds)
    assert [(c["name"], c["passed"]) for c in verdict["checks"]] == [
        ("min_success_rate", False),
        ("min_boot_rate", True),
        ("max_connect_p95_ms", True),
        ("max_call_p95_ms.Heartbeat", False),
    ]


@pytest.mark.parametrize("rows", ["CP-1\nnot valid!\n", "# no ids\n"])
def test_doctor_refuses_a_bad_or_empty_ids_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str
) -> None:
    """`loadgen doctor` exits 2 on an ids file with a bad row or no rows, naming the file."""
    (tmp_path / "ids.csv").write_text(rows)
    (tmp_path / "run.yaml").write_text(
        f"target: ws://127.0.0.1:9/ocpp\ncharge_points: {{ids_file: {tmp_path / 'ids.csv'}}}\n"
        "stages: [{users: 1, spawn_rate: 1, duration: 5}]\n"
    )
    assert cli.main(["doctor", str(tmp_path / "run.yaml")]) == 2
    err = capsys.readouterr().err
    assert "charge_points.ids_file" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "path",
    sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_the_effective_config_of_every_shipped_config_loads_back_the_same(path: Path) -> None:
    """What the master sends its workers (and writes to the results) is the config itself."""
    config = load(path, check_files=False)
    text = configfile.effective_yaml(config, masked=False)
    again = configfile.from_text(text, name=config.name, path=config.path, check_files=False)
    assert again == config
