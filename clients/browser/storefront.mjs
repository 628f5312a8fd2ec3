// The example storefront page's behaviour (storefront.html): everything goes through the
// gateway as the signed-in customer; the services decide what they may do.
import { Gateway, Problem } from "./storecredit-http.mjs";

const $ = (id) => document.getElementById(id);
const state = { gateway: null, token: null, customer: null, account: null, order: null };
let stopFollowing = () => {};

function say(text, kind = "ok") {
  $("message").textContent = text;
  $("message").dataset.kind = kind;
}

function refused(error) {
  // A refusal's sentence for the customer, its code for the shop's support.
  if (error instanceof Problem) say(`${error.title} (${error.code}: ${error.detail})`, "error");
  else say(`Could not reach the shop: ${error.message}`, "error");
}

function subjectOf(token) {
  // Only to show whose cart it is: the gateway verifies the token, the page does not.
  const payload = token.split(".")[1] || "";
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(json).sub;
}

function showBalance(balance) {
  $("balance").textContent = balance.balance;
  $("available").textContent = balance.available;
  $("holds").textContent = balance.holds;
  $("balance").dataset.version = balance.version;
}

function showOrder(order) {
  $("order-status").textContent = order.status;
  $("amount-due").textContent = (order.totals.amount_due / 100).toFixed(2);
}

async function act(button, work) {
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    refused(error);
  } finally {
    button.disabled = false;
  }
}

$("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  act($("signin-button"), async () => {
    state.token = $("token").value.trim();
    state.customer = subjectOf(state.token);
    state.account = $("account").value.trim();
    state.gateway = new Gateway($("gateway").value, { token: () => state.token });
    const path = `/v1/accounts/${encodeURIComponent(state.account)}`;
    showBalance(await state.gateway.get(`${path}/balance`));
    stopFollowing();
    stopFollowing = state.gateway.follow(`${path}/balance/stream`, showBalance, refused);
    $("wallet").hidden = false;
    $("cart").hidden = false;
    say(`Signed in as ${state.customer}.`);
  });
});

$("start-cart").addEventListener("click", () => {
  act($("start-cart"), async () => {
    const orderId = `order-${crypto.randomUUID()}`;
    const body = { order_id: orderId, customer_id: state.customer, currency: "USD" };
    await state.gateway.post("/v1/orders", body);
    state.order = orderId;
    $("order-id").textContent = orderId;
    await refreshCart();
    say("Your cart is open.");
  });
});

async function refreshCart() {
  const found = await state.gateway.get(`/v1/orders/${encodeURIComponent(state.order)}`);
  showOrder(found.order);
  return found.order;
}

$("refresh-cart").addEventListener("click", () => act($("refresh-cart"), refreshCart));

$("use-points").addEventListener("submit", (event) => {
  event.preventDefault();
  act($("use-points-button"), async () => {
    const points = Number.parseInt($("points").value, 10);
    const transactionId = `spend-${crypto.randomUUID()}`;
    const account = encodeURIComponent(state.account);
    // A pending spend holds the points; the cart's point line item targets it.
    await state.gateway.post(`/v1/accounts/${account}/transactions`, {
      transaction_id: transactionId,
      amount: -points,
      kind: "spend",
      status: "pending",
    });
    await state.gateway.post(`/v1/orders/${encodeURIComponent(state.order)}/line-items/point-spends`, {
      line_item_id: `points-${transactionId}`,
      transaction_id: transactionId,
    });
    await refreshCart();
    say(`${points} points are paying for your cart.`);
  });
});

$("checkout").addEventListener("click", () => {
  act($("checkout"), async () => {
    await state.gateway.post(`/v1/orders/${encodeURIComponent(state.order)}/checkout`, {});
    say("Placing your order…");
    // The checkout is accepted at once and completes as its holds are confirmed.
    let order = await refreshCart();
    for (let waited = 0; order.status === "checking_out" && waited < 60_000; waited += 500) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      order = await refreshCart();
    }
    if (order.status === "checked_out") say("Thank you: your order is placed.");
    else say(`Your order could not be placed (${order.status}).`, "error");
  });
});
