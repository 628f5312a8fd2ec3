// A balance over time as a small SVG line chart (no library): drawn with DOM calls.
const SVG = "http://www.w3.org/2000/svg";

/**
 * The balance after each transaction, oldest first, from the balance now and the
 * history newest first: each committed amount is taken back, one at a time.
 */
export function balancesOverTime(balanceNow, newestFirst) {
  const points = [{ at: new Date(), balance: balanceNow }];
  let balance = balanceNow;
  for (const entry of newestFirst) {
    const effect = entry.status === "pending" || entry.status === "voided" ? 0 : entry.committed_amount ?? 0;
    points.push({ at: new Date(entry.committed_at || entry.created_at), balance: balance - effect });
    balance -= effect;
  }
  return points.reverse();
}

function node(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

export function balanceChart(points, width = 640, height = 160) {
  const pad = 28;
  const low = Math.min(0, ...points.map((p) => p.balance));
  const high = Math.max(1, ...points.map((p) => p.balance));
  const x = (i) => pad + (points.length < 2 ? 0 : (i * (width - 2 * pad)) / (points.length - 1));
  const y = (b) => height - pad - ((b - low) * (height - 2 * pad)) / (high - low || 1);
  const last = points[points.length - 1];
  const svg = node("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `Balance over the last ${points.length - 1} transactions, from ${points[0].balance} to ${last.balance}`,
  });
  svg.append(node("polyline", { points: points.map((p, i) => `${x(i)},${y(p.balance)}`).join(" ") }));
  svg.append(node("text", { x: 2, y: y(high) + 4 }, String(high)));
  svg.append(node("text", { x: 2, y: y(low) + 4 }, String(low)));
  points.forEach((p, i) => svg.append(node("circle", { cx: x(i), cy: y(p.balance), r: 2.5 })));
  return svg;
}
