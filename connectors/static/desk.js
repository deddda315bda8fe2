// The desk page: talks only to this gateway's /api (no external resource, no build step).
// Every value is inserted with textContent, never as HTML. Every piece of the page's own
// text is a message of the gettext catalogue (GET /api/i18n/{lang}): t("key"), or a
// data-i18n attribute in index.html. Dates are shown with Intl in the user's language,
// calendar (Gregorian or the Thai Buddhist era) and time zone, the zone named. Which
// payload fields hold codes of a vocabulary (an organisation's kind, a purpose, a
// country, a language tag, a partial date) comes with the catalogue, from the gateway.
"use strict";

const state = { token: null, user: null, country: null, tab: "referrals", selected: null,
                detail: null, caseKey: null, timer: null,
                prefs: { locale: "en", calendar: "gregorian", time_zone: null },
                catalogue: null, languages: [] };

const $ = (id) => document.getElementById(id);

// --- messages -----------------------------------------------------------------------

function t(key, params) {
  const messages = (state.catalogue && state.catalogue.messages) || {};
  let text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
  if (params) text = text.replace(/\{([a-z_][a-z0-9_]*)\}/g, (m, name) =>
    (name in params ? String(params[name]) : m));
  return text;
}

// A label for a code: the catalogue's if it has one, the code itself otherwise
// (a type or value registered after this catalogue was written).
function label(prefix, code) {
  if (code === null || code === undefined || code === "") return "";
  const key = prefix + "." + code;
  return hasMessage(key) ? state.catalogue.messages[key] : String(code);
}

function hasMessage(key) {
  const messages = (state.catalogue && state.catalogue.messages) || {};
  return Object.prototype.hasOwnProperty.call(messages, key);
}

const country = (cc) => label("country", cc);
const countries = (list) => (list || []).map(country).join(", ");
const typeName = (type) => label("type", type);
const reasonText = (code) => (code ? label("reason", code) + " (" + code + ")" : "");

function applyStatic() {
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  document.documentElement.lang = state.catalogue ? state.catalogue.lang : "en";
  document.title = t("app.title");
}

async function loadCatalogue(lang) {
  const resp = await fetch("/api/i18n/" + encodeURIComponent(lang), { headers: { "Accept": "application/json" } });
  if (!resp.ok) throw { reason: "NOT_FOUND", detail: lang };
  state.catalogue = await resp.json();
  applyStatic();
}

// --- dates --------------------------------------------------------------------------

// How much of a date is written: a day, or a date known to its month or year only
// (ISO 8601 lets a date of birth stop there). The keys are the catalogue's CLDR patterns.
const PRECISIONS = { date: { year: "numeric", month: "short", day: "numeric" },
                     year_month: { year: "numeric", month: "short" }, year: { year: "numeric" } };

function dateFormat(withTime, precision, timeZone) {
  const cal = state.prefs.calendar === "buddhist" ? "buddhist" : "gregory";
  const locale = ((state.catalogue && state.catalogue.locale) || "en-GB") + "-u-ca-" + cal;
  const opts = Object.assign({}, PRECISIONS[precision || "date"]);
  if (withTime) Object.assign(opts, { hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  const zone = timeZone || state.prefs.time_zone;
  if (zone) opts.timeZone = zone;
  return new Intl.DateTimeFormat(locale, opts);
}

// Whether this browser's Intl writes dates in the user's language (Chromium's ICU
// data has no Khmer, Lao or Burmese: then the catalogue's CLDR conventions are used).
function intlSpeaks() {
  const locale = (state.catalogue && state.catalogue.locale) || "en-GB";
  return Intl.DateTimeFormat.supportedLocalesOf([locale]).length > 0;
}

// A date written with the catalogue's CLDR patterns (medium date, or year-month or year
// alone; short time); the numbers come from Intl in the user's time zone (or the one
// given), the year in the user's era.
function cldrFormat(ms, withTime, precision, timeZone) {
  const conv = state.catalogue.dates;
  const opts = { year: "numeric", month: "numeric", day: "numeric", hour: "numeric",
                 minute: "numeric", hourCycle: "h23", timeZoneName: "short" };
  const zone = timeZone || state.prefs.time_zone;
  if (zone) opts.timeZone = zone;
  const parts = {};
  for (const p of new Intl.DateTimeFormat("en-US", opts).formatToParts(new Date(ms))) parts[p.type] = p.value;
  const year = Number(parts.year) + (state.prefs.calendar === "buddhist" ? 543 : 0);
  const v = { y: year, M: Number(parts.month), d: Number(parts.day), H: Number(parts.hour) % 24,
              m: Number(parts.minute) };
  const pad = (n) => String(n).padStart(2, "0");
  const token = (tok) => {
    const c = tok[0], n = tok.length;
    if (c === "'") return tok.length > 2 ? tok.slice(1, -1) : "'";
    if (c === "y") return n === 2 ? pad(v.y % 100) : String(v.y);
    if (c === "M" || c === "L") return n >= 3 ? conv.months[v.M - 1] : n === 2 ? pad(v.M) : String(v.M);
    if (c === "d") return n === 2 ? pad(v.d) : String(v.d);
    if (c === "H") return n === 2 ? pad(v.H) : String(v.H);
    if (c === "h") { const h = v.H % 12 || 12; return n === 2 ? pad(h) : String(h); }
    if (c === "m") return pad(v.m);
    if (c === "a") return v.H < 12 ? conv.am : conv.pm;
    if (/[A-Za-z]/.test(c)) return "";
    return tok;
  };
  const fill = (pattern) => pattern.replace(/'[^']*'|([A-Za-z])\1*|[^A-Za-z']+/g, token);
  let out = fill(conv[precision || "date"] || conv.date);
  if (withTime) out = conv.datetime.replace("{1}", out).replace("{0}", fill(conv.time)) + " " + parts.timeZoneName;
  return out.replace(/[0-9]/g, (digit) => conv.digits[Number(digit)]);
}

