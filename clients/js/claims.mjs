// Actor claims, as docs/examples/claim.mjs makes them (Node's own crypto, no packages): a compact
// JWS, EdDSA (Ed25519), header {"alg": "EdDSA", "typ": "JWT", "kid": <signer>}, payload
// {"sub": "<kind>:<id>", "dig": <base64url SHA-256 of the record's value bytes>, "iat": <s>},
// sent in the record's `actor-claim` header. Hash exactly the bytes you produce.
import { createHash, createPrivateKey, sign } from "node:crypto";

export const CLAIM_HEADER = "actor-claim";

/**
 * Whom the outside signers may claim (the README's "Security" table). A deployment's
 * STORECREDIT_ACTOR_SIGNERS may say otherwise; it wins when given.
 * @type {Record<string, string[]>}
 */
export const CLIENT_GRANTS = {
  storefront: ["customer"],
  "back-office": ["admin"],
  shop: ["service:shop"],
};

/** @typedef {{kind: "customer" | "admin" | "service" | "system", id: string}} Actor */

/** @param {Actor} actor */
export const subject = (actor) => `${actor.kind}:${actor.id}`;

/** @param {Uint8Array | string} bytes */
const b64url = (bytes) => Buffer.from(bytes).toString("base64url");

/**
 * Whether a may_claim pattern (`customer`, `kind:id`, `kind:*`) covers an actor.
 * @param {string} pattern
 * @param {Actor} actor
 */
export function covers(pattern, actor) {
  const [kind, which = ""] = pattern.split(/:(.*)/s);
  if (kind !== actor.kind) return false;
  return which === "" || which === "*" || which === actor.id;
}

export class Claims {
  /**
   * @param {Record<string, string>} keys signer name -> Ed25519 private key (the 32-byte seed, hex)
   * @param {Record<string, string[]>} [grants] signer name -> may_claim
   */
  constructor(keys, grants = CLIENT_GRANTS) {
    this.grants = grants;
    /** @type {Map<string, import("node:crypto").KeyObject>} */
    this.keys = new Map();
    for (const [name, hex] of Object.entries(keys)) {
      // An Ed25519 private key from its seed: the PKCS#8 prefix, then the seed.
      const pkcs8 = Buffer.concat([
        Buffer.from("302e020100300506032b657004220420", "hex"),
        Buffer.from(hex, "hex"),
      ]);
      this.keys.set(name, createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }));
    }
  }

  /**
   * The first signer with a key here that may speak for the actor (in the grants' order).
   * @param {Actor} actor
   * @returns {string}
   */
  signerFor(actor) {
    for (const [name, patterns] of Object.entries(this.grants)) {
      if (this.keys.has(name) && patterns.some((p) => covers(p, actor))) return name;
    }
    throw new Error(
      `no signer with a key in STORECREDIT_ACTOR_KEYS (${[...this.keys.keys()].join(", ")}) ` +
        `may claim ${subject(actor)}`,
    );
  }

  /**
   * The actor-claim header of a record value sent by actor.
   * @param {Buffer} value the exact bytes to be produced
   * @param {Actor} actor
   * @param {number} [now] seconds
   */
  claim(value, actor, now = Date.now() / 1000) {
    const kid = this.signerFor(actor);
    const key = /** @type {import("node:crypto").KeyObject} */ (this.keys.get(kid));
    const header = b64url(JSON.stringify({ alg: "EdDSA", typ: "JWT", kid }));
    const payload = b64url(
      JSON.stringify({
        sub: subject(actor),
        dig: b64url(createHash("sha256").update(value).digest()),
        iat: Math.floor(now),
      }),
    );
    const signature = b64url(sign(null, Buffer.from(`${header}.${payload}`), key));
    return `${header}.${payload}.${signature}`;
  }
}
