"""JSON log lines: one object a line, with the service, the correlation id and extras."""

from __future__ import annotations

import io
import json
import logging

from shared.runtime.logging import correlation_id_var, log_handler


def lines_of(emit: object) -> list[dict[str, object]]:
    stream = io.StringIO()
    logger = logging.getLogger("tests.json_logging")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = log_handler("ledger", "json", stream)
    logger.addHandler(handler)
    try:
        assert callable(emit)
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_carries_the_correlation_id_in_context_and_the_extras() -> None:
    def emit(logger: logging.Logger) -> None:
        token = correlation_id_var.set("corr-42")
        try:
            logger.info("command accepted", extra={"type": "OpenLedgerAccount"})
        finally:
            correlation_id_var.reset(token)
        logger.warning("outside any message")

    inside, outside = lines_of(emit)
    assert inside["message"] == "command accepted"
    assert inside["correlation_id"] == "corr-42"
    assert inside["service"] == "ledger"
    assert inside["level"] == "INFO"
    assert inside["logger"] == "tests.json_logging"
    assert inside["type"] == "OpenLedgerAccount"
    assert str(inside["time"]).endswith("+00:00")
    assert outside["correlation_id"] is None


def test_an_exception_stays_on_one_json_line() -> None:
    def emit(logger: logging.Logger) -> None:
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            logger.exception("handler failed", extra={"detail": object()})

    [line] = lines_of(emit)
    assert "ValueError: bad" in str(line["exception"])
    assert str(line["detail"]).startswith("<object object")