function when(ms) {
  if (ms === null || ms === undefined) return "";
  if (!intlSpeaks() && state.catalogue && state.catalogue.dates) return cldrFormat(ms, true);
  return dateFormat(true).format(new Date(ms));
}

function day(ms) {
  if (ms === null || ms === undefined) return "";
  if (!intlSpeaks() && state.catalogue && state.catalogue.dates) return cldrFormat(ms, false);
  return dateFormat(false).format(new Date(ms));
}

// A calendar day at 00:00 UTC in milliseconds, or null where there is no such day
// (31 April, 29 February 2027): Date.UTC would roll it into the next month.
function utcDay(y, m, d) {
  const date = new Date(0);
  date.setUTCFullYear(y, m - 1, d);
  const same = date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  return same ? date.getTime() : null;
}

// An ISO 8601 calendar date, possibly partial (YYYY, YYYY-MM, YYYY-MM-DD), written at the
// precision it has, in the user's language and era. A day, not an instant: no time zone
// moves it. null for a string that is no such date (shown as sent).
function isoDateEl(s) {
  const m = /^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$/.exec(s);
  if (!m) return null;
  const ms = utcDay(Number(m[1]), m[2] ? Number(m[2]) : 1, m[3] ? Number(m[3]) : 1);
  if (ms === null) return null;
  const precision = m[3] ? "date" : m[2] ? "year_month" : "year";
  const text = !intlSpeaks() && state.catalogue && state.catalogue.dates
    ? cldrFormat(ms, false, precision, "UTC") : dateFormat(false, precision, "UTC").format(new Date(ms));
  const node = el("time", { cls: "when", text });
  node.dateTime = s;
  return node;
}

function timeEl(ms) {
  const node = el("time", { cls: "when", text: when(ms) });
  if (ms !== null && ms !== undefined) node.dateTime = new Date(ms).toISOString();
  return node;
}

// --- the DOM ------------------------------------------------------------------------

function el(tag, opts = {}, ...children) {
  const node = document.createElement(tag);
  if (opts.cls) node.className = opts.cls;
  if (opts.text !== undefined) node.textContent = opts.text;
  if (opts.lang) node.lang = opts.lang;
  if (opts.data) for (const [k, v] of Object.entries(opts.data)) node.dataset[k] = v;
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const txt = (s) => document.createTextNode(s);

// --- the API ------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers,
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = (data && data.error) || { reason: "HTTP_" + resp.status, detail: resp.statusText };
    if (resp.status === 401 && path !== "/api/login") logout(err);
    throw err;
  }
  return data;
}

// A refusal as the user reads it: the reason's label and code, and the gateway's
// detail (English, marked so).
function errorNodes(err) {
  return [txt(reasonText(err.reason)),
          err.detail ? el("span", { cls: "detail", lang: "en", text: " — " + err.detail }) : null];
}

function say(key, params) { $("message").replaceChildren(txt(t(key, params))); }
function sayError(err) { $("message").replaceChildren(...errorNodes(err).filter(Boolean)); }

// --- preferences and session --------------------------------------------------------

function fillPrefs() {
  const sel = $("pref-locale");
  if (!sel.options.length) {
    for (const l of state.languages) {
      const opt = el("option", { text: l.name, lang: l.lang });
      opt.value = l.lang;
      sel.append(opt);
    }
  }
  sel.value = state.prefs.locale;
  $("pref-calendar").value = state.prefs.calendar;
  const tz = $("pref-tz");
  const zones = ["Asia/Phnom_Penh", "Asia/Shanghai", "Asia/Vientiane", "Asia/Yangon", "Asia/Bangkok",
                 "Asia/Ho_Chi_Minh", "UTC"];
  if (tz.options.length === 1) {
    for (const z of zones) { const o = el("option", { text: z }); o.value = z; tz.append(o); }
  }
  if (state.prefs.time_zone && !zones.includes(state.prefs.time_zone)) {
    const o = el("option", { text: state.prefs.time_zone }); o.value = state.prefs.time_zone; tz.append(o);
  }
  tz.value = state.prefs.time_zone || "";
}

async function changePrefs() {
  const wanted = { locale: $("pref-locale").value, calendar: $("pref-calendar").value,
                   time_zone: $("pref-tz").value || null };
  try {
    if (state.token) {
      const got = await api("PUT", "/api/me/preferences", wanted);
      state.prefs = got.preferences;
      saveSession();
    } else {
      state.prefs = wanted;
      localStorage.setItem("trm-prefs", JSON.stringify(wanted));
    }
    await loadCatalogue(state.prefs.locale);
    fillPrefs();
    if (state.token) { say("msg.prefs_saved"); await refresh(); }
  } catch (err) {
    sayError(err);
  }
}

