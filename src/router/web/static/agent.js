// The agent desktop: state buttons, offers to accept or reject, contacts to complete.
// The stream sends "agent" snapshots (authoritative), plus "offer" and "revoked" at once;
// actions go through the REST API with the agent's bearer token.
import { api, el, formatSeconds, serverNow, signInAndStream } from "./common.js";

const OUTCOMES = ["resolved", "follow-up", "not resolved", "escalated"];

let token = null;
let agentId = null;
const offers = new Map(); // offer id → {data, node}
const contacts = new Map(); // contact id → node (assigned)
const wrapups = new Map(); // contact id → {until, node}
const announced = new Set();
let focusContact = null;

const $ = (id) => document.getElementById(id);

function announce(text) {
  // re-set even the same text, so screen readers speak it again
  $("announce").textContent = "";
  setTimeout(() => { $("announce").textContent = text; }, 50);
}

function problem(text) {
  $("problem").textContent = text || "";
}

function customerName(contact) {
  const c = contact.customer || {};
  return c.name || c.email || c.phone || "Unknown customer";
}

function firstLines(text, lines = 3, chars = 280) {
  if (!text) return "";
  const cut = text.split(/\r?\n/).filter((l) => l.trim()).slice(0, lines).join("\n");
  return cut.length > chars ? `${cut.slice(0, chars - 1)}…` : cut;
}

function historyList(entries) {
  if (!entries?.length) return el("p", { class: "meta" }, "No earlier contacts.");
  return el("ul", { class: "history", "aria-label": "Recent contacts" },
    ...entries.map((h) => el("li", {},
      el("span", { class: "channel" }, h.channel),
      h.subject || "(no subject)", " ",
      el("span", { class: "when" },
        `· ${new Date(h.at * 1000).toLocaleString()} · ${h.outcome || h.state}`))));
}

function customerBlock(contact, history) {
  const c = contact.customer || {};
  const tier = c.tier && c.tier !== "standard" ? el("span", { class: "channel" }, c.tier) : null;
  return [
    contact.subject ? el("p", { class: "subject" }, contact.subject) : null,
    contact.body ? el("p", { class: "body" }, firstLines(contact.body)) : null,
    el("p", { class: "meta" }, tier, [c.email, c.phone].filter(Boolean).join(" · ")),
    el("h4", { class: "visually-hidden" }, "Recent contacts"),
    historyList(history),
  ];
}

// ------------------------------------------------------------------ offers
function addOffer(data) {
  if (offers.has(data.offer_id)) return;
  const contact = data.contact;
  const name = customerName(contact);
  const titleId = `offer-${data.offer_id}-title`;
  const accept = el("button", { type: "button", class: "primary", dataset: { action: "accept" } }, "Accept");
  const reject = el("button", { type: "button", dataset: { action: "reject" } }, "Reject");
  const remaining = el("span", { class: "remaining", dataset: { field: "remaining" } });
  const node = el("article", { class: "card offer", dataset: { offerId: data.offer_id }, "aria-labelledby": titleId },
    el("header", {},
      el("h3", { id: titleId }, el("span", { class: "channel" }, contact.channel), name),
      remaining),
    el("p", { class: "meta" }, `Queue ${data.queue}`),
    ...customerBlock(contact, data.customer_history),
    el("div", { class: "actions" }, accept, reject));
  accept.addEventListener("click", () => answer(data, true, node));
  reject.addEventListener("click", () => answer(data, false, node));
  offers.set(data.offer_id, { data, node, remaining });
  $("offers").append(node);
  if (!announced.has(data.offer_id)) {
    announced.add(data.offer_id);
    announce(`New ${contact.channel} offer from ${name}, ${formatSeconds(data.expires_at - serverNow())} to answer.`);
  }
  tick();
  counts();
}

function removeOffer(offerId) {
  const found = offers.get(offerId);
  if (!found) return;
  const hadFocus = found.node.contains(document.activeElement);
  found.node.remove();
  offers.delete(offerId);
  if (hadFocus && focusContact === null) $("offers-title").focus();
  counts();
}

async function answer(data, accept, node) {
  for (const button of node.querySelectorAll("button")) button.disabled = true;
  problem("");
  try {
    if (accept) focusContact = data.contact.id;
    await api(token, "POST", `/v1/offers/${encodeURIComponent(data.offer_id)}/${accept ? "accept" : "reject"}`);
    removeOffer(data.offer_id);
  } catch (error) {
    focusContact = null;
    problem(`Could not ${accept ? "accept" : "reject"} the offer: ${error.message}`);
    removeOffer(data.offer_id); // gone (409) or refused: the next snapshot says what is true
  }
}

