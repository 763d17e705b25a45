"""The error-code catalogue: every machine-readable code a client or a job document can
carry, written once, with what it means.

Codes are ``str`` enums, so ``ErrorCode.IMAGE_CORRUPT == "image_corrupt"`` and they
serialise as plain strings. ``effects`` cannot import cutout (dependencies point one way),
so its three codes are listed here too and a test ties them to ``effects.errors``.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # -- generic classes (cutout.errors defaults) -----------------------------------------
    ERROR = "error"
    INVALID_INPUT = "invalid_input"
    TOO_LARGE = "too_large"
    UNSUPPORTED_FORMAT = "unsupported_format"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    ILLEGAL_TRANSITION = "illegal_transition"
    TRANSIENT = "transient"
    CONFIGURATION = "configuration"
    PERMISSION_DENIED = "permission_denied"
    INTERNAL = "internal"

    # -- the photo ------------------------------------------------------------------------
    EMPTY_FILE = "empty_file"
    DECOMPRESSION_BOMB = "decompression_bomb"
    IMAGE_CORRUPT = "image_corrupt"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TRUNCATED = "image_truncated"

    # -- the request ----------------------------------------------------------------------
    MALFORMED_REQUEST = "malformed_request"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    ROUTE_NOT_FOUND = "route_not_found"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INVALID_JSON = "invalid_json"
    INVALID_QUERY = "invalid_query"
    MISSING_FILE = "missing_file"
    AMBIGUOUS_INPUT = "ambiguous_input"
    TOO_MANY_FILES = "too_many_files"
    UNEXPECTED_FILE_FIELD = "unexpected_file_field"
    INVALID_EFFECTS = "invalid_effects"
    TOO_MANY_EFFECTS = "too_many_effects"
    DUPLICATE_EFFECT = "duplicate_effect"
    PARAMS_WITHOUT_EFFECT = "params_without_effect"
    INVALID_PARAMS_JSON = "invalid_params_json"
    BACKGROUND_WITHOUT_EFFECT = "background_without_effect"
    INVALID_FORMAT = "invalid_format"
    INVALID_OUTPUT = "invalid_output"
    INVALID_PRIORITY = "invalid_priority"
    INVALID_BATCH_ID = "invalid_batch_id"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    INVALID_UPLOAD_ID = "invalid_upload_id"
    UPLOAD_NOT_FOUND = "upload_not_found"
    UPLOAD_USED = "upload_used"  # 409: a direct-upload URL works once (a second PUT)
    JOB_NOT_FOUND = "job_not_found"
    BATCH_NOT_FOUND = "batch_not_found"
    BLOB_NOT_FOUND = "blob_not_found"
    INVALID_ID = "invalid_id"
    INVALID_KEY = "invalid_key"
    INVALID_URI = "invalid_uri"  # not a gs://bucket/name URI, or one with '..' (cutout/refs.py)
    TOO_MANY_ITEMS = "too_many_items"
    BY_REFERENCE_UNSUPPORTED = "by_reference_unsupported"  # these backends read no gs:// object
    INVALID_TTL = "invalid_ttl"

    # -- effects (mirrored from effects.errors) -------------------------------------------
    EFFECT_ERROR = "effect_error"
    UNKNOWN_EFFECT = "unknown_effect"
    INVALID_PARAMS = "invalid_params"

    # -- callers --------------------------------------------------------------------------
    MISSING_API_KEY = "missing_api_key"
    INVALID_API_KEY = "invalid_api_key"
    REVOKED_API_KEY = "revoked_api_key"
    INVALID_ORIGIN = "invalid_origin"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"  # 403: origin may not use this key (ingest/cors.py)
    SECRET_KEY_IN_BROWSER = "secret_key_in_browser"  # 403: a secret key sent from a web page
    INVALID_KEY_RECORD = "invalid_key_record"
    KEY_NOT_FOUND = "key_not_found"
    FORBIDDEN = "forbidden"
    FORBIDDEN_CALLER = "forbidden_caller"
    PRIORITY_NOT_ALLOWED = "priority_not_allowed"
    LISTING_NEEDS_SECRET_KEY = "listing_needs_secret_key"
    SOURCE_NOT_ALLOWED = "source_not_allowed"  # 403: a gs:// source outside the key's prefixes
    DESTINATION_NOT_ALLOWED = "destination_not_allowed"  # 403: likewise for a destination
    MISSING_TOKEN = "missing_token"
    INVALID_TOKEN = "invalid_token"
    BAD_SIGNATURE = "bad_signature"
    URL_EXPIRED = "url_expired"

    # -- the service ----------------------------------------------------------------------
    DB_BUSY = "db_busy"
    ENQUEUE_FAILED = "enqueue_failed"
    SCALE_FAILED = "scale_failed"
    RATE_LIMITED = "rate_limited"  # 429: a caller's quota is spent (cutout/quotas.py)
    OVERLOADED = "overloaded"  # 503: a tier's backlog is past its bound (cutout/shedding.py)

    # -- remove.bg's dialect (POST /v1.0/removebg, ingest/removebg/) -----------------------
    MISSING_SOURCE = "missing_source"
    MULTIPLE_SOURCES = "multiple_sources"
    MULTIPLE_BG_SOURCES = "multiple_bg_sources"
    INVALID_IMAGE_URL = "invalid_image_url"
    INVALID_BG_IMAGE_URL = "invalid_bg_image_url"
    FAILED_IMAGE_DOWNLOAD = "failed_image_download"
    FAILED_BG_DOWNLOAD = "failed_bg_download"
    FAILED_TO_READ_IMAGE = "failed_to_read_image"
    FILE_TOO_LARGE = "file_too_large"
    INVALID_FILE_TYPE = "invalid_file_type"
    RESOLUTION_TOO_HIGH = "resolution_too_high"
    INVALID_SIZE = "invalid_size"
    INVALID_TYPE = "invalid_type"
    INVALID_TYPE_LEVEL = "invalid_type_level"
    INVALID_CHANNELS = "invalid_channels"
    INVALID_ROI = "invalid_roi"
    INVALID_CROP = "invalid_crop"
    INVALID_CROP_MARGIN = "invalid_crop_margin"
    INVALID_SCALE = "invalid_scale"
    INVALID_POSITION = "invalid_position"
    INVALID_ADD_SHADOW = "invalid_add_shadow"
    INVALID_SEMITRANSPARENCY = "invalid_semitransparency"
    INVALID_SHADOW_METHOD = "invalid_shadow_method"
    INVALID_BG_COLOR = "invalid_bg_color"
    INSUFFICIENT_CREDITS = "insufficient_credits"  # 402: the key's images per day are spent
    AUTH_FAILED = "auth_failed"  # 403: no key, a wrong one, or not a secret key
    RESULT_TIMEOUT = "result_timeout"  # 504-like: the job outlived the wait, still running
    WAIT_SLOTS_FULL = "wait_slots_full"  # 503: too many synchronous waits right now

    # -- a job's outcome (job.error / effect_errors) ----------------------------------------
    INPUT_MISSING = "input_missing"
    INPUT_CHANGED = "input_changed"  # the input's bytes no longer hash to the job's sha256
    EFFECT_FAILED = "effect_failed"
    ALL_EFFECTS_FAILED = "all_effects_failed"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"  # e.g. a queued job of a batch its owner cancelled
    WORKER_FAILED = "worker_failed"