function saveSession() {
  sessionStorage.setItem("trm-session", JSON.stringify({ token: state.token, user: state.user,
                                                         country: state.country, preferences: state.prefs }));
}

async function login(ev) {
  ev.preventDefault();
  $("login-error").replaceChildren();
  try {
    const s = await api("POST", "/api/login",
                        { user: $("login-user").value, password: $("login-password").value });
    state.token = s.token; state.user = s.user; state.country = s.country;
    state.prefs = s.preferences || state.prefs;
    saveSession();
    await loadCatalogue(state.prefs.locale);
    fillPrefs();
    enter();
  } catch (err) {
    $("login-error").replaceChildren(...errorNodes(err).filter(Boolean));
  }
}

function logout(err) {
  if (state.token) fetch("/api/logout", { method: "POST",
                                         headers: { "Authorization": "Bearer " + state.token } });
  state.token = null;
  sessionStorage.removeItem("trm-session");
  clearInterval(state.timer);
  $("desk-view").hidden = true; $("login-view").hidden = false; $("whoami").hidden = true;
  if (err && err.reason) $("login-error").replaceChildren(...errorNodes(err).filter(Boolean));
}

function enter() {
  $("login-view").hidden = true; $("desk-view").hidden = false; $("whoami").hidden = false;
  $("desk-user").textContent = state.user;
  $("desk-country").textContent = "— " + country(state.country);
  showTab(state.tab);
  refresh();
  state.timer = setInterval(refresh, 3000);
}

function showTab(name) {
  state.tab = name;
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === name);
  for (const p of document.querySelectorAll(".pane")) p.hidden = p.id !== "pane-" + name;
  const withDetail = ["referrals", "notices", "alerts", "sent", "cases"].includes(name);
  $("detail").hidden = !withDetail || !state.detail;
  if (name === "cases") refreshCases();
}

// --- badges and cells ---------------------------------------------------------------

function statusLabel(status) {
  if (["AWAITING_ACK", "NEW", "REFUSED", "SENT"].includes(status)) return t("status." + status);
  return label("enum.AcknowledgementStatus", status);
}

function statusBadge(rec) {
  if (rec.overdue) return el("span", { cls: "badge overdue", text: t("status.OVERDUE") });
  const done = !["AWAITING_ACK", "NEW", "REFUSED", "SENT"].includes(rec.status);
  const cls = rec.status === "REFUSED" || rec.status === "REJECTED" ? "badge refused" : done ? "badge done" : "badge";
  return el("span", { cls, text: statusLabel(rec.status) });
}

function withheldBadge() { return el("span", { cls: "badge withheld", text: t("detail.withheld") }); }

function nameCell(rec, key) {
  const td = el("td");
  if (rec.withheld.includes(key)) { td.append(withheldBadge()); return td; }
  const names = rec.fields[key];
  const n = Array.isArray(names) && names.length ? names[0] : null;
  if (n) td.append(el("span", { cls: "name", text: n.full_name, lang: n.lang }));
  return td;
}

function fieldText(rec, key, pick) {
  if (rec.withheld.includes(key)) return withheldBadge();
  const v = rec.fields[key];
  if (v === undefined || v === null) return null;
  return txt(pick ? pick(v) : String(v));
}

function enumCell(rec, key, enumName) {
  return fieldText(rec, key, (v) => (Array.isArray(v) ? v : [v]).map((s) => label("enum." + enumName, s)).join(", "));
}

function clickable(tr, id) {
  if (id === state.selected) tr.classList.add("selected");
  tr.addEventListener("click", () => select(id));
  return tr;
}

// The refusals of one sent event: who refused it and why (label, code, detail).
function refusals(list) {
  const ul = el("ul", { cls: "refusals" });
  for (const r of list || []) {
    ul.append(el("li", { data: { testid: "refusal" } },
                 el("strong", { text: (r.recipient ? country(r.recipient) : t("refusal.all_recipients")) + ": " +
                                      reasonText(r.reason) }),
                 r.detail ? el("span", { lang: "en", text: " — " + r.detail }) : null));
  }
  return ul;
}

function ackList(acks) {
  const ul = el("ul", { cls: "acks" });
  for (const a of acks || []) {
    ul.append(el("li", { data: { testid: "ack" } },
                 txt(t("ack.line", { country: country(a.country),
                                     status: label("enum.AcknowledgementStatus", a.status),
                                     when: when(a.at_ms) }))));
  }
  return ul;
}

// --- the lists ----------------------------------------------------------------------

function renderReferrals(data) {
  const rb = $("referrals-received-table").querySelector("tbody");
  rb.replaceChildren();
  for (const rec of data.received) {
    const tr = el("tr", { data: { eventId: rec.event_id, testid: "referral-received-row" } });
    tr.append(el("td", {}, statusBadge(rec)), el("td", {}, timeEl(rec.created_at_ms)),
              el("td", { text: country(rec.from) }), nameCell(rec, "names"),
              el("td", {}, enumCell(rec, "exploitation_types", "ExploitationType")),
              el("td", { text: rec.case_key }));
    rb.append(clickable(tr, rec.event_id));
  }
  $("referrals-received-empty").hidden = data.received.length > 0;
  const sb = $("referrals-sent-table").querySelector("tbody");
  sb.replaceChildren();
  for (const s of data.sent) {
    const tr = el("tr", { cls: s.status === "REFUSED" ? "refused" : "",
                          data: { eventId: s.event_id, testid: "referral-sent-row" } });
    tr.append(el("td", {}, statusBadge(s)), el("td", {}, timeEl(s.created_at_ms)),
              el("td", { text: countries(s.to) }), el("td", { text: s.case_key || "" }),
              el("td", {}, ackList(s.acknowledgements)), el("td", {}, refusals(s.refused)));
    sb.append(clickable(tr, s.event_id));
  }
  $("referrals-sent-empty").hidden = data.sent.length > 0;
  const fresh = data.received.filter((r) => r.status === "NEW").length;
  const c = $("referrals-count");
  c.textContent = String(fresh);
  c.classList.toggle("hot", fresh > 0);
}

