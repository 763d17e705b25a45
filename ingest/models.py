"""The requests ingest accepts, as typed models: each route's inputs, validated once.

A model is the one description of what a route reads: ingest/parsing.py fills it from
the query string, the form or the JSON body, and an API description can be generated
from its JSON schema. A failed validation becomes one :class:`~cutout.errors.InvalidInput`
whose code names the problem (``invalid_priority``, ``invalid_query``...): a check that
raises :func:`problem` gives its own code; any other error takes its field's code from
``field_codes``, else the model's ``default_code``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput
from cutout.job import ClientInfo, JobState, OutputFormat, OutputSpec, Priority, Rendition
from ingest.service import IDEMPOTENCY_KEY_MAX, Submission

#: ``GET /v1/jobs`` answers at most this many jobs; asking for more is an error.
MAX_LIST_LIMIT = 1000
BATCH_ID_MAX = 128


def problem(code: ErrorCode, message: str) -> PydanticCustomError:
    """A validation error that carries its own code (raise it inside a validator)."""
    return PydanticCustomError(code.value, "{message}", {"message": message, "code": code.value})


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must be printable text")
    return value


BatchId = Annotated[str, Field(max_length=BATCH_ID_MAX), AfterValidator(_printable)]
IdempotencyKey = Annotated[
    str, Field(min_length=1, max_length=IDEMPOTENCY_KEY_MAX), AfterValidator(_printable)
]


class RequestModel(BaseModel):
    """Base of every request model: immutable, unknown fields ignored (forms carry extras)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    #: Where the fields come from, for the route table and a generated API description.
    location: ClassVar[Literal["query", "body"]] = "query"
    field_codes: ClassVar[Mapping[str, ErrorCode]] = {}
    default_code: ClassVar[ErrorCode] = ErrorCode.INVALID_QUERY

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> Self:
        """The model, or an :class:`InvalidInput` naming the first problem."""
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise cls._invalid(exc) from exc

    @classmethod
    def _invalid(cls, exc: ValidationError) -> InvalidInput:
        first = exc.errors(include_url=False)[0]
        context = first.get("ctx") or {}
        if "code" in context:
            return InvalidInput(str(context["message"]), code=ErrorCode(context["code"]))
        where = ".".join(map(str, first["loc"]))
        field = str(first["loc"][0]) if first["loc"] else ""
        code = cls.field_codes.get(field, cls.default_code)
        return InvalidInput(f"{where or cls.__name__}: {first['msg']}", code=code)


class JobListQuery(RequestModel):
    """``GET /v1/jobs``: a caller's jobs, newest first, optionally filtered; ``cursor``
    is an earlier answer's ``next_cursor`` (the next page)."""

    state: JobState | None = None
    batch_id: BatchId | None = None
    limit: int = Field(default=100, ge=1, le=MAX_LIST_LIMIT)
    cursor: str | None = Field(default=None, max_length=512)


class UploadQuery(RequestModel):
    """``POST /v1/uploads``: the content type the direct upload's PUT will send."""

    content_type: str = Field(
        default="application/octet-stream", max_length=255, pattern=r"^[\x20-\x7e]+$"
    )


class SignedUrlQuery(RequestModel):
    """``GET /v1/blobs/<key>``: a signed URL's own parameters, checked by the backend
    exactly as they arrived (a malformed one is ``bad_signature``, not a query error)."""

    expires: str = ""
    sig: str = ""


class BlobUploadQuery(SignedUrlQuery):
    """``PUT /v1/blobs/<key>``: the signed URL, and the ``Content-Type`` stored with the
    object. The body is read only after the signature holds."""

    content_type: str = "application/octet-stream"


