// Signet dashboard: a client of the public REST API (/api/v1) on the same
// origin. No framework and no build step: this file is served as written.
// Untrusted text only ever reaches the page through textContent.
"use strict";

const S = { me: null, csrf: null };

// ---------- DOM helpers ----------
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}
const $ = (id) => document.getElementById(id);
function field(label, input) {
  const id = "f" + Math.random().toString(36).slice(2);
  input.id = id;
  return el("label", { for: id }, label, input);
}
function options(list, value, blank) {
  const s = el("select");
  if (blank !== undefined) s.append(el("option", { value: "" }, blank));
  for (const o of list) {
    const [v, t] = Array.isArray(o) ? o : [o, o];
    s.append(el("option", { value: v, selected: v === value }, t));
  }
  return s;
}
function show(...nodes) {
  const m = $("main");
  m.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
  m.focus();
}
function banner(text, info) {
  const b = $("banner");
  b.hidden = !text;
  b.className = info ? "info" : "";
  b.textContent = text || "";
}
function can(p) { return !!S.me && S.me.permissions.includes(p); }
function days(ts) { return ts ? Math.floor((Date.parse(ts) - Date.now()) / 86400000) : null; }
function status(s) { return el("span", { class: "status " + (s || "") }, s || "–"); }

// ---------- API ----------
class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || "HTTP " + status);
    this.status = status;
    this.code = e.code;
    this.details = e.details || [];
    this.requestId = e.request_id;
  }
  get text() { return this.message + (this.requestId ? " (request " + this.requestId + ")" : ""); }
}

async function call(method, path, body, raw) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && S.csrf) headers["X-CSRF-Token"] = S.csrf;
  const r = await fetch("/api/v1" + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401 && path !== "/sessions") { S.me = null; signIn(); throw new ApiError(401, await r.json().catch(() => null)); }
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null));
  if (raw) return r;
  return r.status === 204 ? null : r.json();
}
const get = (p) => call("GET", p);
const post = (p, b) => call("POST", p, b === undefined ? {} : b);

// Run an action with its button disabled and a progress label; show errors.
async function busy(button, work) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Working…";
  banner("");
  try { return await work(); }
  catch (e) { banner(e.text || String(e)); return undefined; }
  finally { button.disabled = false; button.textContent = label; }
}

async function download(method, path, body, filename) {
  const r = await call(method, path, body, true);
  const url = URL.createObjectURL(await r.blob());
  const a = el("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------- Session ----------
function signIn() {
  $("nav").hidden = true;
  $("who").replaceChildren();
  const token = el("input", { type: "password", autocomplete: "off", required: true });
  const go = el("button", { type: "submit" }, "Sign in");
  const form = el("form", { class: "inline", onsubmit: (ev) => {
    ev.preventDefault();
    busy(go, async () => {
      const me = await post("/sessions", { token: token.value.trim() });
      token.value = "";
      S.me = me; S.csrf = me.csrf_token;
      start();
    });
  } }, field("API token", token), go);
  show(el("h1", {}, "Sign in"),
    el("p", { class: "muted" }, "Paste an API token (signet-data/admin.token, or one from Tokens). It is exchanged for a session cookie and not kept in the browser; the dashboard has exactly that token's permissions."),
    form);
  token.focus();
}

async function signOut() {
  try { await call("DELETE", "/sessions/current"); } catch (_) { /* already gone */ }
  S.me = null; S.csrf = null;
  location.hash = "#/overview";
  signIn();
}

const PAGES = [
  ["overview", "Overview", "certificate:read"],
  ["certificates", "Certificates", "certificate:read"],
  ["request", "Request", "certificate:request"],
  ["approvals", "Approvals", "certificate:approve"],
  ["templates", "Templates", "certificate:read"],
  ["projects", "Projects", "certificate:read"],
  ["cas", "CAs", "ca:read"],
  ["acme", "ACME", "acme:eab"],
  ["scep", "SCEP", "scep:challenge"],
  ["tokens", "Tokens", "token:write"],
  ["audit", "Audit", "audit:read"],
];

function nav(current) {
  const n = $("nav");
  n.hidden = false;
  n.replaceChildren(...PAGES.filter((p) => can(p[2])).map(([id, name]) =>
    el("a", { href: "#/" + id, "aria-current": id === current ? "page" : null }, name)));
  $("who").replaceChildren(
    el("span", {}, S.me.token_name + " (" + S.me.role + (S.me.project_id ? ", project " + S.me.project_id : "") + ")"),
    el("button", { class: "secondary", onclick: signOut }, "Sign out"));
}

async function start() {
  if (!S.me) {
    try { const me = await get("/sessions/current"); S.me = me; S.csrf = me.csrf_token; }
    catch (_) { return; }
  }
  route();
}

async function route() {
  if (!S.me) return signIn();
  const parts = (location.hash || "#/overview").slice(2).split("?")[0].split("/");
  const page = parts[0] || "overview";
  nav(page);
  banner("");
  const pages = { overview, certificates, certificate, request, approvals, templates, template, projects, cas, acme, scep, tokens, audit };
  const fn = page === "certificates" && parts[1] ? certificate : page === "templates" && parts[1] ? template : pages[page];
  try { await (fn || overview)(parts[1]); }
  catch (e) { show(el("h1", {}, "Error"), el("p", { class: "error" }, e.text || String(e))); }
}

// ---------- Overview ----------
async function overview() {
  const s = await get("/stats");
  const card = (n, label, href) => el("div", { class: "card" }, el("div", { class: "n" }, String(n)),
    href ? el("a", { href }, label) : el("div", {}, label));
  const statuses = Object.entries(s.by_status);
  show(el("h1", {}, "Overview"),
    el("div", { class: "cards" },
      card(s.by_status.active || 0, "active", "#/certificates?status=active"),
      card(s.expiring_7d, "expiring within 7 days", "#/certificates?expiring=7"),
      card(s.expiring_30d, "expiring within 30 days", "#/certificates?expiring=30"),
      card(s.pending_approval, "waiting for approval", "#/approvals"),
      card(s.renewal_failed, "failed renewals", "#/certificates?status=renewal_failed")),
    el("h2", {}, "By status"),
    statuses.length ? el("p", {}, statuses.map(([k, v]) => k + ": " + v).join(" · "))
      : el("p", { class: "muted" }, "No certificates yet. Request one, or point an ACME client at the directory."),
    el("h2", {}, "CRLs"),
    table(["CA", "CRL number", "published", "next update", "age"], s.cas.map((c) => [
      c.name, String(c.crl_number), c.crl_this_update || "–", c.crl_next_update || "–",
      c.crl_this_update ? Math.round((Date.now() - Date.parse(c.crl_this_update)) / 60000) + " min" : "–"])));
}

function table(head, rows, empty) {
  if (!rows.length) return el("p", { class: "muted" }, empty || "Nothing here yet.");
  return el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c)))))));
}