function renderNotices(events) {
  const body = $("notices-table").querySelector("tbody");
  body.replaceChildren();
  for (const rec of events) {
    const tr = el("tr", { cls: rec.overdue ? "overdue" : "", data: { eventId: rec.event_id, testid: "notice-row" } });
    tr.append(el("td", {}, statusBadge(rec)), el("td", {}, timeEl(rec.due_at_ms)), nameCell(rec, "names"),
              el("td", {}, fieldText(rec, "checkpoint", (c) => c.name)),
              el("td", {}, rec.withheld.includes("planned_at") ? withheldBadge() : timeEl(rec.fields.planned_at)),
              el("td", { text: country(rec.from) }), el("td", { text: rec.case_key }));
    body.append(clickable(tr, rec.event_id));
  }
  $("notices-empty").hidden = events.length > 0;
}

function renderAlerts(events) {
  const body = $("alerts-table").querySelector("tbody");
  body.replaceChildren();
  for (const rec of events) {
    const tr = el("tr", { data: { eventId: rec.event_id, testid: "alert-row" } });
    tr.append(el("td", {}, enumCell(rec, "urgency", "Urgency")), el("td", {}, enumCell(rec, "kind", "AlertKind")),
              nameCell(rec, "subject_names"), el("td", {}, fieldText(rec, "network_name")),
              el("td", { text: country(rec.from) }), el("td", {}, timeEl(rec.created_at_ms)));
    body.append(clickable(tr, rec.event_id));
  }
  $("alerts-empty").hidden = events.length > 0;
}

function renderSent(sent) {
  const body = $("sent-table").querySelector("tbody");
  body.replaceChildren();
  for (const s of sent) {
    const cls = s.overdue ? "overdue" : s.status === "REFUSED" ? "refused" : "";
    const tr = el("tr", { cls, data: { eventId: s.event_id, testid: "sent-row" } });
    const badge = s.status === "REFUSED" ? el("span", { cls: "badge refused", text: t("status.refused_by_hub") })
                                         : statusBadge(s);
    tr.append(el("td", {}, badge), el("td", {}, s.status === "REFUSED" ? null : timeEl(s.due_at_ms)),
              el("td", { text: countries(s.to) }), el("td", { text: s.case_key }),
              el("td", {}, timeEl(s.created_at_ms)), el("td", {}, refusals(s.refused)));
    body.append(clickable(tr, s.event_id));
  }
  $("sent-empty").hidden = sent.length > 0;
}

function renderOverdue(alerts) {
  const list = $("overdue-list");
  list.replaceChildren();
  for (const a of alerts) {
    const key = a.side === "sending" ? "overdue.sending" : "overdue.receiving";
    list.append(el("li", { data: { testid: "overdue-alert", eventId: a.event_id } },
                   el("strong", { text: t("overdue.since", { when: when(a.due_at_ms) }) + " " }),
                   txt(t(key, { type: typeName(a.type || "handover_notice"),
                                country: (a.counterpart || "").split(",").filter(Boolean).map(country).join(", "),
                                case_key: a.case_key || "" }))));
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
    const by = r.source.startsWith("recipient") ? " " + t("rejections.by_recipient") : "";
    body.append(el("tr", {}, el("td", { text: reasonText(r.reason) + by }),
                   el("td", { text: r.recipient ? country(r.recipient) : t("refusal.all_recipients") }),
                   el("td", { text: r.event_id }), el("td", { lang: "en", text: r.detail })));
  }
  $("rejections-empty").hidden = rows.length > 0;
}

// Follow-up requests waiting for a person (no identity data in the list):
// approve, or decline with a reason (required; the gateway refuses one without).
function renderFollowups(pending) {
  const body = $("followups-table").querySelector("tbody");
  body.replaceChildren();
  for (const r of pending) {
    const reason = el("input", { cls: "reason", data: { testid: "followup-reason" } });
    reason.placeholder = t("followups.reason_placeholder");
    reason.maxLength = 500;
    const approveB = el("button", { cls: "approve", text: t("followups.approve"), data: { testid: "followup-approve" } });
    const declineB = el("button", { cls: "decline", text: t("followups.decline"), data: { testid: "followup-decline" } });
    approveB.type = "button"; declineB.type = "button";
    approveB.addEventListener("click", () => decide(r.event_id, "approve", reason.value));
    declineB.addEventListener("click", () => decide(r.event_id, "decline", reason.value));
    const tr = el("tr", { data: { eventId: r.event_id, testid: "followup-row" } });
    tr.append(el("td", { text: country(r.from) }), el("td", { text: label("purpose", r.purpose) }),
              el("td", { text: r.case_ref || "" }), el("td", { text: label("match_kind", r.kind) }),
              el("td", {}, timeEl(r.requested_at_ms)),
              el("td", { text: r.reference || "" }),
              el("td", { cls: "decide" }, reason, el("div", { cls: "buttons" }, approveB, declineB)));
    body.append(tr);
  }
  $("followups-empty").hidden = pending.length > 0;
  const c = $("followups-count");
  c.textContent = String(pending.length);
  c.classList.toggle("hot", pending.length > 0);
}

