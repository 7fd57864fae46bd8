"""HTTP models of the housing-price API (the seed's field names: `dados`, `alvo`, `versao`, `metricas`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ml.housing_data import MIN_TRAIN_ROWS

#: A row's value: a number or text (a feature or the target), true/false (a category) or null (missing).
Cell = float | str | bool | None
ROW_DESCRIPTION = "column: value"


class TrainingOut(BaseModel):
    """A synchronous training's outcome: the new (active) version and its scores on held-out rows."""

    versao: str
    metricas: dict[str, float] = Field(description="r2, mae and rmse on the held-out rows")
    features: dict[str, list[str]] = Field(description="the feature columns, by kind (numeric, categorical)")
    grafico_url: str


def plot_url(version: str) -> str:
    return f"/modelos/imoveis/{version}/grafico.png"


def training_out(version: str, metrics: dict[str, float], features: dict[str, list[str]]) -> dict[str, Any]:
    """A training's outcome in the API's words (`TrainingOut`), with the URL of its plot."""
    return {"versao": version, "metricas": metrics, "features": features, "grafico_url": plot_url(version)}


def training_example(n: int = MIN_TRAIN_ROWS + 4) -> dict[str, Any]:
    """A small data set that trains (the columns of `/prever`'s example, and `preco`)."""
    rows: list[dict[str, Any]] = [{"area_m2": 40 + 7 * i, "quartos": 1 + i % 4, "banheiros": 1 + i % 2, "vagas": i % 3,
             "idade_anos": 5 * i % 30, "bairro": ("Moema", "Pinheiros", "Tatuapé")[i % 3],
             "tipo": ("apartamento", "casa")[i % 2]} for i in range(n)]
    for row in rows:
        row["preco"] = 9000 * row["area_m2"] + 40_000 * row["quartos"] - 2000 * row["idade_anos"] + 150_000
    return {"dados": rows, "alvo": "preco"}


def training_body_schema(max_rows: int) -> dict[str, Any]:
    """The JSON body `/treinar` takes: at least MIN_TRAIN_ROWS rows of scalar cells and a target column."""

    class TrainingBody(BaseModel):
        dados: list[dict[str, Cell]] = Field(min_length=MIN_TRAIN_ROWS, max_length=max_rows,
                                             description=f"rows ({ROW_DESCRIPTION}), a number in the target column")
        alvo: str = Field(default="preco", min_length=1, max_length=200, description="the target column")

    return TrainingBody.model_json_schema()


def prediction_body_schema(max_rows: int, example: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON body `/prever` takes: rows with exactly the active model's feature columns."""

    class PredictionBody(BaseModel):
        dados: list[dict[str, Cell]] = Field(min_length=1, max_length=max_rows, examples=[example],
                                             description=f"rows ({ROW_DESCRIPTION}): the model's features")

    return PredictionBody.model_json_schema()


def csv_upload_schema() -> dict[str, Any]:
    """`/treinar`'s multipart form: the CSV file as `arquivo` (or `file`), and optionally the target column."""
    csv = {"type": "string", "format": "binary", "description": "a CSV file with a header row"}
    return {"type": "object", "properties": {"arquivo": csv, "file": csv, "alvo": {"type": "string"}},
            "anyOf": [{"required": ["arquivo"]}, {"required": ["file"]}]}
