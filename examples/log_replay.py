"""A log replay: a real charger's OCPP-J frames, from a file, with their timing.

    loadgen run examples/charging.yaml --locustfile examples/log_replay.py

Each time a driver arrives, the charger sends the log's own CALLs (``out`` lines of
``sample-charger.log``) at the log's pace, with today's timestamps and the transaction
id the back end gives now; the back end's lines (``in``) are what it answered then, and
are skipped. Each CALL is counted as ``OCPP <Action>``; the whole replay as
``replay sample-charger.log``. Set LOADGEN_REPLAY_LOG to replay another file (1.6).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadgen import ChargePointUser, Charger, scenario
from loadgen.run.locustfile import StagesShape  # noqa: F401  (loadgen's options, stages, results)

LOG = Path(os.environ.get("LOADGEN_REPLAY_LOG", Path(__file__).with_name("sample-charger.log")))


def read_log(path: Path) -> list[tuple[float, str, dict[str, Any]]]:
    """The charger's CALLs of a log: (seconds since its start, action, payload)."""
    calls = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        at, direction, frame = line.split(maxsplit=2)
        message = json.loads(frame)
        if direction == "out" and message[0] == 2:
            calls.append((float(at), message[2], message[3]))
    return calls


CALLS = read_log(LOG)


def refreshed(payload: dict[str, Any], transaction_id: int | None) -> dict[str, Any]:
    """The payload with today's time and the transaction id the back end gave now."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    text = json.dumps(payload)
    out: dict[str, Any] = json.loads(text)
    if "timestamp" in out:
        out["timestamp"] = now
    for value in out.get("meterValue", []):
        value["timestamp"] = now
    if "transactionId" in out and transaction_id is not None:
        out["transactionId"] = transaction_id
    return out


class ReplayingChargers(ChargePointUser):
    @scenario()
    def replay(self, cp: Charger) -> None:
        started = time.perf_counter()
        transaction_id = None
        for at, action, payload in CALLS:
            cp.wait(at - (time.perf_counter() - started))  # the log's pace
            answer = cp.call(action, refreshed(payload, transaction_id))
            if action == "StartTransaction":
                transaction_id = answer.get("transactionId")
        self.environment.events.request.fire(
            request_type="replay",
            name=LOG.name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(CALLS),
            exception=None,
            context={},
        )