// ---------------------------------------------------------------- contacts
function contactCard(c) {
  const contact = c.contact;
  const titleId = `contact-${c.id}-title`;
  const outcome = el("select", { name: "outcome" }, ...OUTCOMES.map((o) => el("option", { value: o }, o)));
  const csat = el("select", { name: "csat" }, el("option", { value: "" }, "—"),
    ...[1, 2, 3, 4, 5].map((n) => el("option", { value: n }, String(n))));
  const complete = el("button", { type: "button", class: "primary", dataset: { action: "complete" } }, "Complete");
  const node = el("article", { class: "card", dataset: { contactId: c.id }, "aria-labelledby": titleId },
    el("header", {},
      el("h3", { id: titleId }, el("span", { class: "channel" }, c.channel), customerName(contact)),
      el("span", { class: "meta" }, c.answered_at ? `since ${new Date(c.answered_at * 1000).toLocaleTimeString()}` : "")),
    el("p", { class: "meta" }, `Queue ${c.queue}`),
    ...customerBlock(contact, c.customer_history),
    el("div", { class: "actions" },
      el("label", {}, "Outcome", outcome),
      el("label", {}, "CSAT (optional)", csat),
      complete));
  complete.addEventListener("click", async () => {
    complete.disabled = true;
    problem("");
    const body = { outcome: outcome.value };
    if (csat.value) body.csat = Number(csat.value);
    try {
      await api(token, "POST", `/v1/contacts/${encodeURIComponent(c.id)}/complete`, body);
      node.remove();
      contacts.delete(c.id);
      $("contacts-title").focus();
      counts();
    } catch (error) {
      complete.disabled = false;
      problem(`Could not complete: ${error.message}`);
    }
  });
  return node;
}

function renderAgent(agent) {
  if (!agent) {
    problem("The router does not know this agent (yet).");
    return;
  }
  $("agent-name").textContent = agent.name || agent.id;
  showState(agent.state);
  const offerIds = new Set(agent.offers.map((o) => o.offer_id));
  for (const id of [...offers.keys()]) if (!offerIds.has(id)) removeOffer(id);
  for (const offer of agent.offers) addOffer(offer);

  const assigned = new Set();
  const inWrapup = new Set();
  for (const c of agent.contacts) {
    if (c.state === "wrapup") {
      inWrapup.add(c.id);
      if (!wrapups.has(c.id)) {
        const left = el("span", { class: "remaining", dataset: { field: "wrapup" } });
        const node = el("li", { dataset: { wrapupId: c.id } },
          el("span", { class: "channel" }, c.channel), `${customerName(c.contact)} — wrap-up `, left, " left");
        wrapups.set(c.id, { until: c.wrapup_until, node, left });
        $("wrapups").append(node);
      }
    } else {
      assigned.add(c.id);
      if (!contacts.has(c.id)) {
        const node = contactCard(c);
        contacts.set(c.id, node);
        $("contacts").append(node);
        if (focusContact === c.id) {
          focusContact = null;
          node.querySelector("select[name=outcome]").focus();
        }
      }
    }
  }
  for (const [id, node] of [...contacts]) {
    if (!assigned.has(id)) {
      node.remove();
      contacts.delete(id);
    }
  }
  for (const [id, w] of [...wrapups]) {
    if (!inWrapup.has(id)) {
      w.node.remove();
      wrapups.delete(id);
    }
  }
  counts();
  tick();
}

function showState(state) {
  $("agent-state").textContent = state;
  for (const button of document.querySelectorAll(".states button")) {
    button.setAttribute("aria-pressed", String(button.dataset.action === state));
  }
}

function counts() {
  $("offer-count").textContent = offers.size ? `(${offers.size})` : "";
  $("no-offers").hidden = offers.size > 0;
  $("no-contacts").hidden = contacts.size > 0;
  $("wrapup-title").hidden = wrapups.size === 0;
}

function tick() {
  const now = serverNow();
  for (const { data, remaining } of offers.values()) {
    const left = data.expires_at - now;
    remaining.textContent = `${formatSeconds(left)} left`;
    remaining.classList.toggle("urgent", left < 6);
  }
  for (const w of wrapups.values()) w.left.textContent = formatSeconds((w.until ?? now) - now);
}
setInterval(tick, 250);

for (const button of document.querySelectorAll(".states button")) {
  button.addEventListener("click", async () => {
    problem("");
    try {
      const agent = await api(token, "POST", `/v1/agents/${encodeURIComponent(agentId)}/state`,
        { state: button.dataset.action });
      showState(agent.state);
    } catch (error) {
      problem(`Could not change state: ${error.message}`);
    }
  });
}
$("offers-title").tabIndex = -1;
$("contacts-title").tabIndex = -1;

function reset() {
  for (const id of [...offers.keys()]) removeOffer(id);
  for (const node of contacts.values()) node.remove();
  for (const w of wrapups.values()) w.node.remove();
  contacts.clear();
  wrapups.clear();
  counts();
}

signInAndStream({
  view: "agent",
  onStatus(text, ok) {
    $("status").textContent = text;
    $("status").classList.toggle("down", !ok);
  },
  onSignedIn(hello, signedToken) {
    token = signedToken;
    agentId = hello.agent_id;
    problem("");
  },
  onSignedOut() {
    token = null;
    agentId = null;
    reset();
  },
  onMessage(message) {
    if (message.type === "agent") renderAgent(message.agent);
    else if (message.type === "offer") addOffer(message);
    else if (message.type === "revoked") {
      if (offers.has(message.offer_id)) announce(`Offer withdrawn: ${message.reason}.`);
      removeOffer(message.offer_id);
    }
  },
});
counts();
