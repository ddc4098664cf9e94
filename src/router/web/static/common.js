// What both pages share: sign-in, the live stream, the REST API, the server clock.
// Customer data is untrusted: it only ever reaches the page through textContent.

const STORE_KEY = "router.token";

/** Build an element: el("li", {class: "x", dataset: {offerId: "1"}}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The offset between the router's clock and this browser's: countdowns use the router's. */
let clockOffset = 0;
export function syncClock(serverNow) {
  if (typeof serverNow === "number") clockOffset = serverNow - Date.now() / 1000;
}
export function serverNow() {
  return Date.now() / 1000 + clockOffset;
}

export function formatSeconds(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}:${String(s % 60).padStart(2, "0")}`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}`;
}

/** REST call with the bearer token; resolves to the JSON body, rejects with its message. */
export async function api(token, method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = data?.error?.message || `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return data;
}

const CLOSE_REASONS = {
  4400: "The router did not understand the sign-in.",
  4401: "That token is not valid.",
  4403: "That token may not open this page.",
  4408: "Sign-in took too long.",
};

/**
 * The sign-in form and the stream behind it. `onMessage(msg)` gets every message;
 * `onStatus(text, ok)` the connection state. A refused token shows the form again;
 * anything else reconnects with backoff (the server sends a fresh snapshot each time).
 */
export function signInAndStream({ view, onMessage, onStatus, onSignedIn, onSignedOut }) {
  const form = document.getElementById("signin");
  const input = form.querySelector("input[name=token]");
  const error = document.getElementById("signin-error");
  const app = document.getElementById("app");
  let socket = null;
  let token = null;
  let retry = 0;
  let timer = null;

  function showForm(message) {
    token = null;
    sessionStorage.removeItem(STORE_KEY);
    app.hidden = true;
    form.hidden = false;
    error.textContent = message || "";
    input.focus();
    onSignedOut?.();
  }

  function open() {
    clearTimeout(timer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/v1/stream`);
    socket = ws;
    // the admin may watch one agent's desk: /agent?agent_id=ID
    const watched = new URLSearchParams(location.search).get("agent_id") || undefined;
    ws.addEventListener("open", () => ws.send(JSON.stringify({ token, view, agent_id: watched })));
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      syncClock(message.now);
      if (message.type === "hello") {
        retry = 0;
        sessionStorage.setItem(STORE_KEY, token);
        form.hidden = true;
        app.hidden = false;
        onStatus("live", true);
        onSignedIn?.(message, token);
      }
      onMessage(message);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      if (event.code in CLOSE_REASONS) {
        showForm(event.reason ? `${CLOSE_REASONS[event.code]} (${event.reason})` : CLOSE_REASONS[event.code]);
        return;
      }
      if (token === null) return;
      // 1001 stopping, 1006 network, 1013 starting, 4429 too slow: come back
      const delay = Math.min(30, 2 ** retry) * 500;
      retry += 1;
      onStatus(`reconnecting in ${Math.round(delay / 1000)}s…`, false);
      timer = setTimeout(open, delay);
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      error.textContent = "Enter your token.";
      return;
    }
    token = value;
    input.value = "";
    error.textContent = "";
    open();
  });

  document.getElementById("signout")?.addEventListener("click", () => {
    const ws = socket;
    socket = null;
    ws?.close();
    showForm("Signed out.");
  });

  const kept = sessionStorage.getItem(STORE_KEY);
  if (kept) {
    token = kept;
    open();
  } else {
    input.focus();
  }
}
