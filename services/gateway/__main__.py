"""``python -m services.gateway``: serve the gateway with uvicorn."""

from __future__ import annotations

import uvicorn

from services.gateway.app import create_app
from shared.runtime.logging import configure_logging
from shared.runtime.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,  # ours: redacted, text or JSON
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
