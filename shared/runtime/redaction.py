"""Store-credit codes never reach a dead-letter topic in clear.

A command or question a service cannot handle is parked with its original
bytes (``shared.runtime.dead_letters``), but ``CreateStoreCredit``,
``FindStoreCredit`` (store-credit) and ``ApplyStoreCredit`` (order) may carry
a code. Before parking, this redactor masks:

- in a JSON value, every field named ``code`` at any depth whose value has a
  digit in it (it becomes ``******`` and the last four digits, as everywhere
  else; a rejection code such as ``insufficient_funds`` has none and stays);
  other fields are kept, so a fixed message can still be re-published;
- in anything else (not JSON, not UTF-8), every run of 12 to 19 digits, with or
  without spaces and dashes between them, is replaced by as many ``*``: the
  bytes cannot be trusted to say where a code is, so anything that may be one
  goes.
"""

from __future__ import annotations

import json
import re
from typing import Any

MASK_PREFIX = "******"

_DIGIT_RUN = re.compile(rb"(?:\d[ \-]?){11,18}\d")
_CODE_FIELD = "code"


def redact_codes(value: bytes) -> tuple[bytes, bool]:
    """``value`` with every possible code masked, and whether anything was."""
    try:
        return _mask_json(value)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep to walk
        return _mask_digit_runs(value)


def _mask_json(value: bytes) -> tuple[bytes, bool]:
    document = json.loads(value)
    if not isinstance(document, dict | list):
        return _mask_digit_runs(value)
    if not _mask_code_fields(document):
        return value, False
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(), True


def _mask_digit_runs(value: bytes) -> tuple[bytes, bool]:
    masked = _DIGIT_RUN.sub(lambda match: b"*" * len(match.group()), value)
    return masked, masked != value


def _masked(code: Any) -> str:
    digits = "".join(ch for ch in str(code) if ch.isascii() and ch.isdigit())
    return MASK_PREFIX + digits[-4:] if len(digits) >= 4 else MASK_PREFIX


def _may_be_a_code(value: Any) -> bool:
    if value is None or isinstance(value, dict | list | bool):
        return False
    return any(ch.isdigit() for ch in str(value))


def _mask_code_fields(node: Any) -> bool:
    """Mask ``code`` fields in place, at any depth; whether one was masked."""
    changed = False
    if isinstance(node, dict):
        for name, child in node.items():
            if name == _CODE_FIELD and _may_be_a_code(child):
                node[name] = _masked(child)
                changed = True
            else:
                changed |= _mask_code_fields(child)
    elif isinstance(node, list):
        for child in node:
            changed |= _mask_code_fields(child)
    return changed