// ---------- Certificates ----------
function query() {
  const q = location.hash.split("?")[1] || "";
  return Object.fromEntries(new URLSearchParams(q));
}

async function certificates() {
  const q = query();
  const [tpl, prj] = await Promise.all([get("/templates"), get("/projects")]);
  const cn = el("input", { type: "search", value: q.cn || "" });
  const san = el("input", { type: "search", value: q.san || "" });
  const st = options(["active", "pending_approval", "revoked", "archived", "rejected", "failed", "renewal_failed"], q.status, "any");
  const project = options(prj.items.map((p) => [p.id, p.name]), q.project, "any");
  const template = options(tpl.items.map((t) => [t.id, t.name]), q.template, "any");
  const channel = options(["api", "acme", "scep", "import"], q.channel, "any");
  const expiring = el("input", { type: "number", min: "1", value: q.expiring || "" });
  const sort = options([["created_at", "newest"], ["expires_at", "expiry"], ["common_name", "name"]], q.sort || "created_at");
  const apply = el("button", { type: "submit" }, "Search");
  const form = el("form", { class: "inline", onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, i] of [["cn", cn], ["san", san], ["status", st], ["project", project], ["template", template], ["channel", channel], ["expiring", expiring], ["sort", sort]])
      if (i.value) p.set(k, i.value);
    location.hash = "#/certificates?" + p;
  } }, field("Common name", cn), field("SAN", san), field("Status", st), field("Project", project),
    field("Template", template), field("Channel", channel), field("Expiring within (days)", expiring), field("Sort", sort), apply);
  const api = new URLSearchParams({ limit: "50" });
  const map = { cn: "common_name", san: "san", status: "status", project: "project_id", template: "template_id", channel: "issuer_type", expiring: "expiring_within_days", sort: "sort", cursor: "cursor" };
  for (const [k, v] of Object.entries(q)) if (map[k] && v) api.set(map[k], v);
  if (q.sort === "expires_at" || q.sort === "common_name") api.set("order", "asc");
  const page = await get("/certificates?" + api);
  const rows = page.items.map((c) => [
    el("a", { href: "#/certificates/" + c.id }, c.common_name || c.san[0] || c.id),
    status(c.status), c.expires_on || "–", c.days_until_expiry === null ? "–" : String(c.days_until_expiry),
    c.channel, c.key_type]);
  const more = [];
  if (q.cursor) { const p = new URLSearchParams(q); p.delete("cursor"); more.push(el("a", { href: "#/certificates?" + p }, "First page")); }
  if (page.next_cursor) { const p = new URLSearchParams(q); p.set("cursor", page.next_cursor); more.push(el("a", { href: "#/certificates?" + p }, "Next page")); }
  show(el("h1", {}, "Certificates"), form,
    table(["name", "status", "expires", "days left", "channel", "key"], rows, "No certificate matches. Change the filters, or request one."),
    el("p", { class: "row" }, more));
}