function identityNodes(identity) {
  const dl = el("dl");
  for (const [k, v] of Object.entries(identity || {})) {
    if (v === null || v === undefined) continue;
    const shown = Array.isArray(v) ? v.map((x) => (typeof x === "object" ? x.number : x)).join(", ") : String(v);
    dl.append(el("dt", { text: label("field", k) }), el("dd", { text: shown }));
  }
  return dl;
}

function renderAnswers(answers) {
  const body = $("answers-table").querySelector("tbody");
  body.replaceChildren();
  for (const a of answers) {
    const tr = el("tr", { cls: a.requested ? "" : "flagged", data: { eventId: a.event_id, testid: "answer-row" } });
    const decision = a.requested ? label("enum.FollowupDecision", a.decision) : t("followups.flagged");
    tr.append(el("td", { text: country(a.from) }), el("td", { text: decision }), el("td", { text: a.reason || "" }),
              el("td", {}, identityNodes(a.identity)),
              el("td", { text: (a.withheld || []).map((f) => label("field", f)).join(", ") }),
              el("td", {}, timeEl(a.decided_at_ms)));
    body.append(tr);
  }
  $("answers-empty").hidden = answers.length > 0;
}

async function decide(id, action, reason) {
  const text = (reason || "").trim();
  if (action === "decline" && !text) { say("followups.reason_required"); return; }
  try {
    await api("POST", "/api/match/followups/" + encodeURIComponent(id) + "/" + action,
              text ? { reason: text } : {});
    say(action === "approve" ? "followups.approved" : "followups.declined");
    await refresh();
  } catch (err) {
    sayError(err);
  }
}

// --- one event, read with its schema -------------------------------------------------

// The name of a language tag or a region code ("language", "region") in the user's
// language, where the browser's Intl speaks it (Chromium's has no Khmer, Lao or
// Burmese); else null, and the code is shown.
function displayName(kind, code) {
  const locale = (state.catalogue && state.catalogue.locale) || "en-GB";
  if (typeof Intl.DisplayNames !== "function" || !Intl.DisplayNames.supportedLocalesOf([locale]).length) return null;
  try {
    const name = new Intl.DisplayNames([locale], { type: kind, fallback: "none" }).of(code);
    return name && name !== code ? name : null;
  } catch (e) {
    return null;  // not a well-formed code
  }
}

// The vocabularies the page writes itself (connectors/gateway/i18n.py PAGE_FORMATS).
const FORMATS = {
  language: (v) => {
    const name = displayName("language", v);
    return name ? el("span", { cls: "enum", data: { code: v }, text: name }) : null;
  },
  date: isoDateEl,
};

// A vocabulary labelled from the catalogue: its message for the value, or null. A
// country the catalogue does not name (it names COMMIT's) is named by Intl if it can.
function labelledNode(prefix, v) {
  if (!prefix) return null;
  let text = hasMessage(prefix + "." + v) ? label(prefix, v) : null;
  if (text === null && prefix === "country" && /^[A-Z]{2}$/.test(v)) text = displayName("region", v);
  if (text === null) return null;
  if (prefix === "country") text += " (" + v + ")";
  return el("span", { cls: "enum", data: { code: v }, text });
}

// A string of a field whose values are codes ("Record.field" in the gateway's table,
// hub/wire/vocab.py): the first of its vocabularies that knows the value, else null
// (an open vocabulary's new value, a role in the producer's words: shown as sent).
function codedNode(where, v) {
  const vocab = (state.catalogue && state.catalogue.vocabularies) || { fields: {}, prefixes: {} };
  for (const name of vocab.fields[where] || []) {
    const node = FORMATS[name] ? FORMATS[name](v) : labelledNode(vocab.prefixes[name], v);
    if (node) return node;
  }
  return null;
}

// "Record.field" of a field of a record type (a named type's name without its namespace).
const fieldKey = (record, field) => String(record).split(".").pop() + "." + field;

// Named Avro types of a schema (records, enums), so that a reference by name resolves.
function namedTypes(type, out) {
  if (Array.isArray(type)) { for (const b of type) namedTypes(b, out); return out; }
  if (type && typeof type === "object") {
    if (type.name && (type.type === "record" || type.type === "enum" || type.type === "fixed")) out[type.name] = type;
    if (type.type === "record") for (const f of type.fields) namedTypes(f.type, out);
    if (type.type === "array") namedTypes(type.items, out);
  }
  return out;
}

