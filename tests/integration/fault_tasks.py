"""Tasks that hold after their effect is committed, on the ledger's short and long paths, for the ledger's SIGKILL
and database-outage tests (a worker loads them with `-I tests.integration.fault_tasks`; production workers never
do)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from taskplatform.dev.processes import wait_until
from taskplatform.devices.store import parse_reading
from taskplatform.messaging.celery_app import app
from tasks.devices import apply_readings

HOLD_AFTER_EFFECT = "devices.test_hold_after_effect"


@app.task(name=HOLD_AFTER_EFFECT, ledger_started=False)
def hold_after_effect(reading: dict[str, Any]) -> dict[str, Any]:
    """Apply one health check (committed), then hold while the file TEST_HOLD_FILE exists: the worker can be killed
    with the effect committed and the task's final state not yet written."""
    apply_readings([(parse_reading(reading), reading)])
    hold = Path(os.environ["TEST_HOLD_FILE"])
    wait_until(lambda: not hold.exists(), timeout=300, interval=0.05, what=f"{hold} to be removed")
    return {"raspberry_id": reading["id"]}


HOLD_AFTER_EFFECT_LONG = "devices.test_hold_after_effect_long"


@app.task(name=HOLD_AFTER_EFFECT_LONG)
def hold_after_effect_long(reading: dict[str, Any]) -> dict[str, Any]:
    """The same on the ledger's long path (STARTED written before the body, SUCCESS after it)."""
    return hold_after_effect.run(reading)
