"""``python -m shared.tools.demo`` (``make demo``): the seed stories against ``make run``,
over Kafka, or with ``--via http`` (``make demo VIA=http``) through the HTTP gateway: its
commands and queries as a storefront, a back office and the shop's back end send them."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from aiokafka.errors import KafkaConnectionError

from shared.runtime.settings import Settings
from shared.tools.demo.cast import Cast
from shared.tools.demo.narration import Console
from shared.tools.demo.play import play_all, retire_templates
from shared.tools.local_keys import use_local_keys
from shared.tools.platform_client import Platform


async def demo(settings: Settings, gateway: str | None = None) -> int:
    cast = Cast()
    platform: Platform
    if gateway is None:
        where = f"Kafka at {settings.kafka_bootstrap_servers}"
        platform = Platform(settings, answer_within_s=30.0)
    else:
        from shared.tools.gateway_platform import GatewayPlatform

        where = f"the gateway at {gateway} (events read from Kafka)"
        platform = GatewayPlatform(settings, gateway, answer_within_s=30.0)
    print(f"Playing the seed stories through {where} (run {cast.run}; every id ends with it).")
    async with platform:
        played = await play_all(platform, Console(), cast)
        await retire_templates(platform, played.accounts)
    print(
        f"\nEvery story played. To see this run's messages on the topics:\n"
        f"  .venv/bin/storecredit tail order.events --from-beginning --correlation-id "
        f"{cast.id('demo')}\n"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--via", choices=("kafka", "http"), default="kafka")
    parser.add_argument("--gateway", default="http://127.0.0.1:8080", help="with --via http")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    use_local_keys(os.environ)  # beside `make run`: sign as its clients do
    settings = Settings()
    try:
        return asyncio.run(demo(settings, args.gateway if args.via == "http" else None))
    except KafkaConnectionError:
        print(
            f"\ndemo: no Kafka at {settings.kafka_bootstrap_servers}. Start the system with "
            f"`make run` in another terminal, wait for 'services started', then `make demo`.",
            file=sys.stderr,
        )
        return 1
    except TimeoutError as error:
        print(
            f"\ndemo: no answer in time ({error}).\nIs the system running? Start it with "
            f"`make run` in another terminal, wait for 'services started', then `make demo`.",
            file=sys.stderr,
        )
        return 1
    except ConnectionError as error:
        print(f"\ndemo: {error}. Is `make run` going?", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