async function certificate(id) {
  const c = await get("/certificates/" + id);
  const items = [["status", status(c.status)], ["subject", c.subject], ["SANs", c.san.join(", ") || "–"],
    ["serial", c.serial_number || "–"], ["valid", (c.not_before || "–") + " → " + (c.not_after || "–")],
    ["days left", c.days_until_expiry === null ? "–" : String(c.days_until_expiry)], ["key", c.key_type + " (" + c.key_source + ")"],
    ["CA", c.ca_id], ["template", c.template_id || "–"], ["project", c.project_id || "–"], ["channel", c.channel],
    ["requested by", c.requested_by], ["approvals", c.approvals_given + " of " + c.approvals_required],
    ["revocation", c.revocation_reason ? c.revocation_reason + " by " + c.revoked_by + " at " + c.revoked_at + (c.revocation_comment ? " (" + c.revocation_comment + ")" : "") : "–"],
    ["renewal", c.renewal_status ? c.renewal_status + (c.next_renewal_at ? ", next " + c.next_renewal_at : "") + (c.last_renew_error ? " — " + c.last_renew_error : "") : (c.auto_renew ? "automatic" : "manual")],
    ["replaces", c.replaces_id ? el("a", { href: "#/certificates/" + c.replaces_id }, c.replaces_id) : "–"],
    ["renewed by", c.renewed_by ? el("a", { href: "#/certificates/" + c.renewed_by }, c.renewed_by) : "–"]];
  const dl = el("dl", {}, items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const name = (c.common_name || c.id).replace(/[^A-Za-z0-9.-]/g, "_");
  const out = [el("h1", {}, c.common_name || c.san[0] || c.id), dl];

  if (c.serial) {
    const pw = el("input", { type: "password", minlength: "8", autocomplete: "new-password" });
    const p12 = el("button", { type: "submit" }, "Download PKCS#12");
    const pem = el("button", { class: "secondary", onclick: (ev) => busy(ev.target, () => download("GET", "/certificates/" + id + "/export?format=pem", undefined, name + ".pem")) }, "Download PEM");
    const chain = el("button", { class: "secondary", onclick: (ev) => busy(ev.target, () => download("GET", "/cas/" + c.ca_id + "/chain", undefined, "chain.pem")) }, "Download chain");
    out.push(el("h2", {}, "Downloads"), el("div", { class: "row" }, pem, chain));
    if (c.key_source !== "external" && can("certificate:write"))
      out.push(el("form", { class: "inline", onsubmit: (ev) => { ev.preventDefault(); busy(p12, () => download("POST", "/certificates/" + id + "/export", { format: "pkcs12", password: pw.value }, name + ".p12")); } },
        field("PKCS#12 password (8+ characters)", pw), p12));
  }

  const actions = [];
  if (c.status === "pending_approval" && can("certificate:approve")) actions.push(decision(id));
  if (c.status === "active" && can("certificate:revoke")) actions.push(revokeForm(id));
  if (c.status === "active" && can("certificate:request"))
    actions.push(el("button", { class: "secondary", onclick: (ev) => busy(ev.target, async () => {
      const n = await post("/certificates/" + id + "/renew");
      location.hash = "#/certificates/" + n.id;
    }) }, "Renew now"));
  if (can("certificate:archive") && c.status !== "issuing")
    actions.push(el("button", { class: "secondary", onclick: (ev) => busy(ev.target, async () => {
      await post("/certificates/" + id + (c.status === "archived" ? "/restore" : "/archive"));
      route();
    }) }, c.status === "archived" ? "Restore" : "Archive"));
  if (actions.length) out.push(el("h2", {}, "Actions"), ...actions);

  if (can("rotation:read")) {
    const t = await get("/certificates/" + id + "/targets");
    out.push(el("h2", {}, "Rotation targets"), table(["name", "kind", "key"], t.items.map((x) => [x.name, x.kind, x.include_key ? "yes" : "no"]), "No rotation target."));
  }
  if (can("audit:read")) {
    const a = await get("/audit-events?target=" + encodeURIComponent(id));
    out.push(el("h2", {}, "Audit trail"), table(["when", "who", "what"], a.items.map((e) => [e.at, e.actor, e.action])));
  }
  show(...out);
}

function revokeForm(id) {
  const reason = options(["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold"], "unspecified");
  const comment = el("input", { type: "text" });
  const confirmBox = el("input", { type: "checkbox" });
  const go = el("button", { type: "submit", class: "danger" }, "Revoke");
  return el("form", { class: "inline panel", onsubmit: (ev) => {
    ev.preventDefault();
    if (!confirmBox.checked) return banner("Tick the confirmation first: a revocation cannot be undone (except certificateHold).");
    busy(go, async () => { await post("/certificates/" + id + "/revoke", { reason: reason.value, comment: comment.value || undefined }); route(); });
  } }, field("Reason", reason), field("Comment", comment),
    el("label", {}, el("span", {}, "I understand this cannot be undone"), confirmBox), go);
}

function decision(id, after) {
  const comment = el("input", { type: "text" });
  const act = (verb) => (ev) => busy(ev.target, async () => {
    const r = await post("/certificates/" + id + "/" + verb, { comment: comment.value || undefined });
    banner(verb === "approve" ? (r.status === "active" ? "Approved: issued." : "Approval recorded; " + r.approvals_given + " of " + r.approvals_required + ".") : "Rejected.", true);
    (after || route)();
  });
  return el("div", { class: "row" }, field("Comment", comment),
    el("button", { onclick: act("approve") }, "Approve"), el("button", { class: "danger", onclick: act("reject") }, "Reject"));
}

// ---------- Request ----------
async function request() {
  const [tpl, prj] = await Promise.all([get("/templates"), get("/projects")]);
  const mode = options([["mazevault_generated", "Signet generates the key"], ["uploaded_csr", "I upload a CSR"]], "mazevault_generated");
  const cn = el("input", { type: "text" });
  const sans = el("input", { type: "text", placeholder: "a.example.com, 10.0.0.1" });
  const key = options(["ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"], "ec-p256");
  const csr = el("textarea", { placeholder: "-----BEGIN CERTIFICATE REQUEST-----" });
  const template = options(tpl.items.map((t) => [t.id, t.name]), undefined, "project default");
  const project = options(prj.items.map((p) => [p.id, p.name]), undefined, "default");
  const gen = el("div", { class: "row" }, field("Common name", cn), field("SANs (comma-separated)", sans), field("Key type", key));
  const up = el("div", {}, field("CSR (PEM)", csr));
  const sync = () => { gen.hidden = mode.value !== "mazevault_generated"; up.hidden = !gen.hidden; };
  mode.addEventListener("change", sync);
  const result = el("div", {});
  const body = () => {
    const b = { csr_source_mode: mode.value, template_id: template.value || undefined, project_id: project.value || undefined };
    if (mode.value === "uploaded_csr") b.csr_pem = csr.value;
    else {
      b.requested_cn = cn.value || undefined;
      b.requested_san = sans.value.split(",").map((s) => s.trim()).filter(Boolean);
      b.key_type = key.value;
    }
    return b;
  };
  const violations = (e) => el("div", { class: "panel" }, el("p", { class: "error" }, e.text),
    el("ul", { class: "violations" }, e.details.map((d) => el("li", {}, (d.rule || "") + ": " + (d.offending_value || "") + (d.allowed ? " (allowed: " + d.allowed + ")" : "")))));
  const preview = el("button", { type: "button", class: "secondary", onclick: () => busy(preview, async () => {
    try {
      const r = await post("/certificates/csr?dry_run=true", body());
      const p = r.would_issue;
      result.replaceChildren(el("div", { class: "panel" }, el("p", { class: "ok" }, "The policy allows it."),
        el("dl", {}, ["template_name", "ca_id", "approvals_required"].flatMap((k) => [el("dt", {}, k), el("dd", {}, String(p[k]))]),
          el("dt", {}, "SANs"), el("dd", {}, (p.plan.sans || []).map((s) => s.value).join(", ")))));
    } catch (e) { if (e instanceof ApiError) result.replaceChildren(violations(e)); else throw e; }
  }) }, "Preview");
  const submit = el("button", { type: "submit" }, "Submit");
  const form = el("form", { onsubmit: (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      let c;
      try { c = await post("/certificates/csr", body()); }
      catch (e) { if (e instanceof ApiError) { result.replaceChildren(violations(e)); return; } throw e; }
      const link = el("a", { href: "#/certificates/" + c.id }, c.common_name || c.id);
      if (c.status === "pending_approval") { result.replaceChildren(el("p", { class: "panel" }, "Waiting for approval: ", link)); return; }
      const parts = [el("p", {}, "Issued: ", link)];
      if (c.key_source === "server_generated") {
        const pw = el("input", { type: "password", minlength: "8", autocomplete: "new-password" });
        const dl = el("button", { type: "submit" }, "Download key and certificate (PKCS#12)");
        parts.push(el("form", { class: "inline panel", onsubmit: (e2) => {
          e2.preventDefault();
          busy(dl, async () => { await download("POST", "/certificates/" + c.id + "/export", { format: "pkcs12", password: pw.value }, (c.common_name || c.id) + ".p12"); });
        } }, el("p", {}, "Download the generated key now, encrypted under a password you choose."), field("Password (8+ characters)", pw), dl));
      }
      result.replaceChildren(...parts);
    });
  } }, el("div", { class: "row" }, field("Key", mode), field("Template", template), field("Project", project)), gen, up,
    el("div", { class: "row" }, preview, submit));
  show(el("h1", {}, "Request a certificate"), form, result);
  sync();
}

