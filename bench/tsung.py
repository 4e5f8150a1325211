"""Tsung 1.7 as a peer generator for ``make bench-peers``: its config, install and process.

The session is written for Tsung's ``ts_websocket`` plugin (read in processone/tsung at
v1.7.0: ``ts_config_websocket.erl``, ``ts_websocket.erl``): ``type="connect"`` with
``path`` and ``subprotocols``; ``type="message"`` whose ``ack`` defaults to ``parse``,
which waits for the next frame from the server before the session goes on; ``frame``
defaults to ``binary``. Tsung runs in one Erlang VM (``use_controller_vm``) with its own
``epmd`` on a free loopback port, its logs and ``HOME`` in a folder of ours.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from bench.common import descendants, stop
from loadgen.run.cli import free_port

TSUNG_DTD = "/usr/share/tsung/tsung-1.0.dtd"
#: Erlang schedulers that sleep at once when out of work instead of spinning a while
NO_SPIN = "+sbwt none +sbwtdcpu none +sbwtdio none"

BOOT = '[2,"1","BootNotification",{"chargePointVendor":"x","chargePointModel":"y"}]'
#: after an Accepted boot a 1.6 charger reports connector 0 and each connector (errata 3.22)
STATUS0 = (
    '[2,"2","StatusNotification",{"connectorId":0,"errorCode":"NoError","status":"Available"}]'
)
STATUS = '[2,"3","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]'


def tsung_config(port: int, chargers: int, rate: float, heartbeat_s: int, run_s: float) -> str:
    """The XML of ``chargers`` arriving at ``rate``/s against ``127.0.0.1:port``.

    ``tsung_userid`` is Tsung's own per-session counter (1, 2, ...): the charger id.
    ``frame="text"``: OCPP-J is text frames (Tsung's default is binary). A ``message``
    without ``ack`` waits for the answer frame (``ack="parse"``) before the next request.
    The phase lasts as long as the run may: ``maxnumber`` ends it. Tsung stops launching
    when a phase's time is up, and on a busy machine its launcher falls behind (a phase
    of 3x the ramp once ended at 7,139 of 10,000). The Heartbeat loop outlasts the run,
    which we end ourselves.
    """
    phase_s = math.ceil(run_s)
    beats = math.ceil(run_s / heartbeat_s) + 2
    return f"""<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "{TSUNG_DTD}">
<tsung loglevel="error" dumptraffic="false" version="1.0">
  <clients>
    <client host="localhost" use_controller_vm="true" maxusers="{chargers}"/>
  </clients>
  <servers>
    <server host="127.0.0.1" port="{port}" type="tcp"/>
  </servers>
  <load>
    <arrivalphase phase="1" duration="{phase_s}" unit="second">
      <users maxnumber="{chargers}" arrivalrate="{rate:g}" unit="second"/>
    </arrivalphase>
  </load>
  <sessions>
    <session name="ocpp" probability="100" type="ts_websocket">
      <request subst="true">
        <websocket type="connect" path="/ocpp/TSUNG-%%_tsung_userid%%" subprotocols="ocpp1.6"/>
      </request>
      <request><websocket type="message" frame="text">{BOOT}</websocket></request>
      <request><websocket type="message" frame="text">{STATUS0}</websocket></request>
      <request><websocket type="message" frame="text">{STATUS}</websocket></request>
      <for from="3" to="{beats + 2}" var="n">
        <thinktime value="{heartbeat_s}" random="false"/>
        <request subst="true">
          <websocket type="message" frame="text">[2,"%%_n%%","Heartbeat",{{}}]</websocket>
        </request>
      </for>
    </session>
  </sessions>
</tsung>
"""


def ensure_tsung() -> str:
    """The path of ``tsung``; installs Debian's package when missing and we are root.

    Raises SystemExit saying how to install it otherwise.
    """
    found = shutil.which("tsung")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("bench-peers: tsung is missing: sudo apt-get install -y tsung")
    print("bench-peers: installing Debian's tsung package", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "tsung"], check=True, env=env)
    found = shutil.which("tsung")
    if not found:
        raise SystemExit("bench-peers: apt-get installed tsung but it is not on PATH")
    return found


class TsungRun:
    """Tsung and its own ``epmd``, running the workload until :meth:`stop`.

    ``run_s`` bounds the arrival phase and the Heartbeat loop; ``cpus`` pins Tsung with
    ``taskset -c``; ``extra_erl_flags`` go to the Erlang VM (e.g. :data:`NO_SPIN`).
    """

    def __init__(
        self,
        port: int,
        chargers: int,
        rate: float,
        heartbeat_s: int,
        run_s: float,
        work: Path,
        cpus: str,
        extra_erl_flags: str = "",
    ) -> None:
        folder = work / f"tsung-{time.monotonic_ns()}"
        (folder / "home").mkdir(parents=True)
        config = folder / "ocpp.xml"
        config.write_text(tsung_config(port, chargers, rate, heartbeat_s, run_s))
        epmd_port = free_port()
        env = {
            **os.environ,
            "HOME": str(folder / "home"),  # nothing lands in ~/.tsung or ~/.erlang.cookie
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            # Erlang distribution (Tsung's controller talks to itself) only on loopback.
            "ERL_FLAGS": f"-kernel inet_dist_use_interface {{127,0,0,1}} {extra_erl_flags}",
        }
        self.log = folder / "tsung.out"
        with open(self.log, "wb") as log:
            # Our own epmd in the foreground: erl would otherwise start a daemon that
            # outlives the run and that we could not tell from anyone else's.
            self.epmd = subprocess.Popen(
                ["epmd", "-port", str(epmd_port), "-address", "127.0.0.1"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            _wait_listening(epmd_port)
            self.proc = subprocess.Popen(
                [
                    *("taskset", "-c", cpus, ensure_tsung()),
                    *("-n", "-f", str(config), "-l", str(folder / "log"), "start"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env=env,
            )

    def stop(self) -> None:
        """SIGTERM the Erlang VM (it stops cleanly), then the script, then epmd."""
        for pid in descendants(self.proc.pid):
            if _comm(pid).startswith("beam"):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            stop(self.proc, timeout_s=5, sig=signal.SIGTERM)
        stop(self.epmd, timeout_s=20, sig=signal.SIGTERM)


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _wait_listening(port: int, timeout_s: float = 10.0) -> None:
    """Wait until something accepts on ``127.0.0.1:port`` (our epmd); raises SystemExit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench-peers: epmd did not listen on 127.0.0.1:{port}")
