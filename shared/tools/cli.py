"""The ``storecredit`` command line.

storecredit stack up|down|status [--profile dev|test|chaos]
storecredit setup          databases, migrations, topics (for the configured servers)
storecredit run            stack up, setup, then the four services (Ctrl-C stops them)
storecredit service NAME   one service in the foreground
storecredit claim ACTOR    the actor-claim header for a record value (stdin), for kcat
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from contracts.envelope import Actor, ActorKind
from shared.runtime import sealing
from shared.runtime.settings import SERVICES, Settings
from shared.tools import ledger_cli
from shared.tools.invariants import cli as invariants_cli
from shared.tools.local_keys import local_principal_passwords, local_secret, use_local_keys
from shared.tools.operator import dead_letters, send, tail, topics


def _stack(args: argparse.Namespace) -> int:
    from shared.tools import stack

    profile = stack.PROFILES[args.profile]
    if args.action == "up":
        endpoints = stack.up(profile)
        print(f"kafka       {endpoints.bootstrap_servers}")
        print(f"postgresql  {endpoints.database_server_url}")
    elif args.action == "down":
        for line in stack.down(profile):
            print(line)
    else:
        for line in stack.status(profile):
            print(line)
    return 0


def _local_environment() -> dict[str, str]:
    """Bring up the dev stack unless the environment names other servers."""
    from shared.tools import stack

    env = dict(os.environ)
    env.setdefault("STORECREDIT_CODE_HASH_KEY", local_secret("code-hash-key"))
    env.setdefault("STORECREDIT_CODE_SEAL_PRIVATE_KEY", local_secret("code-seal-private-key"))
    use_local_keys(env, create=True)
    if "KAFKA_BOOTSTRAP_SERVERS" in env and "DATABASE_URL" in env:
        return env
    endpoints = stack.up(stack.PROFILES["dev"])
    env.setdefault("KAFKA_BOOTSTRAP_SERVERS", endpoints.bootstrap_servers)
    env.setdefault("DATABASE_URL", endpoints.database_server_url)
    for name, value in endpoints.kafka_environment.items():
        env.setdefault(name, value)
    passwords = local_principal_passwords(create=True)
    if passwords is not None:  # setup makes these users and ACLs; each service is one
        env.setdefault("STORECREDIT_KAFKA_PASSWORDS", passwords)
    return env


def _setup(_: argparse.Namespace) -> int:
    from shared.runtime.provision import prepare

    prepare(Settings())
    return 0


def _run(_: argparse.Namespace) -> int:
    from shared.runtime.provision import prepare
    from shared.tools.service_processes import run_services

    env = _local_environment()
    os.environ.update(env)
    prepare(Settings())
    return run_services(env)


def _service(args: argparse.Namespace) -> int:
    from shared.runtime.main import run_service

    run_service(args.name)
    return 0


def _claim(args: argparse.Namespace) -> int:
    """Print the actor-claim header for the record value on standard input."""
    kind, _, actor_id = args.actor.partition(":")
    actor = Actor(kind=ActorKind(kind), id=actor_id)
    value = sys.stdin.buffer.read()
    if value.endswith(b"\n"):  # what kcat -P sends of a line: without its newline
        value = value[:-1]
    print(Settings().keyring().claim(value, actor))
    return 0


def _requester_key() -> str:
    """This machine's requester key (new codes sealed back to the tools beside make run)."""
    return os.environ.get("STORECREDIT_REQUESTER_PRIVATE_KEY") or local_secret(
        "requester-private-key"
    )


def _stdin_line() -> str:
    return sys.stdin.read().strip()


def _seal(args: argparse.Namespace) -> int:
    """Print the code on standard input sealed for the store-credit service, by ACTOR."""
    kind, _, actor_id = args.actor.partition(":")
    actor = Actor(kind=ActorKind(kind), id=actor_id)
    print(sealing.seal(_stdin_line(), Settings().code_seal_public_key_hex(), actor))
    return 0


def _reply_key(_: argparse.Namespace) -> int:
    """Print the public key to name as reply_public_key (the local requester's)."""
    print(sealing.public_key_for(_requester_key()))
    return 0


