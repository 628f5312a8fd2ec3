"""``python -m shared.tools.demo`` (``make demo``): the seed stories against ``make run``."""

from __future__ import annotations

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


async def demo(settings: Settings) -> int:
    cast = Cast()
    print(
        f"Playing the seed stories against Kafka at {settings.kafka_bootstrap_servers} "
        f"(run {cast.run}; every id ends with it)."
    )
    async with Platform(settings, answer_within_s=30.0) as platform:
        played = await play_all(platform, Console(), cast)
        await retire_templates(platform, played.accounts)
    print(
        f"\nEvery story played. To see this run's messages on the topics:\n"
        f"  .venv/bin/storecredit tail order.events --from-beginning --correlation-id "
        f"{cast.id('demo')}\n"
    )
    return 0


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    use_local_keys(os.environ)  # beside `make run`: sign as its clients do
    settings = Settings()
    try:
        return asyncio.run(demo(settings))
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


if __name__ == "__main__":
    sys.exit(main())
