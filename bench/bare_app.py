"""The baseline for bench/intake.py: FastAPI with one POST route that does no work."""

import uuid
from typing import Any

from fastapi import Body, FastAPI, status

app = FastAPI()


@app.post("/api/v1/reports", status_code=status.HTTP_201_CREATED)
def accept(body: dict[str, Any] = Body(...)) -> dict[str, str]:  # noqa: B008
    return {"report_id": uuid.uuid4().hex, "receipt_code": "none"}


@app.get("/healthz")
def health() -> dict[str, str]:
    return {"status": "ok"}
