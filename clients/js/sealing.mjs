// Sealed store-credit codes, as docs/examples/seal/seal.mjs and the README's "Sealed codes" say:
// libsodium's sealed box (crypto_box_seal) of the UTF-8 JSON {"actor": "<kind>:<id>", "code"}
// for the store-credit service's X25519 public key, base64url without padding. New codes and
// tokens come back sealed to a reply key of the requester's own (reply_public_key).
import sodium from "libsodium-wrappers";

/** libsodium is WebAssembly: await this once before sealing or opening. */
export const ready = sodium.ready;

/**
 * A code sealed for the store-credit service, sent by `actor` ("kind:id"): it opens only in a
 * message whose envelope actor is that one.
 * @param {string} code
 * @param {string} actor
 * @param {string} servicePublicKeyHex
 * @returns {string} base64url, for `sealed_code`
 */
export function sealCode(code, actor, servicePublicKeyHex) {
  const clear = JSON.stringify({ actor, code });
  return sodium.to_base64(sodium.crypto_box_seal(clear, sodium.from_hex(servicePublicKeyHex)));
}

/** A reply key pair: name `publicKeyHex` as reply_public_key; keep the private half. */
export class ReplyKey {
  constructor() {
    const { publicKey, privateKey } = sodium.crypto_box_keypair();
    this.publicKey = publicKey;
    this.privateKey = privateKey;
    this.publicKeyHex = sodium.to_hex(publicKey);
  }

  /**
   * The UTF-8 text sealed to this key (a new code or token); throws if it was sealed to
   * another key, or damaged.
   * @param {string} sealed base64url
   * @returns {string}
   */
  open(sealed) {
    const box = sodium.from_base64(sealed.trim());
    return sodium.to_string(sodium.crypto_box_seal_open(box, this.publicKey, this.privateKey));
  }
}
