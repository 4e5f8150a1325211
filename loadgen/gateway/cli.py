"""Command line of the reference gateway: ``python -m loadgen.gateway [flags]``.

:func:`add_arguments` and :func:`run` let another command line embed the gateway as a
subcommand; :func:`main` is the stand-alone entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable

from loadgen.gateway import redisconf
from loadgen.gateway.answers import AnswerConfig
from loadgen.gateway.operator import ScriptError, read_script
from loadgen.gateway.security import BasicAuth, SecurityConfigError, server_ssl_context
from loadgen.gateway.server import (
    PING_INTERVAL_S,
    PING_TIMEOUT_S,
    ServerOptions,
    serve_until_stopped,
)
from loadgen.gateway.system import (
    bind_error_message,
    metrics_line,
    raise_open_files_limit,
    ready_line,
)

log = logging.getLogger("loadgen.gateway")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{upper}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or a positive number, got {text}")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds, got 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the gateway's flags to ``parser``."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=_int_at_least(0, 65535),
        default=9000,
        help="TCP port; 0 lets the system pick a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--processes",
        type=_int_at_least(1, 1024),
        default=1,
        help="worker processes sharing the port with SO_REUSEPORT (default: %(default)s)",
    )
    parser.add_argument(
        "--backlog",
        type=_int_at_least(1),
        default=65535,
        help="listen backlog; the kernel caps it at net.core.somaxconn (default: %(default)s)",
    )
    parser.add_argument(
        "--heartbeat-interval-s",
        type=_int_at_least(0),
        default=60,
        help="heartbeat interval returned with an Accepted boot (default: %(default)s)",
    )
    parser.add_argument(
        "--boot-status",
        choices=("Accepted", "Pending", "Rejected"),
        default="Accepted",
        help="status answered to every BootNotification (default: %(default)s)",
    )
    parser.add_argument(
        "--boot-retry-interval-s",
        type=_int_at_least(0),
        default=10,
        help="interval returned with a Pending or Rejected boot (default: %(default)s)",
    )
    parser.add_argument(
        "--ping-interval-s",
        type=_seconds,
        default=PING_INTERVAL_S,
        help="ping each connection this often, to drop half-open ones; 0 turns pings off "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--ping-timeout-s",
        type=_positive_seconds,
        default=PING_TIMEOUT_S,
        help="drop a connection whose pong is this late (default: %(default)s)",
    )
    parser.add_argument(
        "--metrics-port",
        type=_int_at_least(0, 65535),
        help="also serve Prometheus metrics of all processes at http://HOST:PORT/metrics "
        "(GET /metrics on the gateway's port shows the process that accepts it)",
    )
    parser.add_argument(
        "--metrics-allow-remote",
        action="store_true",
        help="answer /metrics to other hosts too (default: loopback clients only)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default="INFO",
        help="log level on stderr (default: %(default)s)",
    )
    security = parser.add_argument_group("security profiles (OCPP 1.6 security / 2.0.1 A00)")
    security.add_argument("--tls-cert", help="serve wss:// with this PEM certificate")
    security.add_argument("--tls-key", help="the certificate's PEM private key")
    security.add_argument(
        "--tls-client-ca", help="require client certificates signed by this CA (profile 3)"
    )
    security.add_argument(
        "--basic-auth-file",
        help="CSV of id,password: require HTTP Basic auth with each charger's password",
    )
    operator = parser.add_argument_group("operator (docs/fleets.md)")
    operator.add_argument(
        "--script",
        help="YAML or JSON operator script: calls to send to a share of the chargers at set "
        "times, e.g. [{at: 60s, call: UpdateFirmware, share: 0.1}]",
    )
    operator.add_argument(
        "--validate",
        action="store_true",
        help="check every charger frame against the official OCPP schemas and count the "
        "errors in GET /_status (costs CPU: for checks, not for scale)",
    )
    redisconf.add_arguments(parser)
    # Internal: set by the multi-process parent on the workers it starts.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    # Internal: a worker serves its metrics on a free loopback port for the parent.
    parser.add_argument("--worker-metrics", action="store_true", help=argparse.SUPPRESS)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    logging.getLogger("loadgen").setLevel(level)
    # websockets logs every connection at INFO: far too much with thousands of chargers.
    logging.getLogger("websockets").setLevel(level if level == "DEBUG" else "WARNING")


def run(args: argparse.Namespace) -> int:
    """Run the gateway until SIGINT/SIGTERM; the process exit status."""
    _configure_logging(args.log_level)
    try:
        redis = redisconf.settings_from_args(args)
    except redisconf.RedisConfigError as exc:
        print(f"loadgen gateway: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        ssl_context = server_ssl_context(args.tls_cert, args.tls_key, args.tls_client_ca)
        basic_auth = BasicAuth.from_csv(args.basic_auth_file) if args.basic_auth_file else None
    except SecurityConfigError as exc:
        print(f"loadgen gateway: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        script = read_script(args.script) if args.script else ()
    except ScriptError as exc:
        print(f"loadgen gateway: {exc}", file=sys.stderr, flush=True)
        return 2
    raise_open_files_limit()
    if args.processes > 1 and not args.worker:
        from loadgen.gateway.supervisor import run_parent

        return run_parent(args)
    options = ServerOptions(
        host=args.host,
        port=args.port,
        backlog=args.backlog,
        reuse_port=args.worker,
        ping_interval_s=args.ping_interval_s,
        ping_timeout_s=args.ping_timeout_s,
        metrics_allow_remote=args.metrics_allow_remote,
        metrics_port=0 if args.worker_metrics else args.metrics_port,
        metrics_host="127.0.0.1" if args.worker_metrics else args.host,
        answers=AnswerConfig(
            heartbeat_interval_s=args.heartbeat_interval_s,
            boot_status=args.boot_status,
            boot_retry_interval_s=args.boot_retry_interval_s,
        ),
        stop_on_stdin_eof=args.worker,
        redis=redis,
        ssl=ssl_context,
        basic_auth=basic_auth,
        script=script,
        validate=args.validate,
    )

    listening = False
    metrics_port: int | None = None

    def on_metrics(port: int) -> None:
        nonlocal metrics_port
        metrics_port = port

    def on_ready(port: int) -> None:
        nonlocal listening
        listening = True
        print(ready_line(args.host, port, 1, os.getpid()), flush=True)
        if metrics_port is not None:  # after the ready line, which comes first
            print(metrics_line(options.metrics_host, metrics_port, os.getpid()), flush=True)

    try:
        asyncio.run(serve_until_stopped(options, on_ready, on_metrics))
    except OSError as exc:
        if listening:
            raise
        if options.metrics_port is not None and metrics_port is None:
            message = bind_error_message(exc, args.host, args.metrics_port, "--metrics-port")
        else:
            message = bind_error_message(exc, args.host, args.port)
        print(message, file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:  # only before the signal handlers are installed
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the gateway."""
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.gateway",
        description="Reference OCPP gateway: a lean stand-in CSMS for OCPP 1.6J, 2.0.1 and 2.1.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
