"""Each command's result, typed: what it produces when accepted and the codes it may be
rejected with, as a model per command built from ``contracts.produced`` and
``contracts.rejections``.

On the wire every result is a ``CommandResult`` (its envelope's ``type``); these models
only narrow it for one command: ``command_type`` is that command, ``produced`` its own
model (``{}`` when rejected) and ``code`` one of its codes. ``python -m contracts.generate``
writes a JSON Schema of each (``contracts/schemas/<Command>Result.json``), lists them in
AsyncAPI on their results topic, and writes the reference page of every code
(``contracts/codes.md``).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import Field, create_model

from contracts.envelope import Part
from contracts.produced import PRODUCED
from contracts.registry import MESSAGES, MessageSpec
from contracts.rejections import CODES, RETRYABLE_FOR, codes_of
from contracts.results import CommandResult
from contracts.topics import TopicSpec


class NothingProduced(Part):
    """A rejected command produced nothing: ``{}``."""


def result_name(command_type: str) -> str:
    return f"{command_type}Result"


def results_topic_of(commands: TopicSpec) -> TopicSpec:
    """The results topic of a commands topic (``x.commands`` -> ``x.command-results``)."""
    name = commands.name.replace(".commands", ".command-results")
    for spec in MESSAGES:
        for topic in spec.topics:
            if topic.name == name:
                return topic
    raise LookupError(f"no results topic for {commands.name}")


@cache
def result_model(command_type: str) -> type[CommandResult]:
    """The result of ``command_type``, narrowed (its message type stays CommandResult)."""
    codes = tuple(sorted(codes_of(command_type)))
    code_type: Any = Literal[codes]
    command: Any = Literal[command_type]
    produced: Any = PRODUCED[command_type] | NothingProduced
    model = create_model(
        result_name(command_type),
        __base__=CommandResult,
        __doc__=(
            f"The result of {command_type}: accepted with what it produced, or rejected "
            f"with one of its codes (contracts/codes.md)."
        ),
        command_type=(command, Field(description="The command answered.")),
        code=(
            code_type | None,
            Field(default=None, description="When rejected: one of this command's codes."),
        ),
        produced=(
            produced,
            Field(
                default_factory=dict,
                description=f"What {command_type} produced when accepted; {{}} when rejected.",
            ),
        ),
    )
    return model


def result_specs() -> list[MessageSpec]:
    """A spec per command's typed result, on its results topic (role ``result``)."""
    return [
        MessageSpec(
            result_model(spec.model.message_type),
            (results_topic_of(spec.topics[0]),),
            "result",
        )
        for spec in MESSAGES
        if spec.role == "command"
    ]


def codes_page() -> str:
    """contracts/codes.md: every rejection code, and the codes of each message."""
    lines = [
        "# Rejection codes",
        "",
        "Generated from `contracts/rejections.py` by `make contracts`; do not edit.",
        "A rejected command's result, or a query's `QueryFailed`, carries one of these",
        "in `code`, with a `reason` sentence for people. **Retryable**: the same",
        'idempotency key may succeed later (the result says `"retryable": true`).',
        "",
        "| code | retryable | when |",
        "|---|---|---|",
    ]
    for code in sorted(CODES):
        rejection = CODES[code]
        only_for = sorted(RETRYABLE_FOR.get(code, frozenset()))
        retry = "yes" if rejection.retryable else ""
        if only_for:
            retry = "from " + ", ".join(f"`{name}`" for name in only_for)
        lines.append(f"| `{code}` | {retry} | {rejection.sentence} |")
    lines += ["", "## By message", ""]
    lines += ["| message | role | its codes (besides every message's own) |", "|---|---|---|"]
    for spec in MESSAGES:
        if spec.role not in ("command", "query"):
            continue
        name = spec.model.message_type
        own = sorted(codes_of(name) - _common(spec.role))
        shown = ", ".join(f"`{code}`" for code in own) or "none"
        lines.append(f"| `{name}` | {spec.role} | {shown} |")
    for role in ("command", "query"):
        shared = ", ".join(f"`{code}`" for code in sorted(_common(role)))
        lines += ["", f"Every {role} may also answer: {shared}."]
    return "\n".join(lines) + "\n"


def _common(role: str) -> frozenset[str]:
    from contracts import rejections

    if role == "command":
        return rejections.COMMON_COMMAND_CODES
    return rejections.COMMON_QUERY_CODES