// ---------- Approvals ----------
async function approvals() {
  const page = await get("/certificates?status=pending_approval&limit=100");
  const rows = page.items.map((c) => [el("a", { href: "#/certificates/" + c.id }, c.common_name || c.id), c.requested_by,
    c.approvals_given + " of " + c.approvals_required, c.replaces_id ? "renewal" : "new", decision(c.id, approvals)]);
  show(el("h1", {}, "Approvals"), table(["request", "requested by", "approvals", "kind", "decision"], rows, "Nothing waits for approval."));
}

// ---------- Templates ----------
// The spec form is built from the TemplateSpec schema in the API's own
// OpenAPI document (generated from the Rust type): every field, its type,
// its default and its documentation, with no second copy to drift.
let SPEC_FIELDS = null;
async function specFields() {
  if (!SPEC_FIELDS) {
    const all = (await get("/openapi.json")).components.schemas;
    const deref = (x) => (x && x.$ref ? all[x.$ref.split("/").pop()] : x);
    SPEC_FIELDS = Object.entries(all.TemplateSpec.properties).map(([name, x]) => {
      const items = deref(x.items) || {};
      return { name, type: [].concat(x.type)[0], items: [].concat(items.type)[0], choices: items.enum,
        help: x.description || "", dflt: x.default };
    }).sort((a, b) => (b.name === "description") - (a.name === "description"));
  }
  return SPEC_FIELDS;
}

