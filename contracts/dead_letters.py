"""The headers a dead letter carries besides the original message's own."""

from __future__ import annotations

REASON = "dlt-reason"
DETAIL = "dlt-detail"
ORIGINAL_TOPIC = "dlt-original-topic"
ORIGINAL_PARTITION = "dlt-original-partition"
ORIGINAL_OFFSET = "dlt-original-offset"
CONSUMER_GROUP = "dlt-consumer-group"
FAILED_AT = "dlt-failed-at"
REDACTED = "dlt-redacted"

HEADERS: dict[str, str] = {
    REASON: (
        "Why the message was parked, machine-readable: undecodable, invalid_envelope, "
        "unknown_type, unsupported_schema_version, invalid_payload, handler_failed; for "
        "queries also no_reply_to and reply_to_not_allowed (replies go only to "
        "*query-replies topics)."
    ),
    DETAIL: (
        "A sentence for people saying what was wrong (at most 2000 characters); it also "
        "says when the value was left out, the message being too large to park whole."
    ),
    ORIGINAL_TOPIC: "The topic the message was read from.",
    ORIGINAL_PARTITION: "Its partition there, as a decimal string.",
    ORIGINAL_OFFSET: "Its offset there, as a decimal string.",
    CONSUMER_GROUP: "The consumer group that could not handle it.",
    FAILED_AT: "When it was parked, ISO 8601 with zone.",
    REDACTED: (
        'Present ("true") when secrets in the value, such as store-credit codes, were '
        "masked: the value is then the original with those parts replaced."
    ),
}
