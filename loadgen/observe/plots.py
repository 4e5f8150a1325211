"""``timeline.png``: connected charge points against the stage target, failures, latency.

A running Locust master draws it in a short-lived child (:func:`draw_in_child`, or
``python -m loadgen.observe.plots CSV PNG [TITLE]``): matplotlib and numpy cost ~50 MB
that the master would otherwise keep to its end.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path


def read_timeline(path: Path) -> dict[str, list[float]]:
    """Columns of ``timeline.csv`` as floats (empty cells as 0)."""
    columns: dict[str, list[float]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for name in reader.fieldnames or ():
            columns[name] = []
        for row in reader:
            for name, value in row.items():
                try:
                    columns[name].append(float(value) if value else 0.0)
                except ValueError:
                    columns[name].append(0.0)
    return columns


def plot_timeline(timeline_csv: Path, out_png: Path, title: str = "") -> Path:
    """Draw the three panels of ``timeline.png`` from ``timeline.csv``; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    data = read_timeline(timeline_csv)
    t = data.get("time_s", [])
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(11, 9), sharex=True)
    top.step(t, data.get("target_users", []), where="post", label="stage target", color="grey")
    top.plot(t, data.get("connected", []), label="connected", color="tab:blue", linewidth=2)
    top.set_ylabel("charge points")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    plotted = False
    for name, values in data.items():
        if name.startswith("failures_") and any(values):
            middle.plot(t, values, label=name.removeprefix("failures_"))
            plotted = True
    if not plotted:
        middle.text(0.5, 0.5, "no failures", ha="center", va="center", transform=middle.transAxes)
    else:
        middle.legend(loc="upper left")
    middle.set_ylabel("failures (cumulative)")
    middle.grid(alpha=0.3)
    bottom.plot(t, data.get("connect_p95_ms", []), label="connect p95", color="tab:orange")
    bottom.plot(t, data.get("heartbeat_p95_ms", []), label="Heartbeat p95", color="tab:green")
    bottom.set_ylabel("ms")
    bottom.set_xlabel("seconds since start")
    bottom.legend(loc="upper left")
    bottom.grid(alpha=0.3)
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