// One labelled control per spec field, each with its help text and its own
// error line, which the API's `details` ({field: "spec.<name>"}) fill in.
function specForm(fields, spec, readOnly) {
  const rows = fields.map((f) => {
    const v = spec[f.name] !== undefined ? spec[f.name] : f.dflt;
    const id = "spec-" + f.name;
    const label = f.name.replace(/_/g, " ");
    const help = el("small", { class: "muted", id: id + "-help" }, f.help);
    const err = el("small", { class: "error", id: id + "-error", "aria-live": "polite" });
    // A list with known values is a group of checkboxes; anything else one input.
    if (f.type === "array" && f.choices) {
      const boxes = f.choices.map((c) => el("input", { type: "checkbox", value: c, checked: (v || []).includes(c), disabled: readOnly }));
      const group = el("fieldset", { class: "specfield choices", "aria-describedby": help.id + " " + err.id },
        el("legend", {}, label), el("div", { class: "boxes" }, boxes.map((b) => el("label", { class: "check" }, b, b.value))), help, err);
      return { f, err, mark: group, focus: boxes[0], node: group, read: () => boxes.filter((b) => b.checked).map((b) => b.value) };
    }
    const input = f.type === "boolean" ? el("input", { type: "checkbox", checked: !!v, disabled: readOnly })
      : el("input", { type: f.type === "integer" ? "number" : "text", readonly: readOnly,
        value: Array.isArray(v) ? v.join(", ") : v === undefined || v === null ? "" : String(v) });
    input.name = f.name;
    input.setAttribute("aria-describedby", help.id + " " + err.id);
    const read = () => {
      if (f.type === "boolean") return input.checked;
      if (f.type === "integer") return input.value === "" ? null : Number(input.value);
      if (f.type === "array") {
        const parts = input.value.split(",").map((x) => x.trim()).filter(Boolean);
        return f.items === "integer" ? parts.map(Number) : parts;
      }
      return input.value;
    };
    return { f, err, mark: input, focus: input, node: el("div", { class: "specfield" }, field(label, input), help, err), read };
  });
  const value = () => Object.fromEntries(rows.map((r) => [r.f.name, r.read()]));
  const clear = () => { for (const r of rows) { r.err.textContent = ""; r.mark.removeAttribute("aria-invalid"); } };
  // Put each message next to its field; what names no field goes to `rest`.
  const showErrors = (e, rest) => {
    rest.textContent = "";
    clear();
    if (!(e instanceof ApiError)) throw e;
    let placed = 0;
    for (const d of e.details) {
      const r = rows.find((x) => "spec." + x.f.name === d.field);
      if (r) { r.err.textContent = d.message; r.mark.setAttribute("aria-invalid", "true"); placed++; }
    }
    if (!placed) rest.textContent = e.text;
    else { rest.textContent = "Not saved: " + placed + " field(s) need attention."; rows.find((x) => x.err.textContent).focus.focus(); }
  };
  return { node: el("div", { class: "specgrid" }, rows.map((r) => r.node)), value, showErrors, clear };
}

