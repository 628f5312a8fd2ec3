// Sealed store-credit codes with libsodium-wrappers: what a JavaScript storefront does.
//
// A store-credit code never travels in clear. The shop seals it with libsodium's sealed box
// (crypto_box_seal: X25519 + XSalsa20-Poly1305) for the store-credit service's public key;
// a new code comes back sealed to a public key the requester named as reply_public_key.
// Keys are 32 bytes written as 64 hex characters; sealed values are base64url without padding.
//
// Setup:  npm ci            (in this directory; `make venv` does it for the repository)
// Usage:  node seal.mjs seal <store-credit-public-key-hex> <kind:id>  < code
//           prints the code sealed for the store-credit service, sent by actor <kind:id>
//         node seal.mjs keypair
//           prints {"public_key": hex, "private_key": hex}: a requester's key pair
//         node seal.mjs open <private-key-hex>  < sealed
//           prints the text sealed to that key (a new code sealed to a requester)
import { readFileSync } from "node:fs";
import sodium from "libsodium-wrappers";

await sodium.ready; // libsodium is WebAssembly: wait until it is loaded

const [command, ...args] = process.argv.slice(2);
const stdin = () => readFileSync(0, "utf8").replace(/\r?\n$/, ""); // without the final newline

function usage() {
  process.stderr.write(
    "usage: node seal.mjs seal <public-key-hex> <kind:id> < code\n" +
      "       node seal.mjs keypair\n" +
      "       node seal.mjs open <private-key-hex> < sealed\n",
  );
  process.exit(2);
}

if (command === "seal" && args.length === 2) {
  const [publicKeyHex, actor] = args;
  // What the store-credit service opens: the sender's actor, then the code, as UTF-8 JSON.
  // The actor binds the code to its sender: copied into another actor's command, it won't open.
  const clear = JSON.stringify({ actor, code: stdin() });
  const sealed = sodium.crypto_box_seal(clear, sodium.from_hex(publicKeyHex)); // strings go in as UTF-8
  process.stdout.write(`${sodium.to_base64(sealed)}\n`); // the default is URLSAFE_NO_PADDING
} else if (command === "keypair" && args.length === 0) {
  // Keep private_key secret; send public_key as reply_public_key to get a new code back sealed.
  const { publicKey, privateKey } = sodium.crypto_box_keypair();
  const pair = { public_key: sodium.to_hex(publicKey), private_key: sodium.to_hex(privateKey) };
  process.stdout.write(`${JSON.stringify(pair)}\n`);
} else if (command === "open" && args.length === 1) {
  const privateKey = sodium.from_hex(args[0]);
  const publicKey = sodium.crypto_scalarmult_base(privateKey); // opening needs both halves
  const sealed = sodium.from_base64(stdin().trim()); // URLSAFE_NO_PADDING, as sealed above
  // Throws if the value was sealed to another key, or was damaged or forged.
  const clear = sodium.crypto_box_seal_open(sealed, publicKey, privateKey);
  process.stdout.write(`${sodium.to_string(clear)}\n`); // the UTF-8 text that was sealed
} else {
  usage();
}
