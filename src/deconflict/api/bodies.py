"""Request bodies parsed as JSON in pydantic's strict mode, with a size limit.

FastAPI validates bodies in pydantic's Python mode, where a strict ``datetime`` field
refuses the RFC 3339 string it was sent. Reading the bytes and validating them as JSON
keeps both promises: no silent coercion, and timestamps as the standard writes them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel
from starlette.exceptions import HTTPException

M = TypeVar("M", bound=BaseModel)
JSON_MEDIA_TYPES = ("application/json", "application/geo+json")


async def parse_body(request: Request, model: type[M], optional: bool = False) -> M:
    """The body validated as ``model``; with ``optional``, an empty body means ``{}``."""
    if (
        optional
        and not request.headers.get("content-length", "0").strip("0")
        and not request.headers.get("transfer-encoding")
    ):
        return model.model_validate_json(b"{}")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        raise HTTPException(
            415, f"send the body as application/json, not {media_type or 'nothing'}"
        )
    limit: int = request.app.state.deconflict.settings.max_body_bytes
    body = await request.body()
    if len(body) > limit:
        raise HTTPException(413, f"the body has {len(body)} bytes; the limit is {limit}")
    return model.model_validate_json(body)


def body_schema(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that parses its body with :func:`parse_body`."""
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }
