"""The cheapest FastAPI app that answers `POST /prever`: served by uvicorn like the platform's API, it shows what
any FastAPI endpoint costs on this machine at the same concurrency (bench/prever.py's floor)."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

app = FastAPI()
ANSWER = b'{"previsoes":[0.0],"versao":"floor"}'


@app.get("/")
async def root() -> dict[str, str]:
    return {"name": "floor"}


@app.post("/prever")
async def prever(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")
