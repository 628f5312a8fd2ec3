// The store-credit seed story, end to end, from JavaScript: an admin issues a 54.95 USD credit
// (its code comes back sealed to the admin's reply key), the customer's cart of two tickets at
// 15.00 plus 24.95 shipping (prices and charges by the shop), the credit applied by its sealed
// code and held, the order asked for (nothing due), checkout, OrderCheckedOut.
//
// Usage: node seed-story.mjs     (configuration from the environment: config.mjs)
// Exit status 0 only if every step went as expected; each step is printed as it happens.
import { randomBytes } from "node:crypto";
import { StoreCreditClient } from "./client.mjs";

const run = `${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
const customerId = `cust-js-${run}`;
const storeCreditId = `sc-js-${run}`;
const orderId = `order-js-${run}`;
const CUSTOMER = /** @type {const} */ ({ kind: "customer", id: customerId });
const ADMIN = /** @type {const} */ ({ kind: "admin", id: "admin-js" });
const SHOP = /** @type {const} */ ({ kind: "service", id: "shop" });
const AMOUNT = 5495; // two tickets at 15.00 and 24.95 shipping: the credit covers it all

class StepFailed extends Error {}

let stepNumber = 0;
/** @param {string} name @param {string} [detail] */
function step(name, detail = "") {
  stepNumber += 1;
  console.log(`step ${stepNumber}: ${name}${detail ? ` (${detail})` : ""}`);
}

/** @param {boolean} condition @param {string} what @param {unknown} [seen] */
function expect(condition, what, seen) {
  if (!condition) {
    throw new StepFailed(`expected ${what}${seen === undefined ? "" : `, got ${JSON.stringify(seen)}`}`);
  }
}

/** @param {Record<string, any>} result a CommandResult envelope @param {string} type */
function accepted(result, type) {
  const p = result.payload;
  expect(p.command_type === type, `the result of ${type}`, p.command_type);
  expect(p.status === "accepted", `${type} accepted`, { code: p.code, reason: p.reason });
  return p.produced ?? {};
}

async function main() {
  const client = await StoreCreditClient.connect({
    clientId: "storecredit-js-seed-story",
    listen: [
      "store-credit.command-results",
      "store-credit.query-replies",
      "order.command-results",
      "order.events",
      "order.query-replies",
    ],
  });
  const { sasl } = client.config.kafka;
  const as = sasl ? `${sasl.username} (SASL ${sasl.mechanism.toUpperCase()})` : "no SASL";
  console.log(`connected as ${as}: consumer group ${client.groupId}, topic prefix "${client.config.topicPrefix}"`);
  try {
    await story(client);
  } finally {
    await client.close();
  }
  expect(client.violations.length === 0, "every received envelope to match the contracts", client.violations);
  console.log(`every one of the ${client.received} records received matched its schema`);
  console.log("seed story: OK");
}

/** @param {StoreCreditClient} client */
async function story(client) {
  // 1. The admin issues the credit, naming a reply key: the new code comes back sealed to it.
  const replyKey = client.replyKey();
  const created = await client.command(
    "CreateStoreCredit",
    ADMIN,
    {
      store_credit_id: storeCreditId,
      name: "Store credit for the JS client",
      amount: AMOUNT,
      currency: "USD",
      customer_id: customerId,
      reason: "goodwill",
      reply_public_key: replyKey.publicKeyHex,
    },
  );
  const produced = accepted(created, "CreateStoreCredit");
  expect(typeof produced.sealed_code === "string", "a sealed_code in the result", produced);
  const code = replyKey.open(produced.sealed_code);
  expect(/^\d{16}$/.test(code), "a generated code of 16 digits", code.length);
  step("admin creates a store credit", `${storeCreditId}, ${AMOUNT} USD, code ******${code.slice(-4)} opened from its sealed_code`);

  // 2. Its balance shows once the ledger has credited it (until then the list says null,
  //    though an ApplyStoreCredit would already be offered the initial amount): ask until it is.
  let view;
  for (const deadline = Date.now() + 60_000; ; ) {
    const reply = await client.query(
      "ListCustomerStoreCredits",
      ADMIN,
      { customer_id: customerId, currency: "USD" },
    );
    expect(reply.type === "CustomerStoreCredits", "CustomerStoreCredits", reply.payload);
    view = reply.payload.store_credits.find((/** @type {any} */ c) => c.store_credit_id === storeCreditId);
    if (view && view.available === AMOUNT) break;
    expect(Date.now() < deadline, "the credit's balance within 60 s", view);
    await new Promise((r) => setTimeout(r, 300));
  }
  expect(view.usable === true, "the credit usable", view);
  step("the credit's balance is in the ledger", `ListCustomerStoreCredits: available ${view.available}, usable`);

  // 3. The customer opens a cart; the shop adds the tickets and sets the shipping.
  accepted(
    await client.command("CreateOrder", CUSTOMER, {
      order_id: orderId,
      customer_id: customerId,
      currency: "USD",
      number: `js-${run}`,
    }),
    "CreateOrder",
  );
  step("CreateOrder by the customer", orderId);
  accepted(
    await client.command("AddProductLineItem", SHOP, {
      order_id: orderId,
      line_item_id: "tickets",
      sku: "T6060",
      name: "Disney Base Tickets | 4 Day Base Ticket | Adult",
      unit_price: 1500,
      quantity: 2,
    }),
    "AddProductLineItem",
  );
  step("AddProductLineItem by service:shop", "2 tickets at 1500");
  accepted(
    await client.command("SetOrderCharges", SHOP, {
      order_id: orderId,
      shipping: 2495,
      shipping_description: "FedEx International (Canada Only)",
    }),
    "SetOrderCharges",
  );
  step("SetOrderCharges by service:shop", "shipping 2495");

  // 4. The customer applies the credit by its code, sealed as the customer sends it.
  const applied = accepted(
    await client.command("ApplyStoreCredit", CUSTOMER, {
      order_id: orderId,
      application_id: "by-code",
      sealed_code: client.seal(code, CUSTOMER),
    }),
    "ApplyStoreCredit",
  );
  expect(applied.status === "requested", "the application requested", applied);
  step("ApplyStoreCredit by the customer with the sealed code", `requested ${applied.requested}`);

  // 5. The Order event says how it went: held (or refused, with a code).
  const order = await client.event(
    "order.events",
    "Order",
    (o) =>
      o.order_id === orderId &&
      o.applied_credits.some(
        (/** @type {any} */ c) => c.application_id === "by-code" && !["requested", "holding"].includes(c.status),
      ),
    60_000,
  );
  const credit = order.payload.applied_credits.find((/** @type {any} */ c) => c.application_id === "by-code");
  expect(credit.status === "held", "the applied credit held", credit);
  expect(credit.held === AMOUNT, `a hold of ${AMOUNT}`, credit.held);
  expect(credit.code === `******${code.slice(-4)}`, "the code masked in the event", credit.code);
  step("Order event on order.events: the applied credit is held", `held ${credit.held}, code ${credit.code}`);

  // 6. GetOrder: nothing is due.
  const found = await client.query("GetOrder", CUSTOMER, { order_id: orderId });
  expect(found.type === "OrderFound", "OrderFound", found.payload);
  const totals = found.payload.order.totals;
  expect(totals.total === AMOUNT, `a total of ${AMOUNT}`, totals);
  expect(totals.store_credit_applied === AMOUNT, `store credit applied ${AMOUNT}`, totals);
  expect(totals.amount_due === 0, "amount_due 0", totals);
  step("GetOrder query on order.queries", `total ${totals.total}, store credit ${totals.store_credit_applied}, amount_due ${totals.amount_due}`);

  // 7. Checkout with store credit only; OrderCheckedOut follows once the hold is bound.
  const checkout = accepted(
    await client.command("CheckoutOrder", CUSTOMER, { order_id: orderId }, { retryWhileRetryableMs: 30_000 }),
    "CheckoutOrder",
  );
  expect(checkout.amount_due === 0 && checkout.store_credit_applied === AMOUNT, "checkout paid by the credit", checkout);
  step("CheckoutOrder by the customer", `status ${checkout.status}`);
  const checkedOut = await client.event("order.events", "OrderCheckedOut", (o) => o.order_id === orderId, 60_000);
  const holds = checkedOut.payload.holds;
  expect(holds.length === 1 && holds[0].capture === -AMOUNT, `one hold to capture ${-AMOUNT}`, holds);
  expect(checkedOut.payload.totals.amount_due === 0, "nothing due", checkedOut.payload.totals);
  step("OrderCheckedOut on order.events", `capture ${holds[0].capture} of ${holds[0].store_credit_id}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`seed story FAILED at step ${stepNumber + 1}: ${error instanceof Error ? error.stack : error}`);
    process.exit(1);
  },
);
