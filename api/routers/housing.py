"""Housing-price endpoints (the seed's API v9): train, predict, and the model versions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import IdempotencyKey, SessionDep, SettingsDep
from api.enqueue import enqueue_or_503
from api.schemas.errors import ACCEPTED_ASYNC, DATA_ERROR, ENQUEUE, NO_MODEL, NOT_FOUND
from api.schemas.housing import (
    TrainingOut,
    csv_upload_schema,
    prediction_body_schema,
    training_body_schema,
    training_example,
    training_out,
)
from api.schemas.reports import ModelVersionOut
from api.schemas.tasks import TaskAccepted
from api.validation import PathText, body_errors
from ml.housing_csv import rows_from_csv
from ml.housing_data import HousingDataError, check_prediction_rows, infer_features, rows_hash
from storage.keys import dataset_key, model_plot_key
from storage.s3 import get_object, put_object
from taskplatform.core.db import session_scope
from taskplatform.core.object_store import s3_location
from taskplatform.housing.service import KIND, PREDICTOR, NoModel, train_and_register
from taskplatform.ledger.idempotency import ScopedKey
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.task_names import TaskName
from taskplatform.registry.artifacts import ArtifactRefused, ArtifactWriteDenied
from taskplatform.registry.flow import activate
from taskplatform.registry.versions import list_versions

router = APIRouter(tags=["housing"])

MAX_TRAINING_ROWS = 200_000
MAX_PREDICTION_ROWS = 10_000
# Up to this many rows a prediction takes well under a millisecond, so it runs on the event loop;
# larger ones, and any that must first check the registry for a new version, go to the thread pool.
INLINE_PREDICTION_ROWS = 100
INLINE_PREDICTION_BYTES = 64 * 1024
Async = Annotated[bool, Query(description="true: answer 202 with a task id instead of waiting")]


PREDICTION_EXAMPLE = [{"area_m2": 80, "quartos": 2, "banheiros": 1, "vagas": 1, "idade_anos": 10, "bairro": "Moema",
                       "tipo": "apartamento"}]


class TrainingBody(BaseModel):
    dados: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_TRAINING_ROWS)
    alvo: str = Field(default="preco", min_length=1, max_length=200)


class PredictionBody(BaseModel):
    dados: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_PREDICTION_ROWS,
                                        examples=[PREDICTION_EXAMPLE])


class Predictions(BaseModel):
    previsoes: list[float]
    versao: str


def _data_error(exc: HousingDataError) -> HTTPException:
    return HTTPException(status_code=422, detail={"problems": exc.problems, "columns": exc.columns})


async def _training_rows(request: Request, alvo: str | None, max_columns: int) -> tuple[list[dict[str, Any]], str]:
    # Parsing megabytes takes long: in the thread pool, so the event loop keeps serving other requests.
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form()  # bounded by the route's body limit (api/body_limit.py)
        except StarletteHTTPException as exc:  # Starlette's 400 for a body that is not multipart: a bad body, 422
            raise HTTPException(status_code=422, detail=f"the body is not valid multipart/form-data: {exc.detail}"
                                ) from None
        upload = form.get("arquivo") or form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(status_code=422, detail="send the CSV as the form field `arquivo` (or `file`)")
        try:
            rows = await run_in_threadpool(rows_from_csv, await upload.read(), max_rows=MAX_TRAINING_ROWS,
                                           max_columns=max_columns)
        except HousingDataError as exc:
            raise _data_error(exc) from None
        target = alvo or str(form.get("alvo") or "preco")
        return rows, target
    try:
        body = await run_in_threadpool(TrainingBody.model_validate_json, await request.body())
    except ValidationError as exc:
        raise RequestValidationError(body_errors(exc)) from None  # an excerpt of the input, not all of it
    return body.dados, alvo or body.alvo


@router.post("/treinar", response_model=None,
             responses={200: {"model": TrainingOut}, **ACCEPTED_ASYNC,
                        **DATA_ERROR, **ENQUEUE},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": training_body_schema(MAX_TRAINING_ROWS), "example": training_example()},
                 "multipart/form-data": {"schema": csv_upload_schema()}}}})
async def treinar(request: Request, session: SessionDep, settings: SettingsDep, response: Response,
                  assincrono: Async = False, alvo: Annotated[str | None, Query(max_length=200)] = None,
                  idempotency_key: IdempotencyKey = None) -> Any:
    """Train a price model on JSON rows (`{"dados": [...], "alvo": "preco"}`) or a CSV upload.

    Every column but the target is a feature. Synchronous by default: answers with the new
    version and its metrics on held-out rows (r2, mae, rmse).
    """
    rows, target = await _training_rows(request, alvo, settings.housing_max_columns)
    try:
        await run_in_threadpool(infer_features, rows, target=target, max_columns=settings.housing_max_columns)
    except HousingDataError as exc:
        raise _data_error(exc) from None
    if not assincrono:
        try:
            outcome = await run_in_threadpool(train_and_register, rows, target=target, task_id=None)
        except HousingDataError as exc:
            raise _data_error(exc) from None
        except ArtifactWriteDenied as exc:  # this API may only read models (MODELS_S3_* read-only keys)
            raise HTTPException(status_code=503, detail=str(exc)) from None
        return training_out(outcome.version, outcome.metrics, outcome.features)
    key = dataset_key(KIND, rows_hash(rows, target=target))
    await put_object(s3_location(settings), key, json.dumps(rows).encode(), "application/json")
    signature = celery_app.signature(TaskName.HOUSING_TRAIN.value, kwargs={"dataset_key": key, "target": target})
    response.status_code = 202
    return await run_in_threadpool(enqueue_or_503, session=session, response=response, signature=signature,
                                   params={"rows": len(rows), "target": target}, idempotency_key=idempotency_key)


def _enqueue_prediction(rows: list[dict[str, Any]], response: Response,
                        idempotency_key: ScopedKey | None) -> TaskAccepted:
    _, model = PREDICTOR.active()
    check_prediction_rows(rows, model["spec"])
    # Its own session, not a SessionDep: a route dependency would cost every synchronous prediction a
    # thread hop, and only this branch writes to the ledger.
    with session_scope() as session:
        signature = celery_app.signature(TaskName.HOUSING_PREDICT.value, kwargs={"dados": rows})
        return enqueue_or_503(session=session, response=response, signature=signature, params={"rows": len(rows)},
                              idempotency_key=idempotency_key)


@router.post("/prever", response_model=None,
             responses={200: {"model": Predictions}, **ACCEPTED_ASYNC,
                        **DATA_ERROR, **NO_MODEL, **ENQUEUE},
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": prediction_body_schema(MAX_PREDICTION_ROWS, PREDICTION_EXAMPLE)}}}})
async def prever(request: Request, response: Response, assincrono: Async = False,
                 idempotency_key: IdempotencyKey = None) -> Any:
    """One prediction per row, in order, with the model version that made them (up to 10,000 rows).

    Synchronous predictions run in this process (no broker round trip): parsed in one
    pydantic-core pass, predicted from the model's linear form, serialized directly.
    """
    try:
        raw = await request.body()
        body = (PredictionBody.model_validate_json(raw) if len(raw) <= INLINE_PREDICTION_BYTES  # the one-row path
                else await run_in_threadpool(PredictionBody.model_validate_json, raw))  # up to 8 MiB: not on the loop
    except ValidationError as exc:
        raise RequestValidationError(body_errors(exc)) from None
    try:
        if assincrono:
            accepted = await run_in_threadpool(_enqueue_prediction, body.dados, response, idempotency_key)
            return Response(accepted.model_dump_json(), status_code=202, media_type="application/json",
                            headers={"Location": accepted.status_url})
        if len(body.dados) <= INLINE_PREDICTION_ROWS and PREDICTOR.is_fresh():
            # microseconds, cheaper than a thread hop; no registry query on the event loop
            version, predictions = PREDICTOR.predict(body.dados, refresh=False)
        else:
            version, predictions = await run_in_threadpool(PREDICTOR.predict, body.dados)
    except HousingDataError as exc:
        raise _data_error(exc) from None
    except NoModel as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except ArtifactRefused as exc:  # the active model's bytes are not the registered ones: nothing was loaded
        raise HTTPException(status_code=503, detail=str(exc)) from None
    return Response(Predictions(previsoes=predictions, versao=version).model_dump_json(),
                    media_type="application/json")


@router.get("/modelos/imoveis", response_model=list[ModelVersionOut])
def housing_models(session: SessionDep) -> list[ModelVersionOut]:
    """Every trained price model, newest first; `active` marks the one predictions use."""
    return [ModelVersionOut.model_validate(v) for v in list_versions(session=session, kind=KIND)]


@router.post("/modelos/imoveis/{versao}/ativar", response_model=ModelVersionOut, responses=NOT_FOUND)
def activate_housing_model(versao: PathText, session: SessionDep) -> ModelVersionOut:
    """Make an earlier version the active one (workers and API replicas pick it up within seconds)."""
    activated = activate(session=session, kind=KIND, version=versao, reason="activated by request")
    if activated is None:
        raise HTTPException(status_code=404, detail=f"unknown model version {versao!r}")
    session.commit()
    return ModelVersionOut.model_validate(activated)


@router.get("/modelos/imoveis/{versao}/grafico.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, **NOT_FOUND})
async def housing_model_plot(versao: str, settings: SettingsDep) -> Response:
    """Predicted against actual prices on the version's held-out rows (PNG)."""
    try:
        body = await get_object(s3_location(settings), model_plot_key(KIND, versao))
    except ValueError:
        body = None
    if body is None:
        raise HTTPException(status_code=404, detail=f"no plot for model version {versao!r}")
    return Response(content=body, media_type="image/png")
