"""What a deployment runs, from the service image (which carries the runtime only):

    python -m shared.runtime service ledger|store_credit|order|fulfillment
    python -m shared.runtime gateway    the HTTP gateway (services/gateway), served by uvicorn
    python -m shared.runtime setup      databases, migrations, topics (safe to run again)
    python -m shared.runtime keys       new secrets for a deployment, as .env lines

``storecredit`` (the developers' and operators' command line, ``shared.tools.cli``)
offers the same beside its tools.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import secrets
import sys

from shared.runtime import claims, sealing
from shared.runtime.main import run_service
from shared.runtime.provision import prepare
from shared.runtime.provision.errors import ProvisionError
from shared.runtime.settings import SERVICES, Settings


def print_keys() -> None:
    """New secrets as environment lines: store-credit takes the hash key and the private
    sealing key, the shop's storefront and back office the public one (they seal codes
    with it); every process the signers, each its own key."""
    private = sealing.new_private_key()
    print(f"STORECREDIT_CODE_HASH_KEY={secrets.token_hex(32)}")
    print(f"STORECREDIT_CODE_SEAL_PRIVATE_KEY={private}")
    print(f"STORECREDIT_CODE_SEAL_PUBLIC_KEY={sealing.public_key_for(private)}")
    keyset = claims.new_keyset(SERVICES)
    print(f"STORECREDIT_ACTOR_SIGNERS='{claims.signers_json(keyset)}'")
    print("# Each service's STORECREDIT_ACTOR_KEYS (its own key alone; docker-compose.yml):")
    for name in SERVICES:
        print(f"{name.upper()}_ACTOR_KEYS='{claims.keys_json(keyset, [name])}'")
    print("# The clients' STORECREDIT_ACTOR_KEYS: give each to that client alone.")
    for name in claims.CLIENT_GRANTS:
        print(f"# {name}: STORECREDIT_ACTOR_KEYS='{claims.keys_json(keyset, [name])}'")
    print("# The gateway signs as the storefront, the back office and the shop, and signs")
    print("# its operation ids with a key of its own (the same on every instance):")
    print(f"GATEWAY_ACTOR_KEYS='{claims.keys_json(keyset, claims.GATEWAY_SIGNERS)}'")
    print(f"STORECREDIT_GATEWAY_OPERATION_KEY={secrets.token_urlsafe(32)}")


COMMAND = ["python", "-m", "shared.runtime"]
"""How a container runs it (``command:`` in the manifests and the compose file)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=" ".join(COMMAND), description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    service = commands.add_parser("service", help="run one service")
    service.add_argument("name", choices=SERVICES)
    commands.add_parser("gateway", help="serve the HTTP gateway")
    commands.add_parser("setup", help="databases, migrations, topics")
    commands.add_parser("keys", help="print new secrets for a deployment")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "service":
            run_service(args.name)
        elif args.command == "gateway":
            importlib.import_module("services.gateway.__main__").main()
        elif args.command == "setup":
            prepare(Settings())
        else:
            print_keys()
    except ProvisionError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
