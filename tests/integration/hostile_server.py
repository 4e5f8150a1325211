"""A hostile or broken OCPP server for tests: ``python hostile_server.py MODE --port 0``.

Modes (each misbehaves in one way, everything else is a correct OCPP 1.6 gateway; it
accepts the subprotocol the client offers, and speaks 2.x where a mode says so):
  bad_json      answers every CALL with text that is not JSON
  wrong_type    answers every CALL with message type 7
  unknown_id    answers every CALL with a CALLRESULT for an id nobody sent
  oversized     answers BootNotification, then sends a 2 MiB text frame
  silent        upgrades, then never answers a CALL
  mute_heartbeat      answers every CALL but Heartbeat
  ping_heartbeat      sends a WebSocket ping just before each Heartbeat's answer
  trigger_status      after each Heartbeat's answer, TriggerMessage StatusNotification
  client_pings  after the boot, ChangeConfiguration WebSocketPingInterval 1; answers each
                client Ping with a Pong, then a DataTransfer (vendorId hostile.ping) that
                shows the client the ping arrived
  no_pongs      after the boot, sets WebSocketPingInterval to 1 (1.6 ChangeConfiguration,
                2.x SetVariables) and never answers a client Ping
  random_names  after the boot, 500 CALLs of distinct random actions; every other CALL
                of the charge point answered with a CALLERROR of a distinct random code
  no_upgrade    accepts TCP and never answers the HTTP upgrade
  http_401 / http_404 / http_503   answers the upgrade with that HTTP status
Prints ``listening on PORT`` when ready. Loopback only; runs until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import secrets
import struct
from datetime import UTC, datetime

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MODES = (
    "bad_json",
    "wrong_type",
    "unknown_id",
    "oversized",
    "silent",
    "mute_heartbeat",
    "ping_heartbeat",
    "trigger_status",
    "client_pings",
    "no_pongs",
    "random_names",
    "no_upgrade",
    "http_401",
    "http_404",
    "http_503",
)


def frame(text: str | bytes, opcode: int = 1) -> bytes:
    """An unmasked server frame."""
    data = text.encode() if isinstance(text, str) else text
    head = bytes([0x80 | opcode])
    if len(data) < 126:
        return head + bytes([len(data)]) + data
    if len(data) < 65536:
        return head + bytes([126]) + struct.pack("!H", len(data)) + data
    return head + bytes([127]) + struct.pack("!Q", len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One masked client frame: (opcode, payload)."""
    b1, b2 = await reader.readexactly(2)
    length = b2 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b2 & 0x80 else b"\0\0\0\0"
    data = bytearray(await reader.readexactly(length))
    for i in range(length):
        data[i] ^= mask[i % 4]
    return b1 & 0x0F, bytes(data)


def answer(mode: str, unique_id: str, action: str) -> str | None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if mode == "bad_json":
        return "this is {not json"
    if mode == "wrong_type":
        return json.dumps([7, unique_id, {}])
    if mode == "unknown_id":
        return json.dumps([3, "nobody-sent-this", {}])
    if mode == "silent" or (mode == "mute_heartbeat" and action == "Heartbeat"):
        return None
    if mode == "random_names" and action != "BootNotification":
        return json.dumps([4, unique_id, f"Err{secrets.token_hex(6)}", "hostile", {}])
    if action == "BootNotification":
        payload = {"status": "Accepted", "currentTime": now, "interval": 1}
    elif action == "Heartbeat":
        payload = {"currentTime": now}
    else:
        payload = {}
    return json.dumps([3, unique_id, payload])


def ping_interval_call(protocol: str, seconds: str) -> list[object]:
    """The CALL that sets the client's WebSocketPingInterval, in its OCPP version."""
    if protocol == "ocpp1.6":
        return [2, "cfg", "ChangeConfiguration", {"key": "WebSocketPingInterval", "value": seconds}]
    data = {
        "attributeValue": seconds,
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "WebSocketPingInterval"},
    }
    return [2, "cfg", "SetVariables", {"setVariableData": [data]}]


async def serve(mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        if mode == "no_upgrade":
            await reader.read()  # hold the connection, never answer
            return
        if mode.startswith("http_"):
            status = int(mode.removeprefix("http_"))
            body = b"go away\n"
            writer.write(
                f"HTTP/1.1 {status} Nope\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            return
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        accept = base64.b64encode(
            hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()
        ).decode()
        protocol = headers.get("sec-websocket-protocol", "ocpp1.6").split(",")[0].strip()
        writer.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
                f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        while True:
            opcode, data = await read_frame(reader)
            if opcode == 8:
                writer.write(frame(data[:2], 8))
                await writer.drain()
                return
            if opcode == 9 and mode == "client_pings":
                seen = {"vendorId": "hostile.ping", "data": data.decode()}
                writer.write(frame(data, 10) + frame(json.dumps([2, "p", "DataTransfer", seen])))
                await writer.drain()
                continue
            if opcode != 1:
                continue
            message = json.loads(data)
            if message[0] != 2:
                continue
            reply = answer(mode, message[1], message[2])
            if mode == "ping_heartbeat" and message[2] == "Heartbeat":
                writer.write(frame(b"are you there", 9))
            if reply is not None:
                writer.write(frame(reply))
            if mode == "trigger_status" and message[2] == "Heartbeat":
                trigger = {"requestedMessage": "StatusNotification"}
                writer.write(frame(json.dumps([2, f"t{message[1]}", "TriggerMessage", trigger])))
            if mode in ("client_pings", "no_pongs") and message[2] == "BootNotification":
                writer.write(frame(json.dumps(ping_interval_call(protocol, "1"))))
            if mode == "random_names" and message[2] == "BootNotification":
                for n in range(500):
                    name = f"Act{secrets.token_hex(6)}"
                    writer.write(frame(json.dumps([2, f"r{n}", name, {"n": n}])))
            if mode == "oversized" and message[2] == "BootNotification":
                huge = {"vendorId": "hostile", "data": "x" * (2 * 1024 * 1024)}
                writer.write(frame(json.dumps([2, "big-1", "DataTransfer", huge])))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = await asyncio.start_server(
        lambda r, w: serve(args.mode, r, w), "127.0.0.1", args.port, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