// One value of an event, read with its Avro type; "where" is the field's "Record.field".
function valueNode(type, v, named, where) {
  if (v === null || v === undefined) return el("span", { cls: "empty", text: "—" });
  if (Array.isArray(type)) {
    const branches = type.filter((b) => b !== "null");
    return valueNode(branches.length === 1 ? branches[0] : null, v, named, where);
  }
  if (typeof type === "string" && named[type]) type = named[type];
  if (type && typeof type === "object") {
    if (type.type === "enum") return el("span", { cls: "enum", data: { code: v }, text: label("enum." + type.name, v) });
    if (type.type === "array" && Array.isArray(v)) {
      const ul = el("ul", { cls: "values" });
      for (const item of v) ul.append(el("li", {}, valueNode(type.items, item, named, where)));
      return ul;
    }
    if (type.type === "record" && typeof v === "object") {
      if (type.name === "PersonName" || type.name === "LocalizedText") {
        const tag = el("span", { cls: "lang", text: v.lang });
        const name = v.lang ? codedNode(fieldKey(type.name, "lang"), v.lang) : null;
        if (name) { tag.textContent = name.textContent; tag.title = v.lang; tag.dataset.code = v.lang; }
        const shown = type.name === "PersonName" ? el("span", { cls: "name", text: v.full_name, lang: v.lang })
                                                 : el("span", { text: v.text, lang: v.lang });
        return el("span", {}, shown, tag);
      }
      const dl = el("dl");
      for (const f of type.fields) {
        if (v[f.name] === null || v[f.name] === undefined) continue;
        const key = fieldKey(type.name, f.name);
        dl.append(el("dt", { text: label("field", f.name) }),
                  el("dd", { data: { key } }, valueNode(f.type, v[f.name], named, key)));
      }
      return dl;
    }
    if (type.logicalType === "timestamp-millis" && typeof v === "number") return timeEl(v);
    type = type.type;
  }
  if (typeof v === "boolean") return txt(t(v ? "value.yes" : "value.no"));
  if (typeof v === "string") {
    const coded = codedNode(where, v);
    if (coded) return coded;
  }
  if (typeof v === "object") return txt(JSON.stringify(v));
  return txt(String(v));
}

function metaRow(dl, key, node) {
  if (node === null || node === undefined || node === "") return;
  dl.append(el("dt", { text: t(key) }), el("dd", {}, typeof node === "string" ? txt(node) : node));
}

function renderDetail() {
  const rec = state.detail;
  if (!rec) { $("detail").hidden = true; return; }
  $("detail").hidden = false;
  $("detail-title").textContent = t(rec.direction === "sent" ? "detail.title_sent" : "detail.title_received",
                                    { type: typeName(rec.type), country: rec.direction === "sent" ? countries(rec.to)
                                                                                                  : country(rec.from) });
  const meta = $("detail-meta");
  meta.replaceChildren();
  metaRow(meta, "meta.from", country(rec.from));
  metaRow(meta, "meta.to", countries(rec.to));
  metaRow(meta, "meta.sent_at", timeEl(rec.created_at_ms));
  metaRow(meta, "meta.purpose", rec.purpose ? label("purpose", rec.purpose) : "");
  metaRow(meta, "meta.agreement", rec.agreement || "");
  metaRow(meta, "meta.handling", rec.handling ? label("handling", rec.handling) : "");
  metaRow(meta, "meta.case_key", rec.case_key || "");
  metaRow(meta, "meta.event_id", el("code", { text: rec.event_id }));
  metaRow(meta, "meta.digest", rec.event_digest ? el("code", { cls: "digest", text: rec.event_digest }) : "");
  const st = $("detail-status");
  st.replaceChildren(statusBadge(rec));
  if (rec.due_at_ms) st.append(txt(" " + t("detail.due", { when: when(rec.due_at_ms) })));
  const received = rec.direction === "received";
  const done = rec.status !== "AWAITING_ACK" && rec.status !== "NEW";
  $("ack-button").hidden = !received;
  $("ack-button").disabled = done;
  $("accept-button").hidden = !received || rec.type !== "referral";
  $("accept-button").disabled = done;
  $("handover-button").hidden = !received || rec.type !== "handover_notice";
  $("handover-button").disabled = rec.status === "HANDED_OVER";
  $("case-button").hidden = !rec.case_key;
  $("detail-not-kept").hidden = rec.fields_kept !== false;
  const dl = $("detail-fields");
  dl.replaceChildren();
  const schema = rec.schema;
  const named = schema ? namedTypes(schema, {}) : {};
  const order = schema ? schema.fields.map((f) => f.name) : Object.keys(rec.fields);
  const types = schema ? Object.fromEntries(schema.fields.map((f) => [f.name, f.type])) : {};
  for (const k of order) {
    if (!(k in rec.fields) || rec.fields[k] === null) continue;
    dl.append(el("dt", { text: label("field", k) }),
              el("dd", { data: { field: k } },
                 valueNode(types[k] || null, rec.fields[k], named, schema ? fieldKey(schema.name, k) : k)));
  }
  const wl = $("detail-withheld");
  wl.replaceChildren();
  for (const k of rec.withheld) {
    wl.append(el("li", { data: { field: k, testid: "withheld-field" } },
                 el("span", { cls: "badge withheld", text: t("detail.withheld_field", { field: label("field", k) }) })));
  }
  $("detail-acks").replaceChildren(...ackList(rec.acknowledgements).childNodes);
  if (!rec.acknowledgements.length) $("detail-acks").append(el("li", { cls: "empty", text: t("detail.no_acks") }));
  $("detail-refusals").replaceChildren(...refusals(rec.refused).childNodes);
  if (!rec.refused.length) $("detail-refusals").append(el("li", { cls: "empty", text: t("detail.no_refusals") }));
}