async function templates() {
  const [t, fields] = await Promise.all([get("/templates"), specFields()]);
  const out = [el("h1", {}, "Templates"), table(["name", "description", "updated"], t.items.map((x) => [el("a", { href: "#/templates/" + x.id }, x.name), x.spec.description || "", x.updated_at]),
    "No templates yet.")];
  if (can("template:write")) {
    const name = el("input", { type: "text", required: true, pattern: "[A-Za-z0-9_\\-]{1,64}" });
    const form = specForm(fields, {}, false);
    const err = el("p", { class: "error", "aria-live": "polite" });
    const go = el("button", { type: "submit" }, "Create");
    out.push(el("h2", {}, "New template"), el("p", { class: "muted" }, "Fields start at their defaults; allow-lists left empty allow nothing."),
      el("form", { onsubmit: (ev) => {
        ev.preventDefault();
        busy(go, async () => {
          try { const n = await post("/templates", { name: name.value, spec: form.value() }); location.hash = "#/templates/" + n.id; }
          catch (e) { form.showErrors(e, err); }
        });
      } }, field("Name", name), form.node, err, go));
  }
  show(...out);
}

async function template(id) {
  const [t, fields] = await Promise.all([get("/templates/" + id), specFields()]);
  const write = can("template:write");
  const form = specForm(fields, t.spec, !write);
  const err = el("p", { class: "error", "aria-live": "polite" });
  const save = el("button", { type: "submit" }, "Save");
  const del = el("button", { type: "button", class: "danger", onclick: () => busy(del, async () => {
    if (!confirm("Delete template " + t.name + "?")) return;
    await call("DELETE", "/templates/" + id);
    location.hash = "#/templates";
  }) }, "Delete");
  show(el("h1", {}, "Template " + t.name), el("p", { class: "muted" }, "Updated " + t.updated_at + ". A template in use cannot be deleted."),
    el("form", { onsubmit: (ev) => {
      ev.preventDefault();
      busy(save, async () => {
        try { await call("PUT", "/templates/" + id, { spec: form.value() }); form.clear(); err.textContent = ""; banner("Saved.", true); }
        catch (e) { form.showErrors(e, err); }
      });
    } }, form.node, err, write ? el("div", { class: "row" }, save, del) : null));
}

// ---------- Projects ----------
// One form for create and edit: name, description, default and allowed
// templates (a multi-select of the real templates), notification emails.
function projectForm(tpl, p, submitLabel, submit) {
  const name = el("input", { type: "text", required: true, value: p.name || "", readonly: !!p.id });
  const description = el("input", { type: "text", value: p.description || "" });
  const dflt = options(tpl.map((t) => [t.id, t.name]), p.default_template_id || undefined, "none");
  const allowed = el("select", { multiple: true, size: String(Math.min(6, Math.max(2, tpl.length))) },
    tpl.map((t) => el("option", { value: t.id, selected: (p.allowed_templates || []).includes(t.id) }, t.name)));
  const emails = el("input", { type: "text", value: (p.notify_email || []).join(", "), placeholder: "ops@example.com, …" });
  const err = el("p", { class: "error", "aria-live": "polite" });
  const go = el("button", { type: "submit" }, submitLabel);
  return el("form", { onsubmit: (ev) => {
    ev.preventDefault();
    busy(go, async () => {
      err.textContent = "";
      const body = { name: name.value, description: description.value || undefined, default_template_id: dflt.value || undefined,
        allowed_templates: [...allowed.selectedOptions].map((o) => o.value),
        notify_email: emails.value.split(",").map((x) => x.trim()).filter(Boolean) };
      try { await submit(body); } catch (e) { if (e instanceof ApiError) err.textContent = e.text; else throw e; }
    });
  } }, el("div", { class: "row" }, field("Name", name), field("Description", description), field("Default template", dflt),
    field("Allowed templates (none selected: any)", allowed), field("Notification emails (comma-separated)", emails)), err, go);
}

async function projects() {
  const [list, tpl] = await Promise.all([get("/projects"), get("/templates")]);
  const names = Object.fromEntries(tpl.items.map((t) => [t.id, t.name]));
  const write = can("project:write");
  const editing = el("div", {});
  const rows = list.items.map((p) => [p.name, p.description || "", names[p.default_template_id] || "–",
    p.allowed_templates.map((t) => names[t] || t).join(", ") || "any", p.notify_email.join(", ") || "–", p.created_at,
    write ? el("div", { class: "row" },
      el("button", { class: "secondary", onclick: () => editing.replaceChildren(el("h2", {}, "Edit " + p.name),
        projectForm(tpl.items, p, "Save", async (b) => { await call("PUT", "/projects/" + p.id, b); banner("Saved.", true); projects(); })) }, "Edit"),
      p.name === "default" ? null : el("button", { class: "danger", onclick: (ev) => busy(ev.target, async () => {
        if (!confirm("Delete project " + p.name + "?")) return;
        await call("DELETE", "/projects/" + p.id); banner("Deleted " + p.name + ".", true); projects();
      }) }, "Delete")) : null]);
  show(el("h1", {}, "Projects"),
    el("p", { class: "muted" }, "A project groups certificates, tokens, EAB credentials and ACME accounts; a token scoped to it sees nothing else."),
    table(["name", "description", "default template", "allowed templates", "notify", "created", ""], rows, "No projects."),
    editing,
    write ? [el("h2", {}, "New project"), projectForm(tpl.items, {}, "Create project", async (b) => {
      const n = await post("/projects", b); banner("Project " + n.name + " created.", true); projects();
    })] : null);
}

