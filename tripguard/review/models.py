"""Request and response bodies of the review API (they are its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tripguard.contract import Alert, Verdict

MAX_STATEMENT_CHARS = 4_000
MAX_NOTE_CHARS = 2_000
MAX_LABEL_CHARS = 100


def _unicode_text(v: str) -> str:
    # JSON allows lone surrogates ("\ud800"), which are not text and cannot be stored as UTF-8.
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains an unpaired surrogate: not valid Unicode text") from None
    return v


def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be blank")
    return v


Text = Annotated[str, AfterValidator(_unicode_text)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class DisputeIn(_In):
    trip_id: Annotated[Text, Field(min_length=1, max_length=128, examples=["porto-0001"])]
    statement: Annotated[
        Text, Field(min_length=1, max_length=MAX_STATEMENT_CHARS, description="The driver's words.",
                    examples=["The app sent me around a closed road."]),
        AfterValidator(_not_blank),
    ]


class DecisionIn(_In):
    decision: Literal["upheld", "overturned"] = Field(
        description="upheld: the alert stands (the dispute is rejected); overturned: the alert was wrong."
    )
    note: Annotated[Text, Field(max_length=MAX_NOTE_CHARS, description="The reviewer's reason.")] = ""


DisputeStatus = Literal["open", "decided"]


class Dispute(BaseModel):
    id: int
    trip_id: str
    statement: str
    status: DisputeStatus
    created_at: int = Field(description="ms since the Unix epoch, UTC")
    decision: Literal["upheld", "overturned"] | None
    note: str | None
    decided_at: int | None


class TripOut(BaseModel):
    trip_id: str
    verdict: Verdict | None
    alerts: list[Alert]
    planned_route: str | None = Field(description="Encoded polyline (precision 5) when known.")
    corridor_cells: list[str] | None = Field(description="H3 cell ids of the route corridor when known.")
    geojson: dict[str, Any] = Field(
        description="FeatureCollection: gps_path, planned_route, corridor_cell, flagged_segment and "
        "flagged_fix features (properties.role), coordinates [lon, lat] WGS 84."
    )
    disputes: list[Dispute]


Role = Literal["backend", "reviewer", "admin"]


class TokenIn(_In):
    role: Role
    label: Annotated[Text, Field(max_length=MAX_LABEL_CHARS, description="Who or what holds it.")] = ""


class TokenInfo(BaseModel):
    id: int
    role: Role
    label: str
    created_at: int
    created_by: int | None
    revoked_at: int | None


class TokenCreated(TokenInfo):
    token: str = Field(description="The bearer token. Shown once; only its hash is stored.")


class AuditEntry(BaseModel):
    id: int
    at: int = Field(description="ms since the Unix epoch, UTC")
    token_id: int | None = Field(description="The acting token; null for the command line.")
    role: str
    action: str
    target: str
    detail: dict[str, Any]


class Health(BaseModel):
    status: Literal["ok"]
