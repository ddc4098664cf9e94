// The last hour of a queue as inline SVG: one bar per minute (contacts offered) and a
// line of that minute's service level, against the target as a dashed line.

const NS = "http://www.w3.org/2000/svg";
const W = 240;
const H = 60;
const MINUTES = 60;

function svg(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/** Replace the chart inside `holder` with the buckets of the last hour (oldest first). */
export function drawChart(holder, buckets, target, nowMinute) {
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  const start = nowMinute - (MINUTES - 1) * 60;
  const slot = W / MINUTES;
  const top = Math.max(1, ...buckets.map((b) => b.offered));
  const points = [];
  let total = 0;
  for (const bucket of buckets) {
    const index = Math.round((bucket.minute - start) / 60);
    if (index < 0 || index >= MINUTES) continue;
    total += bucket.offered;
    const height = (bucket.offered / top) * (H - 4);
    if (height > 0) {
      chart.append(svg("rect", {
        x: (index * slot + 0.5).toFixed(1), y: (H - height).toFixed(1),
        width: Math.max(1, slot - 1).toFixed(1), height: height.toFixed(1), class: "bar",
      }));
    }
    if (bucket.service_level !== null) {
      points.push(`${(index * slot + slot / 2).toFixed(1)},${(H - 2 - bucket.service_level * (H - 4)).toFixed(1)}`);
    }
  }
  const targetY = (H - 2 - target * (H - 4)).toFixed(1);
  chart.append(svg("line", { x1: 0, x2: W, y1: targetY, y2: targetY, class: "target" }));
  if (points.length > 1) chart.append(svg("polyline", { points: points.join(" "), class: "level" }));
  else if (points.length === 1) {
    const [x, y] = points[0].split(",");
    chart.append(svg("circle", { cx: x, cy: y, r: 2.5, class: "dot" }));
  }
  const title = svg("title", {});
  title.textContent = `${total} contacts in the last hour`;
  chart.prepend(title);
  chart.setAttribute("aria-label", title.textContent);
  holder.replaceChildren(chart);
}
