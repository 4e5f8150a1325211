"""``timeline.png``: connected against the stage target, messages/s, failures, latency.

A running Locust master draws it in a short-lived child (:func:`draw_in_child`, or
``python -m loadgen.observe.plots CSV PNG [TITLE]``): matplotlib and numpy cost ~50 MB
that the master would otherwise keep to its end.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path


def read_timeline(path: Path, empty: float = 0.0) -> dict[str, list[float]]:
    """Columns of ``timeline.csv`` as floats; an empty cell (no data yet) is ``empty``."""
    columns: dict[str, list[float]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for name in reader.fieldnames or ():
            columns[name] = []
        for row in reader:
            for name, value in row.items():
                if name is None or name not in columns:
                    continue  # a row longer than the header
                try:
                    columns[name].append(float(value) if value else empty)
                except (TypeError, ValueError):
                    columns[name].append(empty)
    return columns


def stage_starts(times: list[float], stages: list[float]) -> list[tuple[float, str]]:
    """(time, label) where each stage begins, and where the last one ended."""
    marks: list[tuple[float, str]] = []
    previous: float | None = None
    for t, stage in zip(times, stages, strict=False):
        number = int(stage) if stage == stage and stage > 0 else 0  # NaN or 0: after the end
        if number != previous and not (previous is None and number == 0):
            marks.append((t, f"stage {number}" if number else "end"))
        previous = number
    return marks


def rate_per_s(times: list[float], totals: list[float], window_s: float = 5.0) -> list[float]:
    """Per-second rate of a cumulative count, over a trailing window (workers report
    every few seconds, so one-second differences come in bursts)."""
    out: list[float] = []
    start = 0
    for i, t in enumerate(times):
        while times[start] < t - window_s:
            start += 1
        span = t - times[start]
        out.append((totals[i] - totals[start]) / span if span > 0 else math.nan)
    return out


def plot_timeline(timeline_csv: Path, out_png: Path, title: str = "") -> Path:
    """Draw the four panels of ``timeline.png`` from ``timeline.csv``; returns its path.

    Stage boundaries are vertical lines on every panel; a latency without samples yet is
    a gap, never a zero.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    data = read_timeline(timeline_csv, empty=math.nan)
    t = data.get("time_s", [])

    def column(name: str) -> list[float]:  # a missing column is no data, drawn as nothing
        values = data.get(name, [])
        return values if len(values) == len(t) else [math.nan] * len(t)

    energy = data.get("energy_wh", [])
    fleet_panel = len(energy) == len(t) and any(v == v and v > 0 for v in energy)
    panels = 5 if fleet_panel else 4
    fig, axes = plt.subplots(panels, 1, figsize=(11, 11 + 2.5 * (panels - 4)), sharex=True)
    top, rate, middle, bottom = axes[:4]
    top.step(t, column("target_users"), where="post", label="stage target", color="grey")
    top.plot(t, column("connected"), label="connected", color="tab:blue", linewidth=2)
    top.set_ylabel("charge points")
    top.legend(loc="upper left")
    messages = data.get("messages", [])
    if messages and len(messages) == len(t):
        rate.plot(t, rate_per_s(t, messages), color="tab:purple", label="messages/s")
        rate.legend(loc="upper left")
    else:
        rate.text(0.5, 0.5, "no message counts", ha="center", va="center", transform=rate.transAxes)
    rate.set_ylabel("messages / s")
    plotted = False
    for name, values in data.items():
        if name.startswith("failures_") and any(v == v and v for v in values):
            middle.plot(t, values, label=name.removeprefix("failures_"))
            plotted = True
    if not plotted:
        middle.text(0.5, 0.5, "no failures", ha="center", va="center", transform=middle.transAxes)
    else:
        middle.legend(loc="upper left")
    middle.set_ylabel("failures (cumulative)")
    bottom.plot(t, column("connect_p95_ms"), label="connect p95", color="tab:orange")
    bottom.plot(t, column("heartbeat_p95_ms"), label="Heartbeat p95", color="tab:green")
    bottom.set_ylabel("ms")
    if not fleet_panel:
        bottom.set_xlabel("seconds since start")
    bottom.legend(loc="upper left")
    if fleet_panel:  # the fleet's power and energy (docs/fleets.md)
        fleet = axes[4]
        fleet.plot(t, [w / 1000 for w in column("power_w")], color="tab:red", label="power kW")
        fleet.set_ylabel("kW")
        fleet.legend(loc="upper left")
        kwh = fleet.twinx()
        kwh.plot(t, [wh / 1000 for wh in energy], color="tab:brown", label="energy kWh")
        kwh.set_ylabel("kWh")
        kwh.legend(loc="upper right")
        fleet.set_xlabel("seconds since start")
    marks = stage_starts(t, column("stage"))
    for axis in axes:
        axis.grid(alpha=0.3)
        for when, _label in marks:
            axis.axvline(when, color="black", alpha=0.25, linestyle=":")
    for when, label in marks:
        top.annotate(
            label,
            (when, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            va="bottom",
            ha="left",
        )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


def draw_in_child(
    timeline_csv: Path, out_png: Path, title: str = "", timeout_s: float = 120
) -> None:
    """Draw ``timeline.png`` in a child process; raises ``RuntimeError`` if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "loadgen.observe.plots", str(timeline_csv), str(out_png), title],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        raise RuntimeError(f"drawing {out_png} failed: {done.stderr.strip()[-500:]}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        sys.stderr.write("usage: python -m loadgen.observe.plots TIMELINE_CSV OUT_PNG [TITLE]\n")
        return 2
    plot_timeline(Path(args[0]), Path(args[1]), args[2] if len(args) == 3 else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
