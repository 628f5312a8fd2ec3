// A minimal storecredit client over Kafka (kafkajs), from the contracts alone.
//
// - Every envelope it sends and every one it receives is validated against its JSON Schema
//   (contracts/schemas/<Type>.json), and its headers against the AsyncAPI message's headers.
// - Commands go to <prefix><service>.commands, keyed as the topic table says, signed with an
//   actor claim; the result is the CommandResult on <prefix><service>.command-results whose
//   causation_id is the command's message_id.
// - Queries go to <prefix><service>.queries with reply_to and correlation-id headers; the answer
//   is the record on <prefix><service>.query-replies with that correlation id.
// - Events: wait for the first envelope on a topic that a predicate accepts.
//
// It reads only what it listens to, from the moment it connected (the end offsets it found
// then), so it never reads a topic's history and never misses a record produced after it.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { CLAIM_HEADER, Claims, CLIENT_GRANTS, subject } from "./claims.mjs";
import { configFromEnv } from "./config.mjs";
import { ContractError, Contracts } from "./contracts.mjs";
import { ReplyKey, ready as sodiumReady, sealCode } from "./sealing.mjs";

export { ContractError } from "./contracts.mjs";
export { ReplyKey } from "./sealing.mjs";

/** @typedef {import("./claims.mjs").Actor} Actor */
/** @typedef {Record<string, any>} Envelope */
/** @typedef {{topic: string, partition: number, offset: string, key: string | null,
 *   headers: Record<string, string>, envelope: Envelope}} Received */

export class TimeoutError extends Error {}

/**
 * Refuse a value JavaScript numbers cannot hold exactly: the schemas allow 64-bit integers
 * (a ledger balance), and JSON.parse rounds any beyond 2^53 without a word. Such a record is
 * a violation, never a silently wrong amount.
 * @param {unknown} value
 * @param {string} [path]
 */
export function checkExactNumbers(value, path = "") {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) && Number.isInteger(value)) {
      throw new ContractError(`${path || "/"} is beyond 2^53: JavaScript cannot hold it exactly`);
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => checkExactNumbers(item, `${path}/${index}`));
  } else if (value !== null && typeof value === "object") {
    for (const [name, item] of Object.entries(value)) checkExactNumbers(item, `${path}/${name}`);
  }
}

/** @param {any} headers kafkajs's headers @returns {Record<string, string>} */
function headerStrings(headers) {
  /** @type {Record<string, string>} */
  const found = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const one = Array.isArray(value) ? value[0] : value;
    if (one !== undefined && one !== null) found[name] = Buffer.from(one).toString("utf8");
  }
  return found;
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

export class StoreCreditClient {
  /**
   * Connect: a producer, and a consumer of `listen` (topic names without prefix).
   * @param {{listen: string[], config?: import("./config.mjs").Config, clientId?: string}} options
   */
  static async connect({ listen, config = configFromEnv(), clientId = "storecredit-js" }) {
    await sodiumReady;
    const client = new StoreCreditClient(config, clientId, listen);
    await client.start();
    return client;
  }

