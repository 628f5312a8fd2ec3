"""``storecredit ledger balance|history``: an operator's questions to the ledger,
asked over Kafka request/reply like any other client would."""

from __future__ import annotations

import argparse
import asyncio
import json

from contracts.envelope import Actor, ActorKind, Message, new_envelope
from contracts.ledger import GetAccountBalances, GetTransactionHistory
from contracts.topics import LEDGER_QUERIES, LEDGER_QUERY_REPLIES
from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient

OPERATOR = Actor(kind=ActorKind.ADMIN, id="storecredit-cli")


async def ask(settings: Settings, account_id: str, question: Message) -> int:
    client = RequestClient(
        settings.kafka_bootstrap_servers,
        settings.topic(LEDGER_QUERY_REPLIES),
        keyring=settings.keyring(),
        **kafka_client_options(settings),
    )
    async with client:
        reply = await client.request(
            settings.topic(LEDGER_QUERIES), account_id, new_envelope(question, actor=OPERATOR)
        )
    print(json.dumps({"type": reply.type, **reply.payload}, indent=2, default=str))
    return 1 if reply.type == "QueryFailed" else 0


def run(args: argparse.Namespace) -> int:
    question: Message
    if args.question == "balance":
        question = GetAccountBalances(account_id=args.account_id)
    else:
        question = GetTransactionHistory(
            account_id=args.account_id, page_size=args.page_size, cursor=args.cursor
        )
    return asyncio.run(ask(Settings(), args.account_id, question))


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("ledger", help="ask the ledger (balances, history)")
    parser.add_argument("question", choices=("balance", "history"))
    parser.add_argument("account_id")
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--cursor", default=None, help="next_cursor of the previous page")
    parser.set_defaults(func=run)
