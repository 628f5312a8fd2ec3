"""No store-credit code (nor any other secret a service knows) is written in clear.

A message a service cannot handle is parked with its bytes
(``shared.runtime.dead_letters``), and a log line or an error message may quote
what it was given. Codes come sealed (``shared.runtime.sealing``), but a client
may still put one in clear where it does not belong: in a description, a list,
a header, a field of any name. So masking goes **by content**, everywhere, for
every service, before anything is written:

- anything shaped like a code (12 to 19 digits, with or without single spaces or
  dashes between them: every code is, ``services.store_credit.codes``) in any
  text, at any depth, in field names and values alike, becomes as many ``*``
  (UUIDs, which may hold such runs by chance, are kept: they are ids, not codes);
- in JSON, a field named ``code`` or ``codes`` with a digit in it becomes
  ``******`` and its last four digits (a rejection code such as
  ``insufficient_funds`` has none and stays), numbers included; a field named
  like a secret (``token``, ``password``, ``secret``, ``private_key``) is masked
  whole; the rest is kept, so a fixed message can still be re-published;
- bytes that are not JSON get the digit-run rule alone: they cannot be trusted
  to say where a code is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

MASK_PREFIX = "******"

_CODE_SHAPED = re.compile(r"(?<!\d)(?:\d[ \-]?){11,18}\d(?!\d)")
_CODE_SHAPED_BYTES = re.compile(rb"(?<!\d)(?:\d[ \-]?){11,18}\d(?!\d)")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CODE_NAMES = frozenset({"code", "codes"})
_SECRET_NAMES = frozenset({"token", "password", "secret", "private_key", "api_key"})


def mask_text(text: str) -> str:
    """``text`` with every code-shaped run of digits masked (UUIDs kept as they are)."""
    if not any(ch.isdigit() for ch in text):
        return text
    kept = _UUID.split(text)
    ids = _UUID.findall(text)
    masked = [_CODE_SHAPED.sub(lambda match: "*" * len(match.group()), part) for part in kept]
    out = masked[0]
    for uuid_text, part in zip(ids, masked[1:], strict=True):
        out += uuid_text + part
    return out


def redact_secrets(value: bytes) -> tuple[bytes, bool]:
    """``value`` with every possible code and known secret masked, and whether any was."""
    try:
        return _mask_json(value)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep to walk
        return _mask_digit_runs(value)


def redact_headers(headers: Mapping[str, str]) -> tuple[dict[str, str], bool]:
    """Headers with code-shaped values masked (an actor claim's JWS has none)."""
    masked = {name: mask_text(text) for name, text in headers.items()}
    return masked, masked != dict(headers)


def _mask_json(value: bytes) -> tuple[bytes, bool]:
    document = json.loads(value)
    if not isinstance(document, dict | list):
        return _mask_digit_runs(value)
    masked = _masked_node(document)
    if masked == document:
        return value, False
    return json.dumps(masked, ensure_ascii=False, separators=(",", ":")).encode(), True


def _mask_digit_runs(value: bytes) -> tuple[bytes, bool]:
    try:
        masked = mask_text(value.decode("utf-8")).encode("utf-8")  # text: UUIDs kept
    except UnicodeDecodeError:
        masked = _CODE_SHAPED_BYTES.sub(lambda match: b"*" * len(match.group()), value)
    return masked, masked != value


def _masked_code(code: Any) -> str:
    digits = "".join(ch for ch in str(code) if ch.isascii() and ch.isdigit())
    return MASK_PREFIX + digits[-4:] if len(digits) >= 4 else MASK_PREFIX


def _may_be_a_code(value: Any) -> bool:
    if value is None or isinstance(value, dict | bool):
        return False
    return any(ch.isdigit() for ch in str(value))


def _masked_node(node: Any, name: str = "") -> Any:
    """A copy of ``node`` with its secrets masked (``name``: the field that holds it)."""
    lowered = name.lower()
    if lowered in _SECRET_NAMES and isinstance(node, str) and node:
        return MASK_PREFIX
    if isinstance(node, dict):
        return {mask_text(key): _masked_node(child, key) for key, child in node.items()}
    if isinstance(node, list):
        return [_masked_node(child, name) for child in node]
    if lowered in _CODE_NAMES and _may_be_a_code(node):
        return _masked_code(node)
    if isinstance(node, str):
        return mask_text(node)
    return node