async function select(id) {
  state.selected = id;
  for (const tr of document.querySelectorAll("tr[data-event-id]")) {
    tr.classList.toggle("selected", tr.dataset.eventId === id);
  }
  try {
    state.detail = await api("GET", "/api/events/" + encodeURIComponent(id));
    renderDetail();
  } catch (err) {
    sayError(err);
  }
}

async function acknowledge(status) {
  const id = state.selected;
  if (!id) return;
  try {
    await api("POST", "/api/inbox/" + encodeURIComponent(id) + "/ack", { status });
    say(status === "HANDED_OVER" ? "msg.handover_recorded"
        : status === "ACCEPTED" ? "msg.accepted" : "msg.ack_sent");
    await refresh();
  } catch (err) {
    sayError(err);
  }
}

// --- cases (the case book of this node) ----------------------------------------------

function caseStatus(s) { return s ? label("enum.CaseStatus", s) : "—"; }

function renderCases(data) {
  const body = $("cases-table").querySelector("tbody");
  body.replaceChildren();
  for (const c of data.cases) {
    const tr = el("tr", { cls: c.overdue ? "overdue" : "", data: { caseKey: c.case_key, testid: "case-row" } });
    tr.append(el("td", { text: c.case_key }), el("td", {}, el("span", { cls: "badge", text: caseStatus(c.status) })),
              el("td", { text: countries(c.countries) }), el("td", {}, timeEl(c.next_due_ms)),
              el("td", { text: c.next_step_owner ? country(c.next_step_owner) : "" }),
              el("td", {}, timeEl(c.last_event_ms)));
    tr.addEventListener("click", () => openCase(c.case_key));
    if (c.case_key === state.caseKey) tr.classList.add("selected");
    body.append(tr);
  }
  $("cases-empty").hidden = data.cases.length > 0;
  const list = $("cases-overdue-list");
  list.replaceChildren();
  for (const o of data.overdue) {
    list.append(el("li", { data: { testid: "case-overdue", caseKey: o.case_key } },
                   el("strong", { text: t("overdue.since", { when: when(o.due_at_ms) }) + " " }),
                   txt(t("cases.overdue_line", { kind: label("enum.CaseAlertKind", o.kind), case_key: o.case_key,
                                                 owner: country(o.owner) }))));
  }
  $("cases-overdue-empty").hidden = data.overdue.length > 0;
  const c = $("cases-overdue-count");
  c.textContent = String(data.overdue.length);
  c.classList.toggle("hot", data.overdue.length > 0);
  // The form's choices, in the page's language (again when it changes; the choice stays).
  const form = $("status-form");
  const speaks = state.catalogue.lang + "/" + state.prefs.calendar;
  if (form.dataset.speaks !== speaks) {
    form.dataset.speaks = speaks;
    const fill = (select, values, text, none) => {
      const kept = select.value;
      select.replaceChildren();
      if (none !== undefined) { const o = el("option", { text: none }); o.value = ""; select.append(o); }
      for (const v of values) { const o = el("option", { text: text(v) }); o.value = v; select.append(o); }
      if (kept) select.value = kept;
    };
    fill($("status-new"), data.statuses || [], caseStatus);
    fill($("status-reason"), data.transition_reasons || [], (v) => label("enum.TransitionReason", v),
         t("cases.no_reason"));
    fill($("status-owner"), data.countries || [], country, "—");
    // The next due date in the user's language and era (a browser's date input
    // follows the browser's locale, not the user's).
    const thisYear = new Date().getUTCFullYear();
    fill($("status-due-day"), Array.from({ length: 31 }, (_, i) => String(i + 1)), localDigits, "—");
    fill($("status-due-month"), Array.from({ length: 12 }, (_, i) => String(i + 1)),
         (m) => state.catalogue.dates.months[Number(m) - 1], "—");
    fill($("status-due-year"), [-1, 0, 1, 2].map((k) => String(thisYear + k)), yearLabel, "—");
  }
}

// A number in the language's own digits (CLDR's numbering system).
function localDigits(n) {
  const digits = (state.catalogue && state.catalogue.dates && state.catalogue.dates.digits) || "0123456789";
  return String(n).replace(/[0-9]/g, (c) => digits[Number(c)]);
}

// A Gregorian year as the user counts it (the Buddhist era adds 543).
function yearLabel(y) {
  return localDigits(Number(y) + (state.prefs.calendar === "buddhist" ? 543 : 0));
}

async function refreshCases() {
  if (!state.token) return;
  try {
    const [list, overdue] = await Promise.all([api("GET", "/api/cases"), api("GET", "/api/cases/overdue")]);
    renderCases({ ...list, overdue: overdue.overdue });
    if (state.caseKey) await renderCase();
  } catch (err) {
    sayError(err);
  }
}

async function openCase(key) {
  state.caseKey = key;
  showTab("cases");
  await renderCase();
}

