// Makes an actor claim with Node's own crypto (no packages): what a JavaScript storefront does.
// Usage: node claim.mjs <private key hex> <signer> <kind:id> < value
import { createPrivateKey, createHash, sign } from "node:crypto";
import { readFileSync } from "node:fs";

const [privateKeyHex, signer, actor] = process.argv.slice(2);
const value = readFileSync(0);
const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
// An Ed25519 private key from its 32-byte seed: the PKCS#8 prefix, then the seed.
const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(privateKeyHex, "hex")]);
const key = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
const header = b64url(JSON.stringify({ alg: "EdDSA", typ: "JWT", kid: signer }));
const payload = b64url(JSON.stringify({
  sub: actor,
  dig: b64url(createHash("sha256").update(value).digest()),
  iat: Math.floor(Date.now() / 1000),
}));
const signature = b64url(sign(null, Buffer.from(`${header}.${payload}`), key));
process.stdout.write(`${header}.${payload}.${signature}\n`);
