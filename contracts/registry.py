"""Which message types exist, and which topic carries each."""

from __future__ import annotations

from dataclasses import dataclass

from contracts import ledger, topics
from contracts.envelope import Message
from contracts.results import CommandResult


@dataclass(frozen=True)
class MessageSpec:
    model: type[Message]
    topics: tuple[topics.TopicSpec, ...]
    role: str  # "command", "event" or "result"


MESSAGES: tuple[MessageSpec, ...] = (
    MessageSpec(ledger.OpenLedgerAccount, (topics.LEDGER_COMMANDS,), "command"),
    MessageSpec(ledger.CreatePointTransaction, (topics.LEDGER_COMMANDS,), "command"),
    MessageSpec(ledger.LedgerAccountOpened, (topics.LEDGER_EVENTS,), "event"),
    MessageSpec(ledger.PointTransactionCreated, (topics.LEDGER_EVENTS,), "event"),
    MessageSpec(ledger.BalanceChanged, (topics.LEDGER_BALANCES,), "event"),
    MessageSpec(
        CommandResult,
        (
            topics.LEDGER_COMMAND_RESULTS,
            topics.STORE_CREDIT_COMMAND_RESULTS,
            topics.ORDER_COMMAND_RESULTS,
            topics.FULFILLMENT_COMMAND_RESULTS,
        ),
        "result",
    ),
)


def model_for(message_type: str) -> type[Message] | None:
    for spec in MESSAGES:
        if spec.model.message_type == message_type:
            return spec.model
    return None
