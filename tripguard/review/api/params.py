"""The API's path and query parameters, its paging and the error responses its spec lists.

Lists are paged: `limit`/`offset`, the number of all matches in `X-Total-Count` and the next page
in `Link: <...>; rel="next"`. A filter given more than once (`kind=a&kind=b`) matches any of its
values; a parameter that takes one value (since, until, limit, offset) given twice is a 422
(deps.check_query).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Path, Query, Request, Response
from pydantic import StringConstraints

from tripguard.contract import MAX_TS_MS, AlertKind
from tripguard.review.api.models import DisputeStatus, Identifier

MAX_FILTER_VALUES = 100  # values of one repeated filter


def _text(max_length: int):
    return Annotated[Identifier, StringConstraints(min_length=1, max_length=max_length)]


# `:path`: trip ids come from upstream and may hold "/" (contract v1 allows any 1..128 characters);
# /trips/a/b and /trips/a%2Fb both name trip "a/b".
if TYPE_CHECKING:  # built by functions for FastAPI, which mypy cannot read as types: what they hold
    TripIdPath = str
    DriverIdPath = str
else:
    TripIdPath = Annotated[_text(128), Path(examples=["porto-0001"])]
    DriverIdPath = Annotated[_text(128), Path(examples=["drv-17"])]
Limit = Annotated[int, Query(ge=1, le=500)]
TsQuery = Annotated[int | None, Query(ge=0, le=MAX_TS_MS, description="ms since the Unix epoch, UTC")]


def _any_of(item, description: str):
    # A plain array with an empty default, not `list | None`: an absent filter is no filter.
    return Annotated[
        list[item],
        Query(
            default_factory=list,
            max_length=MAX_FILTER_VALUES,
            description=description + " Repeat it to match any of several values.",
        ),
    ]


if TYPE_CHECKING:  # as TripIdPath: the types the values have
    IdsQuery = list[str]
    KindsQuery = list[AlertKind]
    CitiesQuery = list[str]
    StatusQuery = list[DisputeStatus]
    ActionsQuery = list[str]
else:
    IdsQuery = _any_of(_text(128), "An id.")
    KindsQuery = _any_of(AlertKind, "An alert kind.")
    CitiesQuery = _any_of(_text(64), "A city.")
    StatusQuery = _any_of(DisputeStatus, "open or decided.")
    ActionsQuery = _any_of(_text(64), "An action, e.g. dispute.decide.")

AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or revoked token"},
    403: {"description": "The token's role may not do this"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found"}}
BODY: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not parseable (not JSON, not UTF-8)"},
    413: {"description": "The body is larger than 64 KiB"},
}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "Conflicts with the current state"}}

PAGED = {
    "headers": {
        "X-Total-Count": {
            "description": "How many items match the filters in all pages.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
        "Link": {"description": 'The next page, `<URL>; rel="next"`, when there is one.', "schema": {"type": "string"}},
    }
}


def paged(request: Request, response: Response, items: list, total: int, offset: int) -> list:
    """`items` (one page, from `offset`), with X-Total-Count and a Link to the next page."""
    response.headers["X-Total-Count"] = str(total)
    if offset + len(items) < total and items:
        following = request.url.include_query_params(offset=offset + len(items))
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return items
