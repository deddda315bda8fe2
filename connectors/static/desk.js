// The desk page: talks only to this gateway's /api (no external resource).
// Every value is inserted with textContent, never as HTML.
"use strict";

const state = { token: null, user: null, country: null, tab: "notices", selected: null,
                records: new Map(), timer: null };

const $ = (id) => document.getElementById(id);

function el(tag, opts = {}, ...children) {
  const node = document.createElement(tag);
  if (opts.cls) node.className = opts.cls;
  if (opts.text !== undefined) node.textContent = opts.text;
  if (opts.lang) node.lang = opts.lang;
  if (opts.data) for (const [k, v] of Object.entries(opts.data)) node.dataset[k] = v;
  for (const c of children) if (c) node.append(c);
  return node;
}

function when(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers,
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = (data && data.error) || { reason: "HTTP_" + resp.status, detail: resp.statusText };
    if (resp.status === 401 && path !== "/api/login") logout(err.detail);
    throw err;
  }
  return data;
}

function say(text) { $("message").textContent = text; }

async function login(ev) {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    const s = await api("POST", "/api/login",
                        { user: $("login-user").value, password: $("login-password").value });
    state.token = s.token; state.user = s.user; state.country = s.country;
    sessionStorage.setItem("trm-session", JSON.stringify(s));
    enter();
  } catch (err) {
    $("login-error").textContent = err.reason + ": " + err.detail;
  }
}

function logout(why) {
  if (state.token) fetch("/api/logout", { method: "POST",
                                         headers: { "Authorization": "Bearer " + state.token } });
  state.token = null;
  sessionStorage.removeItem("trm-session");
  clearInterval(state.timer);
  $("desk-view").hidden = true; $("login-view").hidden = false; $("whoami").hidden = true;
  if (typeof why === "string") $("login-error").textContent = why;
}

function enter() {
  $("login-view").hidden = true; $("desk-view").hidden = false; $("whoami").hidden = false;
  $("desk-user").textContent = state.user;
  $("desk-country").textContent = "— " + state.country;
  refresh();
  state.timer = setInterval(refresh, 3000);
}

function showTab(name) {
  state.tab = name;
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === name);
  for (const p of document.querySelectorAll(".pane")) p.hidden = p.id !== "pane-" + name;
  $("detail").hidden = !(name === "notices" || name === "alerts") || !state.selected;
}

function statusBadge(rec) {
  if (rec.overdue) return el("span", { cls: "badge overdue", text: "OVERDUE" });
  if (rec.status === "AWAITING_ACK") return el("span", { cls: "badge", text: "awaiting acknowledgement" });
  if (rec.status === "NEW") return el("span", { cls: "badge", text: "new" });
  return el("span", { cls: "badge done", text: rec.status.toLowerCase().replace("_", " ") });
}

function firstName(names) {
  if (!Array.isArray(names) || !names.length) return null;
  return names[0];
}

function nameCell(rec, key) {
  const td = el("td");
  if (rec.withheld.includes(key)) { td.append(el("span", { cls: "badge withheld", text: "withheld" })); return td; }
  const n = firstName(rec.fields[key]);
  if (n) td.append(el("span", { cls: "name", text: n.full_name, lang: n.lang }));
  return td;
}

function fieldText(rec, key, pick) {
  if (rec.withheld.includes(key)) return el("span", { cls: "badge withheld", text: "withheld" });
  const v = rec.fields[key];
  if (v === undefined || v === null) return null;
  return document.createTextNode(pick ? pick(v) : String(v));
}

function renderNotices(events) {
  const body = $("notices-table").querySelector("tbody");
  body.replaceChildren();
  for (const rec of events) {
    const tr = el("tr", { cls: rec.overdue ? "overdue" : "", data: { eventId: rec.event_id, testid: "notice-row" } });
    if (rec.event_id === state.selected) tr.classList.add("selected");
    tr.append(el("td", {}, statusBadge(rec)), el("td", { cls: "when", text: when(rec.due_at_ms) }), nameCell(rec, "names"),
              el("td", {}, fieldText(rec, "checkpoint", (c) => c.name)),
              el("td", { cls: "when" }, fieldText(rec, "planned_at", when)),
              el("td", { text: rec.from }), el("td", { text: rec.case_key }));
    tr.addEventListener("click", () => select(rec.event_id));
    body.append(tr);
  }
  $("notices-empty").hidden = events.length > 0;
}

function renderAlerts(events) {
  const body = $("alerts-table").querySelector("tbody");
  body.replaceChildren();
  for (const rec of events) {
    const tr = el("tr", { data: { eventId: rec.event_id, testid: "alert-row" } });
    tr.append(el("td", {}, fieldText(rec, "urgency")), el("td", {}, fieldText(rec, "kind")),
              nameCell(rec, "subject_names"), el("td", {}, fieldText(rec, "network_name")),
              el("td", { text: rec.from }), el("td", { text: when(rec.created_at_ms) }));
    tr.addEventListener("click", () => select(rec.event_id));
    body.append(tr);
  }
  $("alerts-empty").hidden = events.length > 0;
}