async function renderCase() {
  const data = await api("GET", "/api/cases/" + encodeURIComponent(state.caseKey));
  $("case-view").hidden = false;
  $("case-title").textContent = t("cases.timeline_heading", { case_key: data.case_key });
  const ol = $("case-timeline");
  ol.replaceChildren();
  for (const e of data.timeline) {
    const who = e.direction === "sent" ? t("cases.sent_to", { country: countries(e.recipients) })
                                       : t("cases.received_from", { country: country(e.producer) });
    const li = el("li", { cls: "entry " + e.direction, data: { eventId: e.event_id, testid: "timeline-entry" } },
                  timeEl(e.created_at_ms), txt(" "), el("strong", { text: typeName(e.event_type) }), txt(" — " + who));
    if (e.status) {
      const line = e.previous_status
        ? t("cases.status_change", { from: caseStatus(e.previous_status), to: caseStatus(e.status) })
        : t("cases.status_set", { to: caseStatus(e.status) });
      li.append(el("div", { cls: "status-line", data: { testid: "timeline-status" } }, txt(line)));
    }
    if (e.transition_reason) {
      li.append(el("div", { cls: "reason-line" },
                   txt(t("cases.transition_reason", { reason: label("enum.TransitionReason", e.transition_reason) }))));
    }
    if (e.next_due_ms) {
      li.append(el("div", {}, txt(t("cases.next_due_line", { when: day(e.next_due_ms),
                                                           owner: e.next_step_owner ? country(e.next_step_owner) : "—" }))));
    }
    if (e.withheld && e.withheld.length) {
      li.append(el("div", { cls: "withheld-line" },
                   txt(t("cases.withheld_line", { fields: e.withheld.map((f) => label("field", f)).join(", ") }))));
    }
    if (e.acknowledgements && e.acknowledgements.length) {
      li.append(ackList(e.acknowledgements));
    }
    li.addEventListener("click", () => select(e.event_id));
    ol.append(li);
  }
  const to = $("status-to");
  if (!to.value) to.value = data.countries.filter((cc) => cc !== state.country).join(", ");
}

async function submitStatus(ev) {
  ev.preventDefault();
  if (!state.caseKey) return;
  // The picker offers 31 days in every month: a day the month lacks is refused here
  // rather than sent as a day of the next month. A date chosen in part is no date.
  const [y, mo, d] = ["year", "month", "day"].map((part) => $("status-due-" + part).value);
  const due = y && mo && d ? utcDay(Number(y), Number(mo), Number(d)) : null;
  if (y && mo && d && due === null) { say("cases.due_invalid"); return; }
  const body = { status: $("status-new").value,
                 to: $("status-to").value.split(/[\s,]+/).filter(Boolean),
                 transition_reason: $("status-reason").value || null,
                 next_due_ms: due,
                 next_step_owner: $("status-owner").value || null };
  try {
    await api("POST", "/api/cases/" + encodeURIComponent(state.caseKey) + "/status", body);
    say("cases.recorded");
    await refreshCases();
  } catch (err) {
    sayError(err);
  }
}

// --- the loop -----------------------------------------------------------------------

async function refresh() {
  if (!state.token) return;
  try {
    // The selected event is fetched with the lists, so one render shows one state:
    // a row's new status never appears beside a detail that still offers the old action.
    const selected = state.selected;
    const [inbox, alerts, sent, rejections, pending, answers, referrals, detail] = await Promise.all([
      api("GET", "/api/inbox"), api("GET", "/api/alerts"), api("GET", "/api/sent"),
      api("GET", "/api/rejections"), api("GET", "/api/match/followups/pending"),
      api("GET", "/api/match/followups/answers"), api("GET", "/api/referrals"),
      selected ? api("GET", "/api/events/" + encodeURIComponent(selected)) : null]);
    if (selected && selected === state.selected) {
      state.detail = detail;
      renderDetail();
    }
    renderReferrals(referrals);
    renderNotices(inbox.events.filter((r) => r.type === "handover_notice"));
    renderAlerts(inbox.events.filter((r) => r.type === "trafficker_alert"));
    renderSent(sent.sent);
    renderOverdue(alerts.alerts);
    renderRejections(rejections.rejections);
    renderFollowups(pending.pending);
    renderAnswers(answers.answers);
    if (state.tab === "cases") await refreshCases();
    document.body.dataset.loaded = "1";
  } catch (err) {
    sayError(err);
  }
}

async function start() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout());
  $("ack-button").addEventListener("click", () => acknowledge("RECEIVED"));
  $("handover-button").addEventListener("click", () => acknowledge("HANDED_OVER"));
  $("accept-button").addEventListener("click", () => acknowledge("ACCEPTED"));
  $("case-button").addEventListener("click", () => state.detail && openCase(state.detail.case_key));
  $("status-form").addEventListener("submit", submitStatus);
  for (const id of ["pref-locale", "pref-calendar", "pref-tz"]) $(id).addEventListener("change", changePrefs);
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  const listing = await (await fetch("/api/i18n")).json();
  state.languages = listing.languages;
  const saved = sessionStorage.getItem("trm-session");
  const local = localStorage.getItem("trm-prefs");
  if (saved) {
    const s = JSON.parse(saved);
    state.token = s.token; state.user = s.user; state.country = s.country;
    state.prefs = s.preferences || state.prefs;
  } else if (local) {
    state.prefs = JSON.parse(local);
  } else {
    const wanted = (navigator.language || "en").slice(0, 2);
    if (state.languages.some((l) => l.lang === wanted)) state.prefs.locale = wanted;
  }
  await loadCatalogue(state.prefs.locale);
  fillPrefs();
  if (state.token) enter();
}

document.addEventListener("DOMContentLoaded", start);
