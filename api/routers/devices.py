"""Device endpoints: health checks over HTTP, and the devices' latest status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.coalescing import Coalescer
from api.deps import IdempotencyKey, SessionDep, SettingsDep
from api.enqueue import enqueue_or_503
from api.item_batches import array_schema, each_valid, one_or_many
from api.schemas.errors import ENQUEUE, NOT_FOUND
from api.schemas.ingestion import DeviceList, DeviceMessageOut, DeviceOut
from api.schemas.openapi import storable
from api.schemas.tasks import TaskAccepted
from api.validation import FilterText, Offset, PathText
from taskplatform.core.db import session_scope
from taskplatform.core.settings import Settings, get_settings
from taskplatform.devices.store import (
    TEXT_NUMBER_LIMIT,
    DeviceReading,
    get_device,
    list_devices,
    parse_reading,
    recent_messages,
    stale_cutoff,
)
from taskplatform.ledger.enqueue import PublishFailed
from taskplatform.ledger.member_enqueue import Member, enqueue_members
from taskplatform.ledger.records import TaskState
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.task_names import TaskName

router = APIRouter(tags=["devices"])


def _health_schema() -> dict[str, Any]:
    schema = DeviceReading.model_json_schema()
    for name in DeviceReading.TEXT_FIELDS:  # a number is taken as its text ("48" for 48)
        field = schema["properties"][name]
        field["anyOf"] = [*field.get("anyOf", [{"type": "string", "minLength": 1, "maxLength": 200}]),
                          {"type": "number", "minimum": -TEXT_NUMBER_LIMIT, "maximum": TEXT_NUMBER_LIMIT}]
        for moved in ("type", "minLength", "maxLength"):
            field.pop(moved, None)
    return storable(schema)


_EXAMPLE = {"id": "raspberry-01", "wifi_status": "connected", "cpu_temp": "48°C"}


def document_limits(paths: dict[str, Any], settings: Settings) -> None:
    """The health check body in the OpenAPI document: one object or an array of up to the app's
    DEVICES_BATCH_MAX (the routes are defined at import, before any settings are read)."""
    paths["/devices/health"]["post"]["requestBody"] = {"required": True, "content": {"application/json": {
        "schema": array_schema(_health_schema(), settings.devices_batch_max, _EXAMPLE), "example": _EXAMPLE}}}


def _out(device: Any, cutoff: datetime) -> DeviceOut:
    return DeviceOut.model_validate(device).model_copy(update={"stale": device.last_update < cutoff})


def _readings(raw: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The decoded health checks, each validated, and whether the body was an array; or InvalidMessage (a 422:
    `api.validation.answer_invalid_messages`)."""
    settings = get_settings()
    documents, array = one_or_many(raw, what="health check", item_bytes=settings.max_body_bytes_device_health,
                                   max_items=settings.devices_batch_max, limit_name="DEVICES_BATCH_MAX")
    each_valid(documents, parse_reading, array=array)
    return documents, array


def _enqueue_group(members: list[Member]) -> list[str]:
    """One group of single checks: their records in one commit, then one `devices.upsert_members` (a 503 for all
    of them if the broker refuses it)."""
    with session_scope() as session:
        try:
            return enqueue_members(session=session, name=TaskName.DEVICES_UPSERT.value,
                                   carrier=TaskName.DEVICES_UPSERT_MEMBERS.value, members=members)
        except PublishFailed as exc:
            raise HTTPException(status_code=503, detail=str(exc), headers={"Retry-After": "1"}) from exc


#: One per process, per (DEVICES_COALESCE_MAX, DEVICES_COALESCE_MS): settings are read per request.
_coalescers: dict[tuple[int, float], Coalescer[Member, str]] = {}


def _coalescer(settings: Settings) -> Coalescer[Member, str]:
    key = (settings.devices_coalesce_max, settings.devices_coalesce_ms)
    if key not in _coalescers:
        _coalescers[key] = Coalescer(_enqueue_group, max_size=key[0], max_wait_s=key[1] / 1000)
    return _coalescers[key]


@router.post("/devices/health", status_code=202, response_model=TaskAccepted, responses=ENQUEUE)
async def post_health(request: Request, session: SessionDep, response: Response,
                      idempotency_key: IdempotencyKey = None) -> TaskAccepted:
    """The same JSON a device publishes to `rasp_data`, for devices that cannot speak AMQP; or an array of up to
    DEVICES_BATCH_MAX of them, applied by one task (a gateway forwarding its devices' checks).

    Read strictly: `NaN` and `Infinity` are not JSON; integers must fit their columns; the fields without a
    column (kept in `extra`) take at most DEVICE_EXTRA_MAX_BYTES. In an array every item is validated before
    anything is enqueued, and a 422 names the item's index.
    """
    raw = await request.body()
    # a body the size of one check (MAX_BODY_BYTES_DEVICE_HEALTH) is parsed here, quickly; a larger array off the loop
    small = len(raw) <= get_settings().max_body_bytes_device_health
    readings, array = _readings(raw) if small else await run_in_threadpool(_readings, raw)
    settings = get_settings()
    if not array and idempotency_key is None and settings.devices_coalesce_ms > 0:
        task_id = await _coalescer(settings).submit(Member(kwargs={"reading": readings[0]},
                                                           params={"raspberry_id": str(readings[0].get("id"))}))
        response.headers["Location"] = f"/tarefa/{task_id}"
        return TaskAccepted(task_id=task_id, status_url=f"/tarefa/{task_id}", state=TaskState.QUEUED)
    if array:
        kwargs: dict[str, Any] = {"readings": readings}
        params: dict[str, Any] = {"devices": len(readings), "raspberry_id": str(readings[0].get("id"))}
    else:
        kwargs, params = {"reading": readings[0]}, {"raspberry_id": str(readings[0].get("id"))}
    signature = celery_app.signature(TaskName.DEVICES_UPSERT.value, kwargs=kwargs)
    return await run_in_threadpool(enqueue_or_503, session=session, response=response, signature=signature,
                                   params=params, idempotency_key=idempotency_key)


@router.get("/devices", response_model=DeviceList)
def devices(session: SessionDep, settings: SettingsDep, wifi_status: FilterText = None,
            stale: Annotated[bool | None, Query(description="only devices silent longer than DEVICE_STALE_AFTER "
                                                            "(true) or not (false)")] = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 100,
            offset: Offset = 0) -> DeviceList:
    """Every device's latest status, by id."""
    cutoff = stale_cutoff(datetime.now(UTC), settings.device_stale_after)
    page = list_devices(session=session, limit=limit, offset=offset, wifi_status=wifi_status,
                        stale_before=cutoff, stale=stale)
    return DeviceList.of(page, [_out(d, cutoff) for d in page.items], stale_after_s=settings.device_stale_after)


@router.get("/devices/messages", response_model=list[DeviceMessageOut])
def device_messages(session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[DeviceMessageOut]:
    """The last raw messages received, newest first (bounded by DEVICE_MESSAGES_KEPT)."""
    return [DeviceMessageOut.model_validate(m) for m in recent_messages(session=session, limit=limit)]


@router.get("/devices/{raspberry_id}", response_model=DeviceOut, responses=NOT_FOUND)
def device(raspberry_id: PathText, session: SessionDep, settings: SettingsDep) -> DeviceOut:
    """One device's latest status; 404 if it never reported."""
    found = get_device(session=session, raspberry_id=raspberry_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"unknown device {raspberry_id!r}")
    return _out(found, stale_cutoff(datetime.now(UTC), settings.device_stale_after))
