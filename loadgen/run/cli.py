"""The ``loadgen`` command: ``run`` a config, serve the reference ``gateway``.

``loadgen run`` validates the config, starts the reference gateway when the target is
``embedded``, then a Locust master with N local worker processes (Locust's own
``--processes``), and prints a short summary. Exit 0: thresholds held; 1: thresholds
violated; 2: bad input or the run could not start.
"""

from __future__ import annotations

import argparse
import ast
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from loadgen import config as config_mod
from loadgen.config import Config, ConfigError
from loadgen.run import configfile, lifeline, preflight
from loadgen.run.configfile import quote

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
#: summary.json states written at a run's end; "running" is a summary written on the way
FINAL_STATES = ("finished", "interrupted")
READY_TIMEOUT_S = 30.0


class UsageError(Exception):
    """Bad input on the command line or in the config: exit 2 with the message."""


#: Most local worker processes ``--workers`` may start.
MAX_WORKERS = 1024


def _shown(value: str) -> str:
    """A command-line value quoted for a message, at most 40 characters of it."""
    return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."


def _whole(value: str, low: int, high: int) -> int | None:
    """``value`` as a whole number within [low, high], or None."""
    if not value.isdigit() or len(value) > 12:
        return None
    number = int(value)
    return number if low <= number <= high else None


def _workers(value: str) -> str:
    if value == "auto" or _whole(value, 1, MAX_WORKERS) is not None:
        return value
    raise argparse.ArgumentTypeError(
        f"expected a number from 1 to {MAX_WORKERS} or 'auto', got {_shown(value)}"
    )


def _positive_int(value: str) -> int:
    number = _whole(value, 1, configfile.MAX_USERS)
    if number is None:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {configfile.MAX_USERS:,}, got {_shown(value)}"
        )
    return number


def _port(value: str) -> int:
    number = _whole(value, 1, 65535)
    if number is None:
        raise argparse.ArgumentTypeError(f"expected a TCP port (1-65535), got {_shown(value)}")
    return number


def _duration(value: str) -> float:
    try:
        if len(value) > 32:
            raise ConfigError(value)
        seconds = config_mod.parse_duration(value if not value.isdigit() else int(value), "value")
        if seconds > configfile.MAX_DURATION_S:
            raise ConfigError(value)
        return seconds
    except ConfigError:
        raise argparse.ArgumentTypeError(
            f"expected a duration up to 30 days like 90, 90s or 5m, got {_shown(value)}"
        ) from None


#: The line a locustfile needs for loadgen's options, stages and results.
LOCUSTFILE_IMPORT = "from loadgen.run.locustfile import StagesShape  # noqa: F401"


def _locustfile(text: str) -> str:
    """A locustfile that exists and brings in loadgen's part of the run (loadgen's run
    would else fail inside Locust, with ``unrecognized arguments: --loadgen-config``)."""
    path = Path(text)
    if not path.is_file() or path.suffix != ".py":
        raise argparse.ArgumentTypeError(f"{text}: not a Python file (a locustfile.py)")
    resolved = path.resolve()
    if resolved != LOCUSTFILE.resolve() and not _imports_loadgen_locustfile(resolved):
        raise argparse.ArgumentTypeError(
            f"{text} does not import loadgen's locustfile, which brings loadgen's options "
            "(--loadgen-config ...), its stages and its results folder into a run; without "
            f"it Locust refuses loadgen's options. Add this line to {text}, after its "
            f"other imports: {LOCUSTFILE_IMPORT}"
        )
    return str(resolved)