// ---------- CAs ----------
async function cas() {
  const [list, stats] = await Promise.all([get("/cas"), get("/stats")]);
  const crl = Object.fromEntries(stats.cas.map((c) => [c.id, c]));
  const rows = list.items.map((c) => [c.name + (c.default ? " (default)" : ""), c.subject, c.not_after, String(c.crl_number),
    (crl[c.id] && crl[c.id].crl_next_update) || "–",
    el("div", { class: "row" },
      el("button", { class: "secondary", onclick: (ev) => busy(ev.target, () => download("GET", "/cas/" + c.id + "/chain", undefined, c.name.replace(/\W+/g, "_") + "-chain.pem")) }, "Chain"),
      can("ca:admin") && c.status === "active" ? el("button", { class: "secondary", onclick: (ev) => busy(ev.target, async () => { const r = await post("/ca/" + c.id + "/crl/regenerate", { type: "full" }); banner("CRL " + r.number + " published.", true); }) }, "Regenerate CRL") : null)]);
  show(el("h1", {}, "Certificate authorities"), table(["name", "subject", "expires", "CRL number", "next CRL", ""], rows));
}

// ---------- ACME (EAB) ----------
function once(title, pairs) {
  return el("div", { class: "panel" }, el("p", {}, el("strong", {}, title), " Copy it now: it is shown once."),
    pairs.map(([k, v]) => el("div", { class: "row" }, el("span", {}, k), el("code", { class: "secret" }, v),
      el("button", { class: "secondary", onclick: (ev) => navigator.clipboard.writeText(v).then(() => { ev.target.textContent = "Copied"; }) }, "Copy"))));
}

async function acme() {
  const [eab, prj, tpl] = await Promise.all([get("/eab-credentials"), get("/projects"), get("/templates")]);
  const project = options(prj.items.map((p) => [p.id, p.name]), undefined, "default");
  const template = options(tpl.items.map((t) => [t.id, t.name]), undefined, "project default");
  const shown = el("div", {});
  const go = el("button", { type: "submit" }, "Create EAB credential");
  const rows = eab.items.map((e) => [e.kid, e.revoked ? "revoked" : e.used ? "used" : "unused", e.created_at, e.account_id || "–",
    e.revoked ? "" : el("button", { class: "danger", onclick: (ev) => busy(ev.target, async () => { await call("DELETE", "/eab-credentials/" + e.id); acme(); }) }, "Revoke")]);
  show(el("h1", {}, "ACME external account binding"),
    el("form", { class: "inline", onsubmit: (ev) => {
      ev.preventDefault();
      busy(go, async () => {
        const r = await post("/eab-credentials", { project_id: project.value || undefined, template_id: template.value || undefined });
        shown.replaceChildren(once("New credential.", [["kid", r.eab_key_id], ["HMAC key", r.eab_hmac_key]]));
      });
    } }, field("Project", project), field("Template", template), go),
    shown, el("h2", {}, "Credentials"), table(["kid", "state", "created", "account", ""], rows, "No EAB credential yet. Create one for each ACME client."));
}

// ---------- SCEP ----------
async function scep() {
  const [list, profiles] = await Promise.all([get("/scep/challenges"), get("/scep/profiles")]);
  const listed = (l) => table(["profile", "CN", "created", "expires", "used"], l.items.map((c) => [c.profile, c.subject_cn || "–", c.created_at, c.expires_at, c.used_at || "no"]), "No challenge minted yet.");
  const minted = el("div", {}, listed(list));
  const oneTime = profiles.items.filter((x) => x.challenge === "one-time").map((x) => x.name);
  const profile = options(oneTime);
  const ttl = el("input", { type: "number", value: "3600", min: "60" });
  const cn = el("input", { type: "text" });
  const shown = el("div", {});
  const go = el("button", { type: "submit" }, "Mint challenge");
  show(el("h1", {}, "SCEP"),
    oneTime.length ? el("form", { class: "inline", onsubmit: (ev) => {
      ev.preventDefault();
      busy(go, async () => {
        const r = await post("/scep/challenges", { profile: profile.value, ttl_seconds: Number(ttl.value), subject_cn: cn.value || undefined });
        shown.replaceChildren(once("One-time challenge for " + r.profile + ", until " + r.expires_at + ".", [["challenge", r.challenge]]));
        minted.replaceChildren(listed(await get("/scep/challenges")));
      });
    } }, field("Profile", profile), field("Valid for (seconds)", ttl), field("Bound to CN (optional)", cn), go)
      : el("p", { class: "muted" }, "No profile uses one-time challenges: set challenge = \"one-time\" on a profile in signet.toml to mint them here."),
    shown, el("h2", {}, "Profiles"),
    table(["profile", "URL for devices", "template", "challenge", "legacy ciphers", "renewal"], profiles.items.map((x) => [x.name, el("code", {}, x.url), x.template, x.challenge, x.allow_legacy ? "yes" : "no", x.renewal ? "yes" : "no"]),
      "No SCEP profile: add one under [scep.profiles] in signet.toml."),
    el("h2", {}, "Challenges"), minted);
}

