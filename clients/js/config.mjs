// Configuration from the environment only, named as the services name theirs.
//
//   KAFKA_BOOTSTRAP_SERVERS           host:port[,host:port...]            (default 127.0.0.1:9092)
//   KAFKA_SECURITY_PROTOCOL           PLAINTEXT | SASL_PLAINTEXT | SASL_SSL | SSL (default PLAINTEXT)
//   KAFKA_SASL_MECHANISM              PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 (with SASL_*)
//   KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD
//   STORECREDIT_TOPIC_PREFIX          goes before every topic name (default empty)
//   STORECREDIT_ACTOR_KEYS            JSON {"<signer>": "<Ed25519 private key, 64 hex>"}
//   STORECREDIT_ACTOR_SIGNERS         optional JSON {"<signer>": {"may_claim": [...]}}: whom each
//                                     signer may claim (default: the README's table)
//   STORECREDIT_CODE_SEAL_PUBLIC_KEY  the store-credit service's X25519 public key, 64 hex
//   STORECREDIT_CONSUMER_GROUP_PREFIX optional: the start of this client's consumer group ids
//                                     (default "<prefix>storefront-": a client principal may
//                                     use only groups "<prefix><principal>-...", contracts/access.md)
//   STORECREDIT_CONTRACTS_DIR         optional: where schemas/ and asyncapi.json are
//                                     (default: the repository's contracts/)

const HEX64 = /^[0-9a-fA-F]{64}$/;

export class ConfigError extends Error {}

/**
 * @typedef {object} KafkaConfig
 * @property {string[]} brokers
 * @property {boolean} ssl
 * @property {{mechanism: "plain" | "scram-sha-256" | "scram-sha-512", username: string,
 *   password: string} | undefined} sasl
 *
 * @typedef {object} Config
 * @property {KafkaConfig} kafka
 * @property {string} topicPrefix
 * @property {Record<string, string>} actorKeys signer name -> private key hex
 * @property {Record<string, string[]> | undefined} signerGrants signer name -> may_claim
 * @property {string} sealPublicKeyHex
 * @property {string} groupPrefix
 * @property {URL | string} contractsDir
 */

/**
 * @param {NodeJS.ProcessEnv} env
 * @returns {Config}
 */
export function configFromEnv(env = process.env) {
  const topicPrefix = env.STORECREDIT_TOPIC_PREFIX ?? "";
  const sealPublicKeyHex = env.STORECREDIT_CODE_SEAL_PUBLIC_KEY ?? "";
  if (!HEX64.test(sealPublicKeyHex)) {
    throw new ConfigError(
      "STORECREDIT_CODE_SEAL_PUBLIC_KEY must be the store-credit service's X25519 public key (64 hex)",
    );
  }
  return {
    kafka: kafkaFromEnv(env),
    topicPrefix,
    actorKeys: actorKeysFromEnv(env.STORECREDIT_ACTOR_KEYS),
    signerGrants: signerGrantsFromEnv(env.STORECREDIT_ACTOR_SIGNERS),
    sealPublicKeyHex,
    groupPrefix: env.STORECREDIT_CONSUMER_GROUP_PREFIX ?? `${topicPrefix}storefront-`,
    contractsDir: env.STORECREDIT_CONTRACTS_DIR ?? new URL("../../contracts/", import.meta.url),
  };
}

/** @param {NodeJS.ProcessEnv} env @returns {KafkaConfig} */
function kafkaFromEnv(env) {
  const brokers = (env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092")
    .split(",")
    .map((b) => b.trim())
    .filter(Boolean);
  const protocol = (env.KAFKA_SECURITY_PROTOCOL ?? "PLAINTEXT").toUpperCase();
  if (!["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].includes(protocol)) {
    throw new ConfigError(`KAFKA_SECURITY_PROTOCOL ${protocol} is not supported`);
  }
  const ssl = protocol === "SSL" || protocol === "SASL_SSL";
  if (!protocol.startsWith("SASL_")) return { brokers, ssl, sasl: undefined };
  const mechanism = (env.KAFKA_SASL_MECHANISM ?? "PLAIN").toLowerCase();
  if (mechanism !== "plain" && mechanism !== "scram-sha-256" && mechanism !== "scram-sha-512") {
    throw new ConfigError(`KAFKA_SASL_MECHANISM ${env.KAFKA_SASL_MECHANISM} is not supported`);
  }
  const username = env.KAFKA_SASL_USERNAME;
  const password = env.KAFKA_SASL_PASSWORD;
  if (!username || password === undefined) {
    throw new ConfigError(`${protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`);
  }
  return { brokers, ssl, sasl: { mechanism, username, password } };
}

/** @param {string | undefined} raw @returns {Record<string, string>} */
function actorKeysFromEnv(raw) {
  if (!raw) throw new ConfigError("STORECREDIT_ACTOR_KEYS is not set: {signer: private key hex}");
  let loaded;
  try {
    loaded = JSON.parse(raw);
  } catch {
    throw new ConfigError("STORECREDIT_ACTOR_KEYS is not JSON");
  }
  if (typeof loaded !== "object" || loaded === null || Array.isArray(loaded)) {
    throw new ConfigError("STORECREDIT_ACTOR_KEYS must be a JSON object");
  }
  for (const [name, key] of Object.entries(loaded)) {
    if (typeof key !== "string" || !HEX64.test(key)) {
      throw new ConfigError(`STORECREDIT_ACTOR_KEYS: the key of ${name} is not 64 hex characters`);
    }
  }
  return /** @type {Record<string, string>} */ (loaded);
}

/** @param {string | undefined} raw @returns {Record<string, string[]> | undefined} */
function signerGrantsFromEnv(raw) {
  if (!raw) return undefined;
  /** @type {Record<string, string[]>} */
  const grants = {};
  for (const [name, spec] of Object.entries(JSON.parse(raw))) {
    if (Array.isArray(spec?.may_claim)) grants[name] = spec.may_claim.map(String);
  }
  return grants;
}