class SubmissionRequest(RequestModel):
    """``POST /v1/jobs``: multipart (``file``, optional ``background``) or JSON with an
    ``upload_id``; the ``Idempotency-Key`` header arrives as ``idempotency_key``."""

    location: ClassVar[Literal["query", "body"]] = "body"
    default_code: ClassVar[ErrorCode] = ErrorCode.INVALID_INPUT
    field_codes: ClassVar[Mapping[str, ErrorCode]] = {
        "effects": ErrorCode.INVALID_EFFECTS,
        "params": ErrorCode.INVALID_PARAMS_JSON,
        "format": ErrorCode.INVALID_FORMAT,
        "quality": ErrorCode.INVALID_OUTPUT,
        "renditions": ErrorCode.INVALID_OUTPUT,
        "matte": ErrorCode.INVALID_OUTPUT,
        "priority": ErrorCode.INVALID_PRIORITY,
        "batch_id": ErrorCode.INVALID_BATCH_ID,
        "upload_id": ErrorCode.INVALID_UPLOAD_ID,
        "idempotency_key": ErrorCode.INVALID_IDEMPOTENCY_KEY,
    }

    effects: list[str] = Field(default_factory=list, description="names; repeat or comma-join")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    format: OutputFormat = OutputFormat.PNG
    quality: int | None = None
    matte: str | None = None
    renditions: list[Rendition] = Field(
        default_factory=lambda: list(Rendition),
        description="display,full (default) or full alone (a backfill needs no preview)",
    )
    priority: Priority = Priority.STANDARD
    batch_id: BatchId | None = None
    upload_id: str | None = None
    idempotency_key: IdempotencyKey | None = None
    file: bytes | None = Field(default=None, json_schema_extra={"format": "binary"})
    background: bytes | None = Field(default=None, json_schema_extra={"format": "binary"})
    _output: OutputSpec = PrivateAttr(default_factory=OutputSpec)

    @field_validator("effects", mode="before")
    @classmethod
    def _split_names(cls, raw: Any) -> list[str]:
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise problem(ErrorCode.INVALID_EFFECTS, "effects must be names")
        return [name.strip() for item in items for name in item.split(",") if name.strip()]

    @field_validator("renditions", mode="before")
    @classmethod
    def _split_renditions(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            return [name.strip() for name in raw.split(",") if name.strip()]
        return raw

    @field_validator("renditions", mode="after")
    @classmethod
    def _full_always(cls, value: list[Rendition]) -> list[Rendition]:
        if Rendition.FULL not in value:
            raise problem(
                ErrorCode.INVALID_OUTPUT,
                "renditions must include full: send display,full or full",
            )
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _decode_params(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError as exc:
                raise problem(
                    ErrorCode.INVALID_PARAMS_JSON, f"'params' is not valid JSON: {exc}"
                ) from exc
        if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
            raise problem(
                ErrorCode.INVALID_PARAMS_JSON,
                '\'params\' must be an object of objects, e.g. {"blackwhite": {"grain": 0.2}}',
            )
        return raw

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        stray = sorted(set(self.params) - set(self.effects))
        if stray:
            raise problem(
                ErrorCode.PARAMS_WITHOUT_EFFECT,
                f"params given for {stray[0]!r}, which is not among the requested effects",
            )
        try:
            self._output = OutputSpec(format=self.format, quality=self.quality, matte=self.matte)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"])) or "output"
            message = str(first["msg"]).removeprefix("Value error, ")
            raise problem(ErrorCode.INVALID_OUTPUT, f"{where}: {message}") from exc
        return self

    def submission(self, key_id: str) -> Submission:
        """What the service takes, for the caller ``key_id``."""
        return Submission(
            effects=[(name, self.params.get(name, {})) for name in self.effects],
            output=self._output,
            display=Rendition.DISPLAY in self.renditions,
            priority=self.priority,
            client=ClientInfo(
                key_id=key_id, batch_id=self.batch_id, idempotency_key=self.idempotency_key
            ),
            data=self.file,
            upload_id=self.upload_id,
            background=self.background,
        )


#: ``POST /v1/batches/<id>/items`` takes at most this many items per request.
MAX_REFERENCE_ITEMS = 100


class ReferenceItem(BaseModel):
    """One photo given by reference: a gs:// object at one generation (from a listing;
    nothing is read at submission) and the relative path its outputs mirror under DEST.
    ``retry`` counts ``--retry-failed`` reruns (each a new job)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str = Field(max_length=1024)
    generation: int = Field(ge=1)
    relative_path: str = Field(min_length=1, max_length=512)
    size: int = Field(default=0, ge=0)
    retry: int = Field(default=0, ge=0, le=1000)


class ReferenceBatchRequest(SubmissionRequest):
    """``POST /v1/batches/<id>/items`` (JSON): by-reference items of a backfill, the
    gs:// ``dest`` the service writes their results to (if any), and the effects and output as
    for ``POST /v1/jobs`` (priority ``batch`` unless asked). No photo travels here."""

    field_codes: ClassVar[Mapping[str, ErrorCode]] = {
        **SubmissionRequest.field_codes,
        "items": ErrorCode.INVALID_INPUT,
        "dest": ErrorCode.INVALID_URI,
    }

    dest: str | None = Field(default=None, max_length=1024)  # none: the caller downloads
    items: list[ReferenceItem] = Field(min_length=1)
    priority: Priority = Priority.BATCH
    #: A backfill's results are the full rendition only: nobody watches a preview.
    renditions: list[Rendition] = Field(default_factory=lambda: [Rendition.FULL])

    @field_validator("items", mode="before")
    @classmethod
    def _bounded(cls, raw: Any) -> Any:
        if isinstance(raw, list) and len(raw) > MAX_REFERENCE_ITEMS:
            raise problem(
                ErrorCode.TOO_MANY_ITEMS,
                f"{len(raw)} items in one request; send at most {MAX_REFERENCE_ITEMS}",
            )
        return raw

    @model_validator(mode="after")
    def _no_bytes(self) -> Self:
        if self.file is not None or self.upload_id is not None or self.background is not None:
            raise problem(
                ErrorCode.AMBIGUOUS_INPUT, "by-reference items carry no file or upload_id"
            )
        if Rendition.DISPLAY in self.renditions:
            raise problem(
                ErrorCode.INVALID_OUTPUT, "by-reference items get the full rendition only"
            )
        return self