// ---------- Tokens ----------
async function tokens() {
  const [list, prj, users] = await Promise.all([get("/tokens"), get("/projects"), get("/users")]);
  const name = el("input", { type: "text", value: "ui" });
  const role = options(["admin", "operator", "requester", "auditor"], "operator");
  const project = options(prj.items.map((p) => [p.id, p.name]), undefined, "all projects");
  const expires = el("input", { type: "number", min: "1", placeholder: "never" });
  const shown = el("div", {});
  const go = el("button", { type: "submit" }, "Create token");
  show(el("h1", {}, "API tokens"),
    el("form", { class: "inline", onsubmit: (ev) => {
      ev.preventDefault();
      busy(go, async () => {
        const r = await post("/tokens", { name: name.value, role: role.value, project_id: project.value || undefined, expires_in_days: expires.value ? Number(expires.value) : undefined });
        shown.replaceChildren(once("Token " + r.name + " (" + r.role + ").", [["token", r.token]]));
      });
    } }, field("Name", name), field("Role", role), field("Project", project), field("Expires in (days)", expires), go),
    shown, el("h2", {}, "Users"),
    el("p", { class: "muted" }, "A user is the name its tokens carry; what it may do is the roles of its live tokens."),
    table(["user", "roles", "projects", "live tokens", "last used"], users.items.map((u) => [u.name, u.roles.join(", ") || "none live",
      u.all_projects ? "all" : u.project_ids.join(", ") || "–", u.live_token_count + " of " + u.token_count, u.last_used_at || "never"]), "No users."),
    el("h2", {}, "Tokens"),
    table(["name", "role", "project", "created", "expires", "last used", ""], list.items.map((t) => [t.name, t.role, t.project_id || "all", t.created_at, t.expires_at || "never", t.last_used_at || "never",
      t.revoked ? "revoked " + t.revoked_at : el("button", { class: "danger", onclick: (ev) => busy(ev.target, async () => { await call("DELETE", "/tokens/" + t.id); tokens(); }) }, "Revoke")])));
}

// ---------- Audit ----------
async function audit() {
  const q = query();
  const action = el("input", { type: "text", value: q.action || "" });
  const actor = el("input", { type: "text", value: q.actor || "" });
  const target = el("input", { type: "text", value: q.target || "" });
  const result = el("p", { "aria-live": "polite" });
  const verify = el("button", { type: "button", class: "secondary", onclick: () => busy(verify, async () => {
    const r = await get("/audit-events/verify");
    result.className = r.valid ? "ok" : "error";
    result.textContent = r.valid ? "Audit chain intact: " + r.events + " events." : "Audit chain BROKEN: " + r.error;
  }) }, "Verify chain");
  const p = new URLSearchParams({ limit: "100" });
  for (const k of ["action", "actor", "target", "cursor"]) if (q[k]) p.set(k, q[k]);
  const page = await get("/audit-events?" + p);
  const next = page.next_cursor ? (() => { const n = new URLSearchParams(q); n.set("cursor", page.next_cursor); return el("a", { href: "#/audit?" + n }, "Older"); })() : null;
  show(el("h1", {}, "Audit log"),
    el("form", { class: "inline", onsubmit: (ev) => {
      ev.preventDefault();
      const n = new URLSearchParams();
      for (const [k, i] of [["action", action], ["actor", actor], ["target", target]]) if (i.value) n.set(k, i.value);
      location.hash = "#/audit?" + n;
    } }, field("Action", action), field("Actor", actor), field("Target", target), el("button", { type: "submit" }, "Filter"), verify),
    result,
    table(["when", "who", "what", "target", "severity", "request"], page.items.map((e) => [e.at, e.actor, e.action, e.target || "–", e.severity, e.request_id || "–"])),
    next);
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", async () => {
  await start();
  if (!S.me) signIn();
});
