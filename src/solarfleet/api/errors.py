"""Error responses: JSON with `detail` everywhere, never a trace, SQL or another tenant's data."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from solarfleet.logs import get_logger

log = get_logger(__name__)


class Conflict(Exception):
    """The request is valid but clashes with the stored state (409)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(Exception):
    """Unknown, deleted or foreign id (404): the three are indistinguishable on purpose."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.detail = f"{what} not found"


class FieldError(Exception):
    """A semantically invalid field found after schema validation (422, same shape as pydantic's)."""

    def __init__(self, field: str, message: str, location: str = "body") -> None:
        super().__init__(message)
        self.loc = [location, field]
        self.message = message


class ErrorDetail(BaseModel):
    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorDetail(BaseModel):
    detail: list[ValidationIssue]


COMMON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "Missing, invalid or expired token, or a revoked client"},
    403: {"model": ErrorDetail, "description": "The token belongs to another organisation"},
    404: {"model": ErrorDetail, "description": "Unknown, deleted or foreign id"},
    422: {"model": ValidationErrorDetail, "description": "Invalid input: which field and why"},
}


def _validation_response(issues: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": issues})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def request_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Only location, message and type: pydantic's echo of the input could repeat a secret.
        issues = [
            {
                "loc": [str(p) if not isinstance(p, int) else p for p in e["loc"]],
                "msg": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors()
        ]
        return _validation_response(issues)

    @app.exception_handler(FieldError)
    async def field_error(_request: Request, exc: FieldError) -> JSONResponse:
        return _validation_response([{"loc": exc.loc, "msg": exc.message, "type": "value_error"}])

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_404_NOT_FOUND, content={"detail": exc.detail})

    @app.exception_handler(Conflict)
    async def conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_409_CONFLICT, content={"detail": exc.detail})

    @app.exception_handler(IntegrityError)
    async def integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # A uniqueness race lost against a concurrent request: same answer as the checked case.
        log.warning("integrity_conflict", error_type=type(exc.orig).__name__)
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT, content={"detail": "conflicts with an existing record"}
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.__cause__ is not None:
            # FastAPI's answer to a body it could not parse beyond a JSON syntax error (not UTF-8, nested
            # too deep, an integer too long): invalid input like any other, so 422 in the documented shape.
            return _validation_response(
                [{"loc": ["body"], "msg": "the body could not be parsed as JSON", "type": "json_invalid"}]
            )
        return JSONResponse(
            status_code=exc.status_code, content={"detail": exc.detail}, headers=getattr(exc, "headers", None)
        )
