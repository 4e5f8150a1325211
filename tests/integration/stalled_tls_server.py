"""A wss:// server that floods a charge point with calls and stops reading for a while.

``python stalled_tls_server.py --cert C --key K --calls N --stall S --report PATH``

It accepts one charge point, upgrades it (subprotocol ocpp1.6), answers its
BootNotification, then sends N GetConfiguration calls in one burst and reads nothing
for S seconds, so the charge point's answers and its own calls (Heartbeats) back up in
its socket. Then it reads everything, parsing every frame with websockets' sans-I/O
protocol (strict RFC 6455: a frame cut into by another would fail it), answers the
charge point's calls, and writes a JSON report: the GetConfiguration answers received
in order, the Heartbeats, and any protocol error. Prints ``listening on PORT`` when
ready. Loopback only; ends after the report or when killed.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any

from websockets.frames import Opcode
from websockets.server import ServerProtocol


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--stall", type=float, default=2.0)
    parser.add_argument("--settle", type=float, default=2.5)
    parser.add_argument("--report", required=True)
    args = parser.parse_args()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    listener = socket.socket()
    # a small receive window: the charge point's kernel buffers fill within the stall
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print(f"listening on {listener.getsockname()[1]}", flush=True)
    raw, _ = listener.accept()
    conn = context.wrap_socket(raw, server_side=True)
    conn.settimeout(10)
    protocol = ServerProtocol(subprotocols=["ocpp1.6"])
    #: heartbeats: how many GetConfiguration answers had arrived before each Heartbeat
    report: dict[str, Any] = {"answers": [], "heartbeats": [], "error": None}

    def pump(until: float) -> list[str]:
        """Read and parse until ``until`` (monotonic); the text messages received."""
        texts = []
        while time.monotonic() < until:
            conn.settimeout(max(0.05, until - time.monotonic()))
            try:
                data = conn.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            protocol.receive_data(data)
            for event in protocol.events_received():
                if hasattr(event, "opcode") and event.opcode == Opcode.TEXT:
                    texts.append(event.data.decode())
            if protocol.parser_exc is not None:
                report["error"] = repr(protocol.parser_exc)
                break
            out = protocol.data_to_send()
            for chunk in out:
                conn.sendall(chunk)
        return texts

    # the upgrade
    while protocol.handshake_exc is None and not getattr(protocol, "_request_seen", False):
        data = conn.recv(65536)
        protocol.receive_data(data)
        requests = protocol.events_received()
        if requests:
            response = protocol.accept(requests[0])
            protocol.send_response(response)
            for chunk in protocol.data_to_send():
                conn.sendall(chunk)
            break

    def answer_calls(texts: list[str]) -> None:
        for text in texts:
            frame = json.loads(text)
            if frame[0] == 2:
                if frame[2] == "Heartbeat":
                    report["heartbeats"].append(len(report["answers"]))
                payload = (
                    {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 1}
                    if frame[2] == "BootNotification"
                    else {"currentTime": "2026-01-01T00:00:00Z"}
                    if frame[2] == "Heartbeat"
                    else {}
                )
                protocol.send_text(json.dumps([3, frame[1], payload]).encode())
            elif frame[0] == 3 and str(frame[1]).startswith("g"):
                report["answers"].append(frame[1])
        for chunk in protocol.data_to_send():
            conn.sendall(chunk)

    deadline = time.monotonic() + 10
    booted = False
    while not booted and time.monotonic() < deadline:
        texts = pump(time.monotonic() + 0.2)
        booted = any('"BootNotification"' in t for t in texts)
        answer_calls(texts)
    settled = time.monotonic() + args.settle  # statuses and a Heartbeat answered first
    while time.monotonic() < settled:
        answer_calls(pump(min(settled, time.monotonic() + 0.05)))
    # bursts while not reading: the charge point's answers back up on its side, and its
    # Heartbeats join them in the same queue
    batches = 10
    for batch in range(batches):
        for i in range(batch * args.calls // batches, (batch + 1) * args.calls // batches):
            protocol.send_text(json.dumps([2, f"g{i}", "GetConfiguration", {}]).encode())
        for chunk in protocol.data_to_send():
            conn.sendall(chunk)
        time.sleep(args.stall / batches)
    end = time.monotonic() + 30
    quiet_until = None
    while time.monotonic() < end:
        answer_calls(pump(time.monotonic() + 0.5))
        if report["error"]:
            break
        if len(report["answers"]) >= args.calls:
            quiet_until = quiet_until or time.monotonic() + 1  # what queued behind them
            if time.monotonic() >= quiet_until:
                break
    Path(args.report).write_text(json.dumps(report))
    conn.close()


if __name__ == "__main__":
    main()