def _unseal(_: argparse.Namespace) -> int:
    """Print what was sealed to the local requester (a new code or token on stdin)."""
    try:
        print(sealing.open_for_requester(_stdin_line(), _requester_key()))
    except sealing.SealError as error:
        print(f"storecredit: {error}", file=sys.stderr)
        return 1
    return 0


def _keys(_: argparse.Namespace) -> int:
    from shared.runtime.__main__ import print_keys

    print_keys()
    return 0


def _token(args: argparse.Namespace) -> int:
    from shared.tools import local_gateway

    if args.admin or args.shop:
        print(local_gateway.local_api_key("local-admin" if args.admin else "local-shop"))
    else:
        print(local_gateway.customer_token(args.customer))
    return 0


def _api_key(args: argparse.Namespace) -> int:
    from services.gateway.identity import ApiKeySpec
    from shared.tools import local_gateway

    presented, entry = local_gateway.new_api_key(args.actor)
    try:
        for spec in entry.values():
            ApiKeySpec.model_validate(spec)  # an actor the gateway would not take
    except ValueError:
        print(f"storecredit: {args.actor!r} is not admin:<id> or service:shop", file=sys.stderr)
        return 2
    print(f"X-API-Key: {presented}")
    print(f"STORECREDIT_GATEWAY_API_KEYS entry: {json.dumps(entry)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storecredit", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stack_parser = commands.add_parser("stack", help="local Kafka and PostgreSQL without Docker")
    stack_parser.add_argument("action", choices=("up", "down", "status"))
    stack_parser.add_argument("--profile", choices=("dev", "test", "chaos"), default="dev")
    stack_parser.set_defaults(func=_stack)
    commands.add_parser("setup", help="databases, migrations, topics").set_defaults(func=_setup)
    commands.add_parser("run", help="everything, then the four services").set_defaults(func=_run)
    service_parser = commands.add_parser("service", help="run one service")
    service_parser.add_argument("name", choices=SERVICES)
    service_parser.set_defaults(func=_service)
    commands.add_parser(
        "keys", help="print new secrets for a deployment (code hashing, code sealing)"
    ).set_defaults(func=_keys)
    claim_parser = commands.add_parser(
        "claim", help="sign an actor claim for the record value on stdin (for kcat -H)"
    )
    claim_parser.add_argument("actor", help="kind:id, as in the envelope (admin:admin-1)")
    claim_parser.set_defaults(func=_claim)
    seal_parser = commands.add_parser(
        "seal", help="seal the code on stdin for the store-credit service, as ACTOR sends it"
    )
    seal_parser.add_argument("actor", help="kind:id of the actor who sends it (customer:c-1)")
    seal_parser.set_defaults(func=_seal)
    commands.add_parser(
        "reply-key", help="the public key to name as a creation's reply_public_key"
    ).set_defaults(func=_reply_key)
    token_parser = commands.add_parser(
        "token", help="sign in to the local gateway: a customer's bearer token, or an API key"
    )
    who = token_parser.add_mutually_exclusive_group(required=True)
    who.add_argument("customer", nargs="?", help="the customer id to sign a bearer token for")
    who.add_argument("--admin", action="store_true", help="the local admin's X-API-Key")
    who.add_argument("--shop", action="store_true", help="the local shop's X-API-Key")
    token_parser.set_defaults(func=_token)
    api_key_parser = commands.add_parser(
        "api-key",
        help="a new gateway API key for ACTOR, and its STORECREDIT_GATEWAY_API_KEYS entry",
    )
    api_key_parser.add_argument("actor", help="admin:<id> or service:shop")
    api_key_parser.set_defaults(func=_api_key)
    commands.add_parser(
        "unseal", help="open a code or token on stdin sealed to that reply key"
    ).set_defaults(func=_unseal)
    ledger_cli.add_parser(commands)
    topics.add_parser(commands)
    tail.add_parser(commands)
    send.add_parser(commands)
    dead_letters.add_parser(commands)
    invariants_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    use_local_keys(os.environ)  # beside `make run`, the tools sign as its clients do
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        from shared.tools.stack import StackError

        if isinstance(error, StackError):
            print(f"storecredit: {error}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