// The hub's refusals of a sent notice: who refused it, why (the reason code
// and its detail). A notice refused for every recipient is not awaited.
function refusals(s) {
  const ul = el("ul", { cls: "refusals" });
  for (const r of s.refused || []) {
    ul.append(el("li", { data: { testid: "refusal" } },
                 el("strong", { text: (r.recipient || "all recipients") + ": " + r.reason }),
                 document.createTextNode(r.detail ? " — " + r.detail : "")));
  }
  return ul;
}

function renderSent(sent) {
  const body = $("sent-table").querySelector("tbody");
  body.replaceChildren();
  for (const s of sent) {
    const cls = s.overdue ? "overdue" : s.status === "REFUSED" ? "refused" : "";
    const tr = el("tr", { cls, data: { eventId: s.event_id, testid: "sent-row" } });
    const badge = s.status === "REFUSED" ? el("span", { cls: "badge refused", text: "refused by the hub" })
                                         : statusBadge(s);
    tr.append(el("td", {}, badge), el("td", { text: s.status === "REFUSED" ? "" : when(s.due_at_ms) }),
              el("td", { text: (s.to || []).join(", ") }), el("td", { text: s.case_key }),
              el("td", { text: when(s.created_at_ms) }), el("td", {}, refusals(s)));
    body.append(tr);
  }
}

function renderOverdue(alerts) {
  const list = $("overdue-list");
  list.replaceChildren();
  for (const a of alerts) {
    list.append(el("li", { data: { testid: "overdue-alert" } },
                   el("strong", { text: "Overdue since " + when(a.due_at_ms) + ": " }),
                   document.createTextNode(a.message + " (case " + a.case_key + ")")));
  }
  $("overdue-empty").hidden = alerts.length > 0;
  const c = $("overdue-count");
  c.textContent = String(alerts.length);
  c.classList.toggle("hot", alerts.length > 0);
}

function renderRejections(rows) {
  const body = $("rejections-table").querySelector("tbody");
  body.replaceChildren();
  for (const r of rows) {
    const by = r.source.startsWith("recipient") ? " (refused by the recipient)" : "";
    body.append(el("tr", {}, el("td", { text: r.reason + by }), el("td", { text: r.recipient }),
                   el("td", { text: r.event_id }), el("td", { text: r.detail })));
  }
}

// Follow-up requests waiting for a person (no identity data in the list):
// approve, or decline with a reason (required; the gateway refuses one without).
function renderFollowups(pending) {
  const body = $("followups-table").querySelector("tbody");
  body.replaceChildren();
  for (const r of pending) {
    const reason = el("input", { cls: "reason", data: { testid: "followup-reason" } });
    reason.placeholder = "Reason (required to decline)";
    reason.maxLength = 500;
    const approveB = el("button", { cls: "approve", text: "Approve", data: { testid: "followup-approve" } });
    const declineB = el("button", { cls: "decline", text: "Decline", data: { testid: "followup-decline" } });
    approveB.type = "button"; declineB.type = "button";
    approveB.addEventListener("click", () => decide(r.event_id, "approve", reason.value));
    declineB.addEventListener("click", () => decide(r.event_id, "decline", reason.value));
    const tr = el("tr", { data: { eventId: r.event_id, testid: "followup-row" } });
    tr.append(el("td", { text: r.from }), el("td", { text: r.purpose || "" }),
              el("td", { text: r.case_ref || "" }), el("td", { text: r.kind || "" }),
              el("td", { cls: "when", text: when(r.requested_at_ms) }),
              el("td", { text: r.reference || "" }),
              el("td", { cls: "decide" }, reason, el("div", { cls: "buttons" }, approveB, declineB)));
    body.append(tr);
  }
  $("followups-empty").hidden = pending.length > 0;
  const c = $("followups-count");
  c.textContent = String(pending.length);
  c.classList.toggle("hot", pending.length > 0);
}

function identityText(identity) {
  const parts = [];
  for (const [k, v] of Object.entries(identity || {})) {
    if (v === null || v === undefined) continue;
    const shown = Array.isArray(v) ? v.map((x) => (typeof x === "object" ? x.number : x)).join(", ") : String(v);
    parts.push(k + ": " + shown);
  }
  return parts.join("; ");
}

function renderAnswers(answers) {
  const body = $("answers-table").querySelector("tbody");
  body.replaceChildren();
  for (const a of answers) {
    const tr = el("tr", { cls: a.requested ? "" : "flagged", data: { eventId: a.event_id, testid: "answer-row" } });
    const decision = a.requested ? (a.decision || "") : "FLAGGED: answers no request of ours";
    tr.append(el("td", { text: a.from }), el("td", { text: decision }), el("td", { text: a.reason || "" }),
              el("td", { text: identityText(a.identity) }), el("td", { text: (a.withheld || []).join(", ") }),
              el("td", { cls: "when", text: when(a.decided_at_ms) }));
    body.append(tr);
  }
  $("answers-empty").hidden = answers.length > 0;
}

