// The contracts, read from contracts/ as published: one JSON Schema per message type
// (contracts/schemas/<Type>.json, draft 2020-12) and the AsyncAPI document (which topic each
// type travels on, and in what role). Nothing else: no code of the services is read.
import { readdirSync, readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

export class ContractError extends Error {
  /**
   * @param {string} message
   * @param {unknown[]} [errors] ajv's errors
   */
  constructor(message, errors = []) {
    super(message);
    this.errors = errors;
  }
}

/**
 * @typedef {object} MessageInfo
 * @property {string} type
 * @property {string} role command | query | result | reply | event | upstream
 * @property {string[]} addresses the topics (without prefix) it travels on
 * @property {string} keyDescription what its Kafka key is, as the AsyncAPI says it
 * @property {string | null} keyField the payload field whose value is its Kafka key
 *   (`x-key-field` of its Kafka binding), null when any key does
 */

export class Contracts {
  /** @param {URL | string} dir the contracts directory (holding schemas/ and asyncapi.json) */
  constructor(dir) {
    const base = typeof dir === "string" ? new URL(`file://${dir.replace(/\/?$/, "/")}`) : dir;
    const schemasDir = new URL("schemas/", base);
    // strict: an unknown keyword in a schema is an error, so a schema we cannot read fully fails
    // loudly here instead of validating less than it says.
    this.ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(this.ajv);
    // By schema name (the file's): <Type>.json for every type, and, where the contracts have
    // them, <Command>Result.json, a CommandResult whose `produced` is that command's.
    /** @type {Map<string, import("ajv").ValidateFunction>} */
    this.validators = new Map();
    for (const file of readdirSync(schemasDir).filter((f) => f.endsWith(".json")).sort()) {
      const schema = JSON.parse(readFileSync(new URL(file, schemasDir), "utf8"));
      if (typeof schema?.properties?.type?.const !== "string") {
        throw new ContractError(`${file}: no const type`);
      }
      this.validators.set(file.replace(/\.json$/, ""), this.ajv.compile(schema));
    }
    const asyncapi = JSON.parse(readFileSync(new URL("asyncapi.json", base), "utf8"));
    /** @type {Map<string, MessageInfo>} */
    this.messages = new Map();
    for (const channel of Object.values(asyncapi.channels)) {
      for (const ref of Object.values(channel.messages ?? {})) {
        const name = String(ref.$ref).split("/").pop() ?? "";
        const message = asyncapi.components.messages[name];
        if (!message) continue;
        const known = this.messages.get(name);
        if (known) {
          known.addresses.push(channel.address);
          continue;
        }
        this.messages.set(name, {
          type: name,
          role: message["x-message-role"] ?? "other",
          addresses: [channel.address],
          keyDescription: message.bindings?.kafka?.key?.description ?? "",
          keyField: message.bindings?.kafka?.key?.["x-key-field"] ?? null,
        });
      }
    }
  }

  /** @returns {string[]} every message type that has a schema of its own name */
  get types() {
    return [...this.validators.keys()].filter((name) => this.schemaOf(name) !== undefined);
  }

  /**
   * The schema of a type: <Type>.json.
   * @param {string} type
   * @returns {Record<string, any> | undefined}
   */
  schemaOf(type) {
    const schema = /** @type {any} */ (this.validators.get(type)?.schema);
    return schema?.properties?.type?.const === type ? schema : undefined;
  }

  /**
   * Validate one envelope (the parsed JSON value of a record) against its type's schema.
   * @param {unknown} envelope
   * @returns {Record<string, any>} the envelope
   */
  validate(envelope) {
    const found = /** @type {any} */ (envelope);
    const type = found?.type;
    if (typeof type !== "string" || !this.schemaOf(type)) {
      throw new ContractError(`no schema for message type ${JSON.stringify(type)}`);
    }
    const names = [type];
    const specific = `${found?.payload?.command_type}Result`;
    if (type === "CommandResult" && this.validators.has(specific)) names.push(specific);
    for (const name of names) {
      const validator = /** @type {import("ajv").ValidateFunction} */ (this.validators.get(name));
      if (!validator(envelope)) {
        const errors = validator.errors ?? [];
        const said = errors.map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");
        throw new ContractError(`${type} does not match ${name}.json: ${said}`, errors);
      }
    }
    return /** @type {Record<string, any>} */ (envelope);
  }

  /**
   * What the AsyncAPI says of a message type.
   * @param {string} type
   * @returns {MessageInfo}
   */
  message(type) {
    const info = this.messages.get(type);
    if (!info) throw new ContractError(`the AsyncAPI document has no message ${type}`);
    return info;
  }

  /**
   * The Kafka key of a command or query: the value of the payload field its contract names.
   * @param {string} type
   * @param {Record<string, any>} payload
   * @returns {string}
   */
  keyOf(type, payload) {
    const { keyField, keyDescription } = this.message(type);
    const value = keyField === null ? undefined : payload[keyField];
    if (typeof value === "string" && value !== "") return value;
    throw new ContractError(`the key of ${type} (${keyDescription}) is not in its payload: name it`);
  }

  /**
   * The one topic (without prefix) a command or query is sent to.
   * @param {string} type
   * @param {"command" | "query"} role
   */
  topicOf(type, role) {
    const info = this.message(type);
    if (info.role !== role) throw new ContractError(`${type} is a ${info.role}, not a ${role}`);
    if (info.addresses.length !== 1) {
      throw new ContractError(`${type} travels on ${info.addresses.join(", ")}: name the topic`);
    }
    return info.addresses[0];
  }
}