  /**
   * @param {import("./config.mjs").Config} config
   * @param {string} clientId
   * @param {string[]} listen
   */
  constructor(config, clientId, listen) {
    this.config = config;
    this.contracts = new Contracts(config.contractsDir);
    this.headerValidators = this.compileHeaderSchemas(config.contractsDir);
    this.claims = new Claims(config.actorKeys, config.signerGrants ?? CLIENT_GRANTS);
    this.listen = [...new Set(listen)];
    this.kafka = new Kafka({
      clientId,
      brokers: config.kafka.brokers,
      ssl: config.kafka.ssl,
      sasl: config.kafka.sasl,
      logLevel: logLevel.ERROR,
    });
    this.producer = this.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner, // murmur2, as Java's (and aiokafka's)
      allowAutoTopicCreation: false,
    });
    this.groupId = `${config.groupPrefix}js-${randomUUID()}`;
    this.consumer = this.kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 200,
    });
    /** @type {Map<string, Received[]>} */
    this.seen = new Map(this.listen.map((t) => [this.topic(t), []]));
    /** @type {Set<{topic: string, match: (r: Received) => boolean, resolve: (r: Received) => void, reject: (e: Error) => void}>} */
    this.waiters = new Set();
    /** @type {{topic: string, offset: string, error: string}[]} what arrived and broke the contracts */
    this.violations = [];
    this.received = 0;
  }

  /** @param {URL | string} dir */
  compileHeaderSchemas(dir) {
    const base = typeof dir === "string" ? new URL(`file://${dir.replace(/\/?$/, "/")}`) : dir;
    const asyncapi = JSON.parse(readFileSync(new URL("asyncapi.json", base), "utf8"));
    /** @type {Map<string, import("ajv").ValidateFunction>} */
    const validators = new Map();
    for (const [name, message] of Object.entries(asyncapi.components.messages)) {
      const headers = /** @type {any} */ (message).headers;
      if (headers && !headers.$ref) validators.set(name, this.contracts.ajv.compile(headers));
    }
    return validators;
  }

  /** The real topic name (with the prefix). @param {string} name */
  topic(name) {
    return `${this.config.topicPrefix}${name}`;
  }

  async start() {
    await this.producer.connect();
    const admin = this.kafka.admin();
    await admin.connect();
    /** @type {{topic: string, partition: number, offset: string}[]} */
    const starts = [];
    try {
      for (const name of this.listen) {
        for (const p of await admin.fetchTopicOffsets(this.topic(name))) {
          starts.push({ topic: this.topic(name), partition: p.partition, offset: p.high });
        }
      }
    } finally {
      await admin.disconnect();
    }
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.listen.map((t) => this.topic(t)) });
    const joined = new Promise((resolve) => {
      this.consumer.on(this.consumer.events.GROUP_JOIN, resolve);
    });
    await this.consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        this.onRecord(topic, partition, message);
      },
    });
    for (const start of starts) this.consumer.seek(start); // from the end found before joining
    await Promise.race([
      joined,
      sleep(60_000).then(() => {
        throw new TimeoutError(`the consumer group ${this.groupId} was not joined in 60 s`);
      }),
    ]);
  }

  /**
   * @param {string} topic
   * @param {number} partition
   * @param {import("kafkajs").KafkaMessage} message
   */
  onRecord(topic, partition, message) {
    this.received += 1;
    const headers = headerStrings(message.headers);
    const where = { topic, offset: `${partition}@${message.offset}` };
    /** @type {any} */
    let parsed;
    try {
      parsed = JSON.parse(message.value?.toString("utf8") ?? "");
    } catch {
      this.violations.push({ ...where, error: "the value is not JSON" });
      return;
    }
    /** @type {Received} */
    const record = {
      topic,
      partition,
      offset: message.offset,
      key: message.key?.toString("utf8") ?? null,
      headers,
      envelope: parsed,
    };
    try {
      this.contracts.validate(parsed);
      this.checkHeaders(parsed, headers);
      checkExactNumbers(parsed);
    } catch (error) {
      const said = error instanceof Error ? error.message : String(error);
      this.violations.push({ ...where, error: said });
      for (const waiter of this.waiters) {
        if (waiter.topic === topic && safely(() => waiter.match(record))) {
          waiter.reject(new ContractError(`received on ${topic} ${where.offset}: ${said}`));
        }
      }
      return;
    }
    this.seen.get(topic)?.push(record);
    for (const waiter of this.waiters) {
      if (waiter.topic === topic && safely(() => waiter.match(record))) waiter.resolve(record);
    }
  }

  /**
   * The headers of an envelope against its AsyncAPI message's headers schema, and that they
   * repeat the envelope's fields.
   * @param {Envelope} envelope
   * @param {Record<string, string>} headers
   */
  checkHeaders(envelope, headers) {
    const validator = this.headerValidators.get(envelope.type);
    if (validator && !validator(headers)) {
      const said = (validator.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
      throw new ContractError(`${envelope.type}'s headers: ${said.join("; ")}`);
    }
    const repeated = {
      type: envelope.type,
      "message-id": envelope.message_id,
      "idempotency-key": envelope.idempotency_key,
      "correlation-id": envelope.correlation_id,
    };
    for (const [name, value] of Object.entries(repeated)) {
      if (name in headers && headers[name] !== value) {
        throw new ContractError(`${envelope.type}'s ${name} header is not its envelope's`);
      }
    }
  }

  /**
   * A new envelope (README "Messages"): a fresh message id, the time with its zone.
   * @param {string} type
   * @param {Actor} actor
   * @param {Record<string, any>} payload
   * @param {{idempotencyKey?: string, correlationId?: string, causationId?: string | null}} [ids]
   * @returns {Envelope}
   */
  envelope(type, actor, payload, ids = {}) {
    const messageId = randomUUID();
    return {
      message_id: messageId,
      idempotency_key: ids.idempotencyKey ?? messageId,
      type,
      schema_version: this.schemaVersion(type),
      correlation_id: ids.correlationId ?? messageId,
      causation_id: ids.causationId ?? null,
      occurred_at: new Date().toISOString(), // always UTC, with its "Z"
      actor,
      payload,
    };
  }

  /** The schema version a type's schema fixes. @param {string} type */
  schemaVersion(type) {
    const version = this.contracts.schemaOf(type)?.properties?.schema_version?.const;
    if (typeof version !== "number") throw new ContractError(`no schema_version for ${type}`);
    return version;
  }

  /**
   * Validate, serialize, sign and produce one envelope.
   * @param {string} topicName without prefix
   * @param {string} key
   * @param {Envelope} envelope
   * @param {Record<string, string>} [extraHeaders]
   */
  async publish(topicName, key, envelope, extraHeaders = {}) {
    this.contracts.validate(envelope);
    const value = Buffer.from(JSON.stringify(envelope), "utf8"); // these bytes are signed
    const headers = {
      type: envelope.type,
      "message-id": envelope.message_id,
      "idempotency-key": envelope.idempotency_key,
      "correlation-id": envelope.correlation_id,
      ...extraHeaders,
      [CLAIM_HEADER]: this.claims.claim(value, envelope.actor),
    };
    this.checkHeaders(envelope, headers);
    await this.producer.send({
      topic: this.topic(topicName),
      acks: -1,
      messages: [{ key, value, headers }],
    });
  }

  /**
   * Wait for a record on a listened topic (without prefix) that `match` accepts, among those
   * received since connecting and those to come.
   * @param {string} topicName
   * @param {(r: Received) => boolean} match
   * @param {number} timeoutMs
   * @param {string} what for the timeout's message
   * @returns {Promise<Received>}
   */
  waitFor(topicName, match, timeoutMs, what) {
    const topic = this.topic(topicName);
    if (!this.seen.has(topic)) throw new Error(`not listening to ${topicName}`);
    const already = this.seen.get(topic)?.find((r) => safely(() => match(r)));
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const waiter = {
        topic,
        match,
        resolve: (/** @type {Received} */ r) => done(() => resolve(r)),
        reject: (/** @type {Error} */ e) => done(() => reject(e)),
      };
      const timer = setTimeout(
        () => waiter.reject(new TimeoutError(`no ${what} on ${topic} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const done = (/** @type {() => void} */ settle) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        settle();
      };
      this.waiters.add(waiter);
    });
  }

  /**
   * Send a command and wait for its result (causation_id == its message_id).
   * @param {string} type
   * @param {Actor} actor
   * @param {Record<string, any>} payload
   * @param {{key?: string, idempotencyKey?: string, correlationId?: string,
   *   timeoutMs?: number, retryWhileRetryableMs?: number}} [options] retryWhileRetryableMs:
   *   send again with the same idempotency key while the result is rejected and retryable
   * @returns {Promise<Envelope>} the CommandResult envelope
   */
  async command(type, actor, payload, options = {}) {
    const topicName = this.contracts.topicOf(type, "command");
    const resultsTopic = topicName.replace(/\.commands$/, ".command-results");
    const key = options.key ?? this.contracts.keyOf(type, payload);
    const idempotencyKey = options.idempotencyKey ?? randomUUID();
    const giveUpAt = Date.now() + (options.retryWhileRetryableMs ?? 0);
    for (;;) {
      const envelope = this.envelope(type, actor, payload, {
        idempotencyKey,
        correlationId: options.correlationId,
      });
      const result = this.waitFor(
        resultsTopic,
        (r) => r.envelope.type === "CommandResult" && r.envelope.causation_id === envelope.message_id,
        options.timeoutMs ?? 30_000,
        `CommandResult of ${type} ${envelope.message_id}`,
      );
      await this.publish(topicName, key, envelope);
      const answer = (await result).envelope;
      const { status, retryable } = answer.payload;
      if (status === "rejected" && retryable && Date.now() < giveUpAt) {
        await sleep(500);
        continue;
      }
      return answer;
    }
  }

  /**
   * Ask a query; the reply comes on <service>.query-replies with the same correlation id.
   * @param {string} type
   * @param {Actor} actor
   * @param {Record<string, any>} payload
   * @param {{key?: string, timeoutMs?: number}} [options]
   * @returns {Promise<Envelope>} the reply's envelope (its type may be QueryFailed)
   */
  async query(type, actor, payload, options = {}) {
    const topicName = this.contracts.topicOf(type, "query");
    const repliesTopic = topicName.replace(/\.queries$/, ".query-replies");
    const correlationId = `js-query-${randomUUID()}`;
    const envelope = this.envelope(type, actor, payload, {
      idempotencyKey: correlationId,
      correlationId,
    });
    const reply = this.waitFor(
      repliesTopic,
      (r) =>
        r.headers["correlation-id"] === correlationId || r.envelope.correlation_id === correlationId,
      options.timeoutMs ?? 30_000,
      `reply to ${type} ${correlationId}`,
    );
    await this.publish(topicName, options.key ?? this.contracts.keyOf(type, payload), envelope, {
      reply_to: this.topic(repliesTopic),
    });
    return (await reply).envelope;
  }

  /**
   * The first event of `type` on `topicName` whose payload `match` accepts.
   * @param {string} topicName
   * @param {string} type
   * @param {(payload: Record<string, any>) => boolean} match
   * @param {number} [timeoutMs]
   * @returns {Promise<Envelope>}
   */
  async event(topicName, type, match, timeoutMs = 30_000) {
    const found = await this.waitFor(
      topicName,
      (r) => r.envelope.type === type && match(r.envelope.payload),
      timeoutMs,
      type,
    );
    return found.envelope;
  }

  /**
   * A code sealed for the store-credit service, as `actor` sends it.
   * @param {string} code
   * @param {Actor} actor
   */
  seal(code, actor) {
    return sealCode(code, subject(actor), this.config.sealPublicKeyHex);
  }

  /** A new reply key (name its publicKeyHex as reply_public_key). */
  replyKey() {
    return new ReplyKey();
  }

  async close() {
    for (const waiter of this.waiters) waiter.reject(new Error("the client closed"));
    await this.consumer.disconnect();
    await this.producer.disconnect();
  }
}

/** @param {() => boolean} test */
function safely(test) {
  try {
    return test();
  } catch {
    return false;
  }
}
