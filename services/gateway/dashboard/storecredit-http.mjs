// The storecredit gateway from a browser: fetch, no dependencies, no build step.
//
//   import { Gateway } from "./storecredit-http.mjs";
//   const gateway = new Gateway("https://api.shop.example", { token: () => session.token });
//   const balance = await gateway.get(`/v1/accounts/${accountId}/balance`);
//   const stop = gateway.follow(`/v1/accounts/${accountId}/balance/stream`, (b) => show(b));
//
// Every command carries an Idempotency-Key (one made here unless given), so a retry after
// a lost answer is the same command; a retryable refusal (503) is sent again with the same
// key until it is answered for good or `pollForMs` has passed. A 202 is polled at its Location until the result is
// in. A refusal throws a Problem with the contract's `code`, the sentence of the code as
// `title` and the service's reason as `detail` (RFC 9457). The balance stream is read
// with fetch, not EventSource, because EventSource cannot send an Authorization header;
// it reconnects with Last-Event-ID, so no change is missed and none is shown twice.

export class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.name = "Problem";
    this.status = status;
    this.code = body.code || "http_error";
    this.title = body.title || "";
    this.detail = body.detail || "";
    this.retryable = Boolean(body.retryable);
    this.errors = body.errors || [];
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Gateway {
  /**
   * @param {string} baseUrl the gateway, e.g. "https://api.shop.example"
   * @param {{token?: () => string | null, apiKey?: () => string | null,
   *          pollMs?: number, pollForMs?: number, retryMs?: number}} options
   */
  constructor(baseUrl, options = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = options.token || (() => null);
    this.apiKey = options.apiKey || (() => null);
    this.pollMs = options.pollMs ?? 500;
    this.pollForMs = options.pollForMs ?? 60_000;
    this.retryMs = options.retryMs ?? 1_000;
  }

  headers(extra = {}) {
    const headers = { Accept: "application/json", ...extra };
    const token = this.token();
    const apiKey = this.apiKey();
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (apiKey) headers["X-API-Key"] = apiKey;
    return headers;
  }

  /** A query: its reply, or a thrown Problem. */
  async get(path, params = undefined) {
    const query = params ? `?${new URLSearchParams(params)}` : "";
    return this.#answer(await fetch(this.baseUrl + path + query, { headers: this.headers() }));
  }

  /**
   * A command: its accepted result ({status, command_id, produced, ...}), or a thrown
   * Problem. The same `idempotencyKey` again gets the first answer.
   */
  async send(method, path, body = {}, idempotencyKey = crypto.randomUUID()) {
    const deadline = Date.now() + this.pollForMs;
    for (;;) {
      const response = await fetch(this.baseUrl + path, {
        method,
        headers: this.headers({
          "Content-Type": "application/json",
          "Idempotency-Key": idempotencyKey,
        }),
        body: JSON.stringify(body),
      });
      if (response.status === 202) return this.#poll(response.headers.get("Location"));
      try {
        return await this.#answer(response);
      } catch (error) {
        // Retryable (503: what the service needs is on its way): the same command again.
        const again = error instanceof Problem && error.retryable && Date.now() < deadline;
        if (!again) throw error;
      }
      await sleep(this.retryMs);
    }
  }

  post(path, body, idempotencyKey) {
    return this.send("POST", path, body, idempotencyKey);
  }

  async #poll(location) {
    const deadline = Date.now() + this.pollForMs;
    while (Date.now() < deadline) {
      await sleep(this.pollMs);
      const response = await fetch(this.baseUrl + location, { headers: this.headers() });
      if (response.status !== 202) return this.#answer(response);
    }
    throw new Problem(504, {
      code: "gateway_timeout",
      title: "The result is not in yet.",
      detail: `Still pending: ask ${location} again.`,
      retryable: true,
    });
  }

  async #answer(response) {
    const text = await response.text();
    let body = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      body = { detail: text };
    }
    if (!response.ok) throw new Problem(response.status, body);
    return body;
  }

  /**
   * Follow a Server-Sent Events resource (a balance stream): `onEvent(data, id)` for each
   * event, `onError(error)` when a connection drops (it reconnects after `retryMs`, from
   * the last id seen). Returns a function that stops it.
   */
  follow(path, onEvent, onError = () => {}) {
    const stopping = new AbortController();
    let lastId = null;
    const run = async () => {
      while (!stopping.signal.aborted) {
        try {
          const headers = this.headers({ Accept: "text/event-stream" });
          if (lastId !== null) headers["Last-Event-ID"] = lastId;
          const response = await fetch(this.baseUrl + path, {
            headers,
            signal: stopping.signal,
          });
          if (!response.ok) throw await this.#answer(response).catch((problem) => problem);
          for await (const event of events(response.body)) {
            if (event.id !== null) lastId = event.id;
            if (event.data !== null) onEvent(JSON.parse(event.data), event.id);
          }
        } catch (error) {
          if (stopping.signal.aborted) return;
          onError(error);
          if (error instanceof Problem && !error.retryable && error.status < 500) return;
        }
        await sleep(this.retryMs);
      }
    };
    run();
    return () => stopping.abort();
  }
}

/** The events of a text/event-stream body: {event, id, data}, comments skipped. */
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { event: "message", id: null, data: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
      if (line === "") {
        if (event.data !== null || event.id !== null) yield event;
        event = { event: "message", id: null, data: null };
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const data = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") event.data = event.data === null ? data : `${event.data}\n${data}`;
        else if (field === "id") event.id = data;
        else if (field === "event") event.event = data;
      }
    }
  }
}