def _imports_loadgen_locustfile(path: Path) -> bool:
    """Whether the file imports ``loadgen.run.locustfile`` (or a name from it); a file
    that does not parse is left to Python's own error."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "loadgen.run.locustfile":
            return True
        if isinstance(node, ast.Import) and any(
            alias.name == "loadgen.run.locustfile" for alias in node.names
        ):
            return True
    return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadgen", description="Load generator for OCPP charge-point back ends, on Locust."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run a config's stages against a target")
    run.add_argument("config", help="YAML config, e.g. configs/quickstart.yaml")
    run.add_argument("--target", help="ws:// or wss:// URL, or 'embedded' (overrides config)")
    run.add_argument("--ocpp-version", choices=config_mod.OCPP_VERSIONS, help="override config")
    run.add_argument(
        "--workers", type=_workers, default="auto", help="worker processes, or 'auto' (default)"
    )
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--ui", action="store_true", help="open Locust's web UI instead")
    mode.add_argument("--headless", action="store_true", help="no web UI (the default)")
    run.add_argument("--web-host", default="127.0.0.1", help="web UI address (default loopback)")
    run.add_argument("--web-port", type=_port, default=8089, help="web UI port")
    run.add_argument(
        "--web-login",
        action="store_true",
        help="protect the web UI with a login (LOADGEN_WEB_USER, LOADGEN_WEB_PASSWORD)",
    )
    run.add_argument("--results", help="results folder (default results/<UTC time>-<name>)")
    run.add_argument("--users", type=_positive_int, help="one stage of N charge points")
    run.add_argument("--run-time", type=_duration, help="stop after this long, e.g. 90s or 5m")
    run.add_argument(
        "--stop-timeout",
        type=_duration,
        help="at the end, give charge points this long to end their sessions and close "
        "(Locust's --stop-timeout); default: they stop at once, sessions left open",
    )
    run.add_argument(
        "--metrics-port", type=_port, help="Prometheus metrics on 127.0.0.1:PORT/metrics"
    )
    run.add_argument(
        "--locustfile",
        type=_locustfile,
        help="a locustfile with your own ChargePointUser (see examples/); default loadgen's",
    )
    many = run.add_argument_group("many hosts (workers started with `loadgen worker`)")
    many.add_argument(
        "--master", action="store_true", help="start no local workers: wait for remote ones"
    )
    many.add_argument(
        "--expect-workers",
        type=_positive_int,
        default=1,
        help="with --master: start once this many workers joined (default 1)",
    )
    many.add_argument(
        "--bind",
        default="127.0.0.1",
        help="with --master: the address workers connect to (a private one; default loopback)",
    )
    many.add_argument(
        "--master-port", type=_port, default=5557, help="with --master: the workers' port (5557)"
    )
    many.add_argument(
        "--wait-workers",
        type=_duration,
        default=600.0,
        help="with --master: give up when the workers have not joined after this (10m)",
    )
    doc = commands.add_parser(
        "doctor", help="check that this host can hold a config's connections; say the fix"
    )
    doc.add_argument("config", help="YAML config, e.g. configs/seed-13k.yaml")
    doc.add_argument("--target", help="ws:// or wss:// URL, or 'embedded' (overrides config)")
    doc.add_argument("--workers", type=_workers, default="auto", help="worker processes")
    doc.add_argument("--users", type=_positive_int, help="one stage of N charge points")
    doc.add_argument(
        "--probe",
        action="store_true",
        help="open one real connection to the target and say which step fails, and why",
    )
    wrk = commands.add_parser(
        "worker", help="run charge points for a `loadgen run --master` on another host"
    )
    wrk.add_argument("--master", required=True, help="the master's address (its --bind)")
    wrk.add_argument("--master-port", type=_port, default=5557, help="the master's port (5557)")
    wrk.add_argument(
        "--locustfile",
        type=_locustfile,
        help="the locustfile the master runs (its --locustfile), if not loadgen's",
    )
    wrk.add_argument(
        "--processes",
        type=_workers,
        default="auto",
        help="worker processes on this host, or 'auto': one per core (default)",
    )
    rep = commands.add_parser("report", help="rebuild summary, junit.xml and plot of a run")
    rep.add_argument("folder", help="a results folder, e.g. results/20260101T000000Z-quickstart")
    from loadgen import gateway

    gw = commands.add_parser("gateway", help="serve the reference OCPP gateway")
    gateway.add_arguments(gw)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "gateway":
            from loadgen import gateway

            return gateway.run(args)
        if args.command == "doctor":
            return doctor_command(args)
        if args.command == "report":
            return report_command(args.folder)
        if args.command == "worker":
            return worker_command(args)
        return run(args)
    except (UsageError, ConfigError) as exc:
        sys.stderr.write(f"loadgen: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130


def plan(args: argparse.Namespace) -> tuple[Config, int, int]:
    """The effective config, worker processes and gateway processes for a run.

    Workers: ``--workers N``, or ``auto``: one per core and more when the connections
    need them (see :mod:`loadgen.run.doctor`). Raises :class:`UsageError` when this host
    cannot hold the connections (open files, ephemeral ports) and says the fix; prints a
    warning when only the listen queues are short.
    """
    from loadgen.run import doctor

    config = configfile.load(args.config)
    config = configfile.with_overrides(
        config,
        target=args.target,
        ocpp_version=getattr(args, "ocpp_version", None),
        users=args.users,
        run_time_s=getattr(args, "run_time", None),
    )
    preflight.check(config)  # the ids and TLS files, before anything starts (exit 2)
    remote = getattr(args, "master", False)
    planned = doctor.plan_run(config, args.expect_workers if remote else args.workers)
    message = doctor.warning(planned)
    if message is not None:
        # With --master, the charge points' files and ports are the worker hosts' (each
        # runs `loadgen doctor` there): only the embedded gateway's are this host's.
        local = not remote or planned.gateways
        if local and any(not c.ok and not c.name.startswith("net.") for c in planned.checks):
            raise UsageError(message.removeprefix("loadgen: "))
        sys.stderr.write(message + "\n")
    return config, 0 if remote else planned.workers, max(1, planned.gateways)


def doctor_command(args: argparse.Namespace) -> int:
    """``loadgen doctor CONFIG``: 0 when the plan fits this host, 1 when not (with fixes)."""
    from loadgen.run import doctor

    config = configfile.load(args.config)
    config = configfile.with_overrides(config, target=args.target, users=args.users)
    preflight.check(config)
    if args.probe:
        from loadgen.run import probe

        if config.target == "embedded":
            raise UsageError(
                "doctor --probe: the target is 'embedded', the reference gateway of `loadgen "
                "run`. Give your CSMS's URL in the config's target or with --target."
            )
        return probe.run(config)
    limits = doctor.read_limits()
    planned = doctor.plan_run(config, args.workers, limits)
    print(doctor.render(planned, config, limits))
    fits = planned.fits and not doctor.unbindable_sources(config)
    print("fits: yes" if fits else "fits: no (apply the fixes above)")
    return 0 if fits else 1


def run(args: argparse.Namespace) -> int:
    if args.web_login and not os.environ.get("LOADGEN_WEB_PASSWORD"):
        raise UsageError(
            "--web-login: set the password in the LOADGEN_WEB_PASSWORD environment variable "
            "(and the user name in LOADGEN_WEB_USER, default admin); it is never logged."
        )
    if args.web_host not in ("127.0.0.1", "localhost", "::1") and not args.web_login:
        print(
            f"loadgen: warning: the web UI on {args.web_host} can start load from other hosts; "
            "add --web-login to require a password.",
            file=sys.stderr,
        )
    if args.metrics_port is not None:
        _check_port_free(args.metrics_port)
    if args.master:
        _check_bind(args.bind, args.master_port)
    # A background job starts with SIGINT ignored, and children would inherit that: make
    # Ctrl-C / SIGINT mean "stop" here and in everything this run starts.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # SIGTERM too, until Locust runs: the finally blocks then stop what was started.
    signal.signal(signal.SIGTERM, _interrupt)
    config, workers, gateway_processes = plan(args)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    results = Path(args.results or Path("results") / f"{stamp}-{config.name}")
    try:
        results.mkdir(parents=True, exist_ok=True)
        # The config as run: overrides applied, passwords masked (the master writes it
        # again when the test starts). `loadgen report` rebuilds the verdict from it.
        (results / "config.yaml").write_text(configfile.effective_yaml(config), encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"--results: cannot write to {results} ({exc.strerror}). Choose a writable folder."
        ) from None
    gateway_proc = None
    target = config.target
    try:
        if target == "embedded":
            host = args.bind if args.master else "127.0.0.1"  # remote workers must reach it
            gateway_proc, target = start_gateway(results, gateway_processes, config, host)
        spread = (
            f"{args.expect_workers} remote workers on {args.bind}:{args.master_port}"
            if args.master
            else f"{workers} workers"
        )
        print(
            f"loadgen: {config.name}: {config.max_users:,} charge points in "
            f"{len(config.stages)} stages against {target}, {spread}",
            flush=True,
        )
        code = run_locust(args, config, target, workers, results)
    finally:
        if gateway_proc is not None:
            stop_process(gateway_proc)
    summary_path = results / "summary.json"
    said = _said(results / "locust.log")
    if not summary_path.exists():
        sys.stderr.write(
            (said or _tail(results / "locust.log"))
            + f"loadgen: the run did not produce {summary_path} (Locust exit code {code}).\n"
        )
        return 2
    import json

    from loadgen.observe.report import human_summary

    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        state, passed = summary.get("state"), summary["thresholds"]["passed"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        sys.stderr.write(
            f"loadgen: cannot read {summary_path} ({exc}); the run's verdict is unknown.\n"
        )
        return 2
    if state not in FINAL_STATES:
        # Written while the run went: the final summary never replaced it. The master
        # says why on its stderr, which went to locust.log.
        sys.stderr.write(
            said or f"loadgen: the final results were not written (see {results / 'locust.log'})."
        )
        sys.stderr.write(
            f"\nloadgen: {summary_path} is from while the run went (state {quote(state)}), "
            "not its end: the verdict is unknown (exit 2).\n"
        )
        return 2
    print(human_summary(summary))
    print(f"Results: {results} (summary.json, junit.xml, timeline.csv/png, report.html)")
    if code not in (0, 1):
        sys.stderr.write(said)
        return 2
    return 0 if passed else 1


def report_command(folder: str) -> int:
    """``loadgen report DIR``: rebuild and print the summary of a results folder."""
    from loadgen.observe.report import ReportError, human_summary, rebuild

    def load_copy(path: Path) -> Config:  # the run's files may live on another host
        return configfile.load(path, check_files=False)

    try:
        summary = rebuild(folder, load_copy)
    except FileNotFoundError as exc:
        raise UsageError(
            f"report: {folder} is not a complete results folder: {exc.args[0]} is missing. "
            "Give a folder written by `loadgen run`."
        ) from None
    except ReportError as exc:
        raise UsageError(
            f"report: in {folder}, {exc}. Restore the file from the run, or run again."
        ) from None
    except OSError as exc:
        raise UsageError(
            f"report: cannot write into {folder} ({exc.strerror or exc}). Fix the folder's "
            "permissions or free space, then run `loadgen report` again."
        ) from None
    if summary.get("rebuilt_without"):
        sys.stderr.write(
            f"loadgen: report: {summary['rebuilt_without']}; rebuilt from the CSV files, the "
            "timeline and config.yaml (worker memory and failing ids are lost).\n"
        )
    print(human_summary(summary))
    return 0 if summary["thresholds"]["passed"] else 1


def _check_bind(address: str, port: int) -> None:
    """Raise UsageError unless the master can listen on ``address:port``; warn when the
    address is not a loopback one (whoever reaches it can join as a worker)."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UsageError(
            f"--bind {_shown(address)}: not an address of this host. Give the private "
            "address the worker hosts reach, e.g. --bind 10.0.0.5."
        ) from None
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            raise UsageError(
                f"--bind {_shown(address)} --master-port {port}: cannot listen there "
                f"({exc.strerror}). Give an address of this host and a free port."
            ) from None
    if address in ("0.0.0.0", "::"):
        print(
            f"loadgen: warning: --bind {address} opens the workers' port on every network of "
            "this host; whoever reaches it can join as a worker and receives the config. "
            "Bind a private address (docs/scale.md, 'Who may talk to the master').",
            file=sys.stderr,
        )


