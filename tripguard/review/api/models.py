"""Request and response bodies of the review API (they are its OpenAPI schema)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tripguard.contract import Alert, Verdict
from tripguard.review import text
from tripguard.review.store.disputes import MAX_NOTE_CHARS, MAX_STATEMENT_CHARS
from tripguard.review.store.tokens import MAX_LABEL_CHARS

TRIP_DISPUTES = 100  # disputes shown with a trip


def _text(check, multiline: bool = False, required: bool = False):
    """A text field under the rules of review/text.py (no control characters, bidi overrides, unpaired
    surrogates, invisible-only text; 422 naming the field), stated in the spec as a pattern."""
    return Annotated[
        str, AfterValidator(check), Field(json_schema_extra={"pattern": text.schema_pattern(multiline, required)})
    ]


if TYPE_CHECKING:  # to the type checker these are str; pydantic sees the constraints (below)
    Identifier = str
    OneLine = str
    Statement = str
    Note = str
else:
    Identifier = _text(text.identifier, required=True)
    OneLine = _text(text.one_line)
    Statement = _text(text.statement, multiline=True, required=True)
    Note = _text(text.note, multiline=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class DisputeIn(_In):
    trip_id: Annotated[Identifier, Field(min_length=1, max_length=128, examples=["porto-0001"])]
    statement: Annotated[
        Statement,
        Field(
            min_length=1,
            max_length=MAX_STATEMENT_CHARS,
            description="The driver's words.",
            examples=["The app sent me around a closed road."],
        ),
    ]


class DecisionIn(_In):
    decision: Literal["upheld", "overturned"] = Field(
        description="upheld: the alert stands (the dispute is rejected); overturned: the alert was wrong."
    )
    note: Annotated[Note, Field(max_length=MAX_NOTE_CHARS, description="The reviewer's reason.")] = ""


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
    decided_by: int | None = Field(
        description="Id of the reviewer token that decided (the `#ID` of `tripguard token create`, the `id` of "
        "POST /tokens): a client retrying after a timeout sees whether its own decision won."
    )

    @classmethod
    def of(cls, row: dict[str, Any]) -> Dispute:
        """A stored dispute (a row of store/disputes.py) as the API shows it: the columns this model has."""
        return cls(**{k: row[k] for k in cls.model_fields})


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
    disputes: list[Dispute] = Field(
        description=f"The newest {TRIP_DISPUTES} disputes of the trip; all of them "
        "page by page with GET /disputes?trip_id=."
    )
    disputes_total: int = Field(description="How many disputes the trip has in all.")


class DriverTrip(BaseModel):
    trip_id: str
    ts: int
    kinds: list[str]
    risk_score: float | None


class DriverOut(BaseModel):
    """A driver's risk as the driver-risk stage computes it from the stored verdicts and decided
    disputes (docs/risk.md), and their newest trips."""

    driver_id: str
    city: str
    score: float = Field(ge=0.0, le=1.0)
    level: Literal["low", "medium", "high"]
    ts: int = Field(description="Event time of the driver's newest record, ms: the score is at this time.")
    windows: dict[str, Any] = Field(description="1h, 24h, 30d: trips, alerts per kind, patterns, decisions.")
    evidence: dict[str, Any] = Field(description="trip_ids, kinds, decisions, patterns behind the score.")
    model: dict[str, Any]
    trips: list[DriverTrip] = Field(description="The newest 50 trips, newest first.")
    trips_total: int
    records_skipped: int = Field(description="Stored rows the stage could not read (stored before strict validation).")


Role = Literal["backend", "reviewer", "admin"]


class TokenIn(_In):
    role: Role
    label: Annotated[OneLine, Field(max_length=MAX_LABEL_CHARS, description="Who or what holds it.")] = ""


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