async function decide(id, action, reason) {
  const text = (reason || "").trim();
  if (action === "decline" && !text) { say("A reason is required to decline a follow-up."); return; }
  try {
    await api("POST", "/api/match/followups/" + encodeURIComponent(id) + "/" + action,
              text ? { reason: text } : {});
    say(action === "approve" ? "Follow-up approved: the details were sent as the agreement allows."
                             : "Follow-up declined: your reason was sent.");
    await refresh();
  } catch (err) {
    say(err.reason + ": " + err.detail);
  }
}

const TIME_KEYS = /(_at|_since|^valid_from|^valid_until)$/;

function value(key, v) {
  if (v === null || v === undefined) return el("span", { cls: "empty", text: "—" });
  if (Array.isArray(v)) {
    const ul = el("ul");
    for (const item of v) ul.append(el("li", {}, value(key, item)));
    return ul;
  }
  if (typeof v === "object") {
    if ("full_name" in v && "lang" in v) {
      return el("span", {}, el("span", { cls: "name", text: v.full_name, lang: v.lang }),
                el("span", { cls: "lang", text: v.lang }));
    }
    if ("text" in v && "lang" in v && Object.keys(v).length === 2) {
      return el("span", {}, el("span", { text: v.text, lang: v.lang }), el("span", { cls: "lang", text: v.lang }));
    }
    const dl = el("dl");
    for (const [k, sub] of Object.entries(v)) {
      if (sub === null) continue;
      dl.append(el("dt", { text: k }), el("dd", {}, value(k, sub)));
    }
    return dl;
  }
  if (typeof v === "number" && TIME_KEYS.test(key) && v > 1e11) return document.createTextNode(when(v));
  return document.createTextNode(String(v));
}

function renderDetail() {
  const rec = state.records.get(state.selected);
  if (!rec) { $("detail").hidden = true; return; }
  $("detail").hidden = false;
  $("detail-title").textContent = rec.type.replace("_", " ") + " from " + rec.from;
  $("detail-meta").textContent = "event " + rec.event_id + " · sent " + when(rec.created_at_ms) +
    " · agreement " + rec.agreement + " · purpose " + rec.purpose + " · handling " + rec.handling;
  const st = $("detail-status");
  st.replaceChildren(statusBadge(rec));
  if (rec.due_at_ms) st.append(document.createTextNode(" due " + when(rec.due_at_ms)));
  const done = rec.status !== "AWAITING_ACK" && rec.status !== "NEW";
  $("ack-button").disabled = done;
  $("handover-button").disabled = rec.status === "HANDED_OVER";
  $("handover-button").hidden = rec.type !== "handover_notice";
  const dl = $("detail-fields");
  dl.replaceChildren();
  for (const [k, v] of Object.entries(rec.fields)) {
    dl.append(el("dt", { text: k }), el("dd", { data: { field: k } }, value(k, v)));
  }
  const wl = $("detail-withheld");
  wl.replaceChildren();
  for (const k of rec.withheld) {
    wl.append(el("li", { data: { field: k, testid: "withheld-field" } },
                 el("span", { cls: "badge withheld", text: k + ": withheld" })));
  }
}

function select(id) {
  state.selected = id;
  renderDetail();
  for (const tr of document.querySelectorAll("tr[data-event-id]")) {
    tr.classList.toggle("selected", tr.dataset.eventId === id);
  }
}

async function acknowledge(status) {
  const id = state.selected;
  if (!id) return;
  try {
    await api("POST", "/api/inbox/" + encodeURIComponent(id) + "/ack", { status });
    say(status === "HANDED_OVER" ? "Handover recorded and sent to the other desk."
                                 : "Acknowledgement sent.");
    await refresh();
  } catch (err) {
    say(err.reason + ": " + err.detail);
  }
}

async function refresh() {
  if (!state.token) return;
  try {
    const [inbox, alerts, sent, rejections, pending, answers] = await Promise.all([
      api("GET", "/api/inbox"), api("GET", "/api/alerts"), api("GET", "/api/sent"),
      api("GET", "/api/rejections"), api("GET", "/api/match/followups/pending"),
      api("GET", "/api/match/followups/answers")]);
    state.records = new Map(inbox.events.map((r) => [r.event_id, r]));
    renderNotices(inbox.events.filter((r) => r.type === "handover_notice"));
    renderAlerts(inbox.events.filter((r) => r.type === "trafficker_alert"));
    renderSent(sent.sent);
    renderOverdue(alerts.alerts);
    renderRejections(rejections.rejections);
    renderFollowups(pending.pending);
    renderAnswers(answers.answers);
    if (state.selected) renderDetail();
    document.body.dataset.loaded = "1";
  } catch (err) {
    say(err.reason + ": " + err.detail);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout());
  $("ack-button").addEventListener("click", () => acknowledge("RECEIVED"));
  $("handover-button").addEventListener("click", () => acknowledge("HANDED_OVER"));
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  const saved = sessionStorage.getItem("trm-session");
  if (saved) {
    const s = JSON.parse(saved);
    state.token = s.token; state.user = s.user; state.country = s.country;
    enter();
  }
});