def worker_command(args: argparse.Namespace) -> int:
    """``loadgen worker --master HOST``: Locust worker processes for a remote master.

    No config file is needed here: the master sends its config (and the workers check
    it, with the files it names, before any charge point starts).
    """
    processes = -1 if args.processes == "auto" else int(args.processes)
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(getattr(args, "locustfile", None) or LOCUSTFILE),
        "--worker",
        "--master-host",
        args.master,
        "--master-port",
        str(args.master_port),
        "--loglevel",
        "WARNING",
    ]
    if processes != 1:
        cmd += ["--processes", str(processes)]
    print(f"loadgen: worker of {args.master}:{args.master_port}", flush=True)
    with lifeline.held_signals():
        proc = subprocess.Popen(cmd, preexec_fn=lifeline.preexec(signal.SIGTERM))
        previous = {
            sig: signal.signal(sig, lambda *_: proc.send_signal(signal.SIGINT))
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            stop_process(proc, signal.SIGINT)


def _check_port_free(port: int) -> None:
    """Raise UsageError unless 127.0.0.1:``port`` can be listened on (--metrics-port)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UsageError(
                f"--metrics-port {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror}). "
                "Choose a free port, or leave the flag out."
            ) from None


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_gateway(
    results: Path, processes: int, config: Config, host: str = "127.0.0.1"
) -> tuple[subprocess.Popen, str]:
    """Start the reference gateway on ``host``; returns the process and the target URL."""
    port = free_port(host)
    log = open(results / "gateway.log", "wb")  # noqa: SIM115 - the child keeps writing
    cmd = [
        sys.executable,
        "-m",
        "loadgen.gateway",
        "--host",
        host,
        "--port",
        str(port),
        "--processes",
        str(processes),
    ]
    env = None
    plan = config.gateway  # the operator's script and schema checks (docs/fleets.md)
    if plan.script:
        import json

        steps = [
            {"at_s": s.at_s, "call": s.call, "share": s.share, "params": dict(s.params)}
            | ({"pick": s.pick} if s.pick else {})
            for s in plan.script
        ]
        script = results / "gateway-script.json"
        script.write_text(json.dumps(steps), encoding="utf-8")
        cmd += ["--script", str(script)]
    if plan.validate:
        cmd.append("--validate")
    if config.redis is not None:  # the gateway writes the mappings that the probe reads
        from loadgen.redismap import GATEWAY_URL_ENV, mask_url

        cmd += ["--redis-key", config.redis.key]
        if mask_url(config.redis.url) != config.redis.url:  # a password: not in argv or ps
            env = {**os.environ, GATEWAY_URL_ENV: config.redis.url}
        else:
            cmd += ["--redis-url", config.redis.url]
    # Its own session: a Ctrl-C in the terminal reaches only us, and we stop the gateway
    # after Locust, so charge points are not cut off before the results are written.
    # It ends with us (SIGTERM), even when we are killed; a SIGINT or SIGTERM while it
    # starts stops it too.
    proc = None
    try:
        with lifeline.held_signals():
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                preexec_fn=lifeline.preexec(signal.SIGTERM),
            )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if b"listening on" in (results / "gateway.log").read_bytes():
                shown = f"[{host}]" if ":" in host else host
                return proc, f"ws://{shown}:{port}/ocpp"
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    except BaseException:
        if proc is not None:
            stop_process(proc)
        raise
    finally:
        log.close()
    stop_process(proc)
    raise UsageError(
        "target: the embedded gateway did not start (see "
        f"{results / 'gateway.log'}). Check that loopback ports are free, or give a "
        "ws:// target."
    )


def run_locust(
    args: argparse.Namespace, config: Config, target: str, workers: int, results: Path
) -> int:
    """Run Locust (master + local workers) to the end; returns its exit code."""
    if args.master:  # remote workers: `loadgen worker --master ADDRESS` on their hosts
        spread = [
            "--master",
            "--expect-workers",
            str(args.expect_workers),
            "--expect-workers-max-wait",
            str(max(1, round(args.wait_workers))),
            "--master-bind-host",
            args.bind,
            "--master-bind-port",
            str(args.master_port),
        ]
    else:
        master_port = free_port()
        spread = [
            "--processes",
            str(workers),
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(master_port),
            "--master-port",
            str(master_port),
        ]
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(getattr(args, "locustfile", None) or LOCUSTFILE),
        *spread,
        "--host",
        target,
        "--loadgen-config",
        str(config.path),
        "--loadgen-results",
        str(results),
        "--csv",
        str(results / "locust"),
        "--loglevel",
        "WARNING",
    ]
    if args.ocpp_version:
        cmd += ["--loadgen-ocpp-version", args.ocpp_version]
    if args.users:
        cmd += ["--loadgen-users", str(args.users)]
    if args.run_time:
        cmd += ["--loadgen-run-time", str(args.run_time)]
    if getattr(args, "stop_timeout", None):  # whole seconds, as Locust reads them
        cmd += ["--stop-timeout", str(max(1, round(args.stop_timeout)))]
    if getattr(args, "metrics_port", None):
        cmd += ["--loadgen-metrics-port", str(args.metrics_port)]
    if args.ui:
        cmd += ["--web-host", args.web_host, "--web-port", str(args.web_port)]
        if args.web_login:
            cmd += ["--web-login"]
        print(f"loadgen: web UI on http://{args.web_host}:{args.web_port}/", flush=True)
    else:
        cmd += ["--headless", "--only-summary"]
    # Unbuffered: a write that fails (a full disk) leaves nothing for close() to retry.
    with open(results / "locust.log", "wb", buffering=0) as log:
        # Locust runs in its own session, so a Ctrl-C reaches it once, from us. It gets
        # SIGINT: a Locust master started with --processes does not handle SIGTERM.
        # It gets SIGINT when we end, even when we are killed.
        with lifeline.held_signals():
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                preexec_fn=lifeline.preexec(signal.SIGINT),
            )
            previous = {
                sig: signal.signal(sig, lambda *_: proc.send_signal(signal.SIGINT))
                for sig in (signal.SIGINT, signal.SIGTERM)
            }
        try:
            assert proc.stdout is not None
            logging = True
            for raw in proc.stdout:
                if logging:
                    try:
                        log.write(raw)
                    except OSError as exc:  # a full disk: keep the run, lose the log
                        logging = False
                        sys.stderr.write(f"loadgen: cannot write locust.log ({exc.strerror})\n")
                line = raw.decode("utf-8", "replace")
                if line.startswith("[") or line.startswith("loadgen:"):
                    sys.stdout.write(line)
                    sys.stdout.flush()
            return proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if proc.poll() is None:
                stop_process(proc, signal.SIGINT)


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM before Locust runs: unwind as a Ctrl-C does, stopping what was started."""
    raise KeyboardInterrupt


def stop_process(
    proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 15.0
) -> None:
    """End a process this command started: ``sig``, then SIGKILL after ``timeout_s``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _said(log: Path) -> str:
    """The last few ``loadgen:`` messages of a log (what the master said went wrong)."""
    said = [ln for ln in _tail(log, 400).splitlines() if "loadgen: " in ln]
    return "".join(ln[ln.index("loadgen: ") :] + "\n" for ln in said[-5:])


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:]) + "\n"
