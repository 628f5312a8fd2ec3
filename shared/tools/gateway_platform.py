"""The platform over HTTP: commands and queries through the gateway, as a storefront, a
back office and the shop's back end send them; events still read from Kafka.

``GatewayPlatform`` is a ``Platform`` (shared/tools/platform_client.py) whose ``do``
and ``ask`` go to the gateway's route for the message (services/gateway/routes.py): the
path's ids and a JSON body or a query string of the other fields, the idempotency key
as ``Idempotency-Key``, a 202 polled at its location, a problem turned back into the
rejected result or ``QueryFailed`` the services answered. Who signs in follows the
actor: a customer with a bearer token of ``make run``'s local identity provider, an
admin with the local admin's API key (the gateway then acts as ``admin:local-admin``),
the shop with the shop's. What only Kafka carries (the shop's ``CustomerCreated``, the
events a story waits for) stays on Kafka.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import httpx

from contracts.envelope import Actor, ActorKind, Message
from contracts.registry import MESSAGES
from services.gateway.endpoints import Route
from services.gateway.routes import ROUTES
from shared.runtime.settings import Settings
from shared.tools import local_gateway
from shared.tools.platform_client import Answer, Platform

ROUTE_OF: dict[type[Message], Route] = {}
for _route in ROUTES:
    ROUTE_OF.setdefault(_route.model, _route)
POLL_S = 0.2


class GatewayPlatform(Platform):
    def __init__(
        self, settings: Settings, gateway_url: str, *, answer_within_s: float = 60.0
    ) -> None:
        super().__init__(settings, answer_within_s=answer_within_s)
        self.gateway_url = gateway_url.rstrip("/")
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> GatewayPlatform:
        await super().__aenter__()
        self._http = httpx.AsyncClient(base_url=self.gateway_url, timeout=self.answer_within_s)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
        await super().__aexit__(kind, error, trace)

    async def do(
        self, key: str, command: Message, actor: Actor, *, idempotency_key: str | None = None
    ) -> Answer:
        route = _route_for(command)
        headers = {**_credentials(actor), "Idempotency-Key": idempotency_key or str(uuid4())}
        if self.correlation_id is not None:
            headers["X-Correlation-ID"] = self.correlation_id
        response = await self._send(route, command, headers)
        while response.status_code == 202:
            response = await self._poll(response.headers["location"], actor)
        body: dict[str, Any] = response.json()
        if response.is_success:
            return {"code": None, "reason": None, "retryable": False, **body}
        return {
            "status": "rejected",
            "command_type": command.message_type,
            "command_id": body.get("command_id"),
            "idempotency_key": body.get("idempotency_key", headers["Idempotency-Key"]),
            "code": body.get("code"),
            "reason": body.get("detail"),
            "retryable": bool(body.get("retryable")),
            "produced": {},
        }

    async def ask(self, key: str, question: Message, actor: Actor) -> Answer:
        route = _route_for(question)
        response = await self._send(route, question, _credentials(actor))
        if response.status_code == 504:
            raise TimeoutError(f"the gateway had no reply to {question.message_type} in time")
        body: dict[str, Any] = response.json()
        if not response.is_success:
            return {"type": "QueryFailed", "code": body.get("code"), "reason": body.get("detail")}
        return {"type": _reply_type(route, body), **body}

    async def _send(self, route: Route, message: Message, headers: dict[str, str]) -> Any:
        assert self._http is not None, "use GatewayPlatform in `async with`"
        fields = message.model_dump(mode="json", exclude_unset=True)
        ids = {name: quote(str(fields.pop(name)), safe="") for name in route.path_fields}
        for hidden in route.hidden:
            fields.pop(hidden, None)
        path = route.path.format(**ids)
        try:
            if route.method == "GET":
                return await self._http.get(path, params=fields, headers=headers)
            return await self._http.request(route.method, path, json=fields, headers=headers)
        except httpx.ConnectError as error:
            raise ConnectionError(f"no gateway at {self.gateway_url} ({error})") from None

    async def _poll(self, location: str, actor: Actor) -> Any:
        assert self._http is not None
        await asyncio.sleep(POLL_S)
        return await self._http.get(location, headers=_credentials(actor))


def _route_for(message: Message) -> Route:
    try:
        return ROUTE_OF[type(message)]
    except KeyError:
        raise ValueError(f"the gateway has no route for {message.message_type}") from None


def _credentials(actor: Actor) -> dict[str, str]:
    if actor.kind is ActorKind.CUSTOMER:
        return {"Authorization": f"Bearer {local_gateway.customer_token(actor.id)}"}
    if actor.kind is ActorKind.ADMIN:
        return {"X-API-Key": local_gateway.local_api_key("local-admin")}
    if actor.kind is ActorKind.SERVICE and actor.id == "shop":
        return {"X-API-Key": local_gateway.local_api_key("local-shop")}
    raise ValueError(f"no one signs in to the gateway as {actor.kind.value}:{actor.id}")


def _reply_type(route: Route, body: dict[str, Any]) -> str:
    """The reply's message type (HTTP carries the payload alone): the reply model of the
    route's replies topic that the body is."""
    for spec in MESSAGES:
        if spec.role != "reply" or route.replies not in spec.topics:
            continue
        try:
            spec.model.model_validate(body)
        except ValueError:
            continue
        return spec.model.message_type
    raise ValueError(f"a reply on {route.path} that no contract describes: {body}")
