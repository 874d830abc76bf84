// The abuseguard dashboard: polls the admin API (through /ui/api, with
// the session cookie) and the metrics summary, and renders the views.
// Everything from the server is inserted as text, never as HTML.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000, HISTORY = 300;

  async function call(method, path, body) {
    const opts = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      opts.headers["X-CSRF-Token"] = csrf;
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body || {});
    }
    const resp = await fetch("/ui/api" + path, opts);
    if (resp.status === 401) { location.href = "/ui/login"; throw new Error("signed out"); }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error((data.reason || resp.status) + ": " + (data.detail || resp.statusText));
    return data;
  }
  function showError(err) { const e = $("error"); e.textContent = err ? String(err.message || err) : ""; e.hidden = !err; }

  function el(tag, text, attrs) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  function button(text, cls, onclick) { const b = el("button", text, { class: cls }); b.addEventListener("click", onclick); return b; }
  function row(cells) { const tr = el("tr"); for (const c of cells) { const td = el("td"); if (c instanceof Node) td.append(c); else td.textContent = c; tr.append(td); } return tr; }
  const pct = (x) => isFinite(x) ? (100 * x).toFixed(1) + "%" : "-";
  const num = (x) => isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(2)) : "-";
  const us = (s) => (s * 1e6).toFixed(1) + " µs";
  const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);

  // Views.
  for (const b of document.querySelectorAll("nav button")) {
    b.addEventListener("click", () => {
      for (const o of document.querySelectorAll("nav button")) o.classList.toggle("active", o === b);
      for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== b.dataset.view;
      if (b.dataset.view === "rules") refreshRules();
      if (b.dataset.view === "incidents") refreshIncidents();
      resize();
    });
  }

  // Charts (uPlot, vendored).
  const traffic = { t: [], allowed: [], refused: [] }, latency = { t: [], p99: [] };
  function makeChart(id, series, data) {
    const target = $(id);
    return new uPlot({ width: Math.max(300, target.clientWidth - 16), height: 220, series: [{}].concat(series), axes: [{}, {}] }, data, target);
  }
  const charts = {
    traffic: makeChart("chart-traffic", [{ label: "allowed/s", stroke: "#2e7d32" }, { label: "refused/s", stroke: "#c62828" }], [[], [], []]),
    latency: null,
  };
  function resize() {
    if (!charts.latency && !$("debug").hidden) charts.latency = makeChart("chart-latency", [{ label: "p99 µs", stroke: "#1565c0" }], [[], []]);
    for (const [id, c] of [["chart-traffic", charts.traffic], ["chart-latency", charts.latency]]) {
      if (c && $(id).clientWidth > 0) c.setSize({ width: $(id).clientWidth - 16, height: 220 });
    }
  }
  window.addEventListener("resize", resize);

  let last = null;
  function rates(now, prev, key) {
    const dt = (new Date(now.time) - new Date(prev.time)) / 1000;
    const out = {};
    for (const [k, v] of Object.entries(now[key] || {})) out[k] = dt > 0 ? Math.max(0, v - ((prev[key] || {})[k] || 0)) / dt : 0;
    return out;
  }
  function rateTable(id, r) {
    const tb = $(id).tBodies[0];
    tb.replaceChildren(...Object.entries(r).sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => row([k || "(none)", num(v)])));
  }

  async function refreshSummary() {
    const s = await call("GET", "/summary");
    const total = sum(s.requests) + s.refused_early, acted = sum(s.acted_by_reason) + sum(s.shadow_by_reason);
    $("abuse-share").textContent = total > 0 ? pct(acted / total) : "-";
    $("active").textContent = s.decisions_active;
    const fb = sum(s.feedback);
    $("fp-rate").textContent = fb > 0 ? pct((s.feedback.false_positive || 0) / fb) : "-";
    $("p50").textContent = us(s.decision_p50_seconds);
    $("p99").textContent = us(s.decision_p99_seconds);
    $("keys").textContent = s.state_max_keys ? s.state_keys + " / " + s.state_max_keys : s.state_keys;
    $("evictions").textContent = s.state_evictions;
    if (last) {
      const dt = (new Date(s.time) - new Date(last.time)) / 1000;
      if (dt > 0) {
        const req = rates(s, last, "requests");
        const allowed = req.allow || 0, refused = sum(req) - allowed + Math.max(0, s.refused_early - last.refused_early) / dt;
        $("rps").textContent = num(allowed + refused);
        $("refused-rps").textContent = num(refused);
        const t = new Date(s.time) / 1000;
        push(traffic, { t, allowed, refused }); charts.traffic.setData([traffic.t, traffic.allowed, traffic.refused]);
        push(latency, { t, p99: s.decision_p99_seconds * 1e6 });
        if (charts.latency) charts.latency.setData([latency.t, latency.p99]);
        rateTable("reasons", rates(s, last, "acted_by_reason"));
        rateTable("shadow", rates(s, last, "shadow_by_reason"));
        rateTable("signals", rates(s, last, "signals"));
      }
    }
    last = s;
  }
  function push(series, point) {
    for (const [k, v] of Object.entries(point)) { series[k].push(v); if (series[k].length > HISTORY) series[k].shift(); }
  }

  async function refreshDecisions() {
    const list = await call("GET", "/v1/decisions?limit=200");
    const tb = $("decisions").tBodies[0];
    const rows = list.decisions.slice().reverse().map((d) => {
      const tr = row([d.id, d.scope + ":" + d.value, d.action + (d.mode === "shadow" ? " (shadow)" : ""), d.reason, d.source,
        new Date(d.expires).toLocaleTimeString(),
        (() => { const span = el("span");
          span.append(button("Lift (false positive)", "lift", () => feedback(d.id, "false_positive")), " ",
            button("Confirm", "confirm", () => feedback(d.id, "confirmed")), " ",
            button("Explain", "explain", () => explain(d.scope + ":" + d.value)));
          return span; })()]);
      tr.dataset.id = d.id; tr.dataset.entity = d.scope + ":" + d.value;
      return tr;
    });
    tb.replaceChildren(...rows);
    $("decisions-empty").hidden = rows.length > 0;
  }
  async function feedback(id, verdict) {
    try { await call("POST", "/v1/decisions/" + encodeURIComponent(id) + "/feedback", { verdict }); showError(null); await refreshDecisions(); }
    catch (e) { showError(e); }
  }

  async function explain(entity) {
    for (const b of document.querySelectorAll("nav button")) if (b.dataset.view === "explain") b.click();
    $("entity").value = entity;
    try {
      const x = await call("GET", "/v1/explain/" + encodeURIComponent(entity));
      const box = $("explanation"); box.replaceChildren();
      box.append(el("h2", x.entity + ": score " + x.score.toFixed(1)));
      const dl = el("ul");
      for (const d of x.decisions) {
        const li = el("li", d.id + " " + d.action + " for " + d.reason + " (" + d.source + "), expires " + d.expires);
        const ev = el("ul");
        for (const e of d.evidence || []) ev.append(el("li", (e.time || "") + " " + e.detector + ": " + (e.summary || "") + (e.request_id ? " [" + e.request_id + "]" : "")));
        li.append(ev); dl.append(li);
      }
      if (!x.decisions.length) dl.append(el("li", "no active decision"));
      box.append(el("h2", "Decisions"), dl, el("h2", "Recent signals"));
      const sl = el("ul");
      for (const e of x.recent_signals) sl.append(el("li", (e.time || "") + " " + e.detector + ": " + (e.summary || "")));
      if (!x.recent_signals.length) sl.append(el("li", "none"));
      box.append(sl);
      showError(null);
    } catch (e) { showError(e); }
  }
  $("explain-form").addEventListener("submit", (ev) => { ev.preventDefault(); explain($("entity").value.trim()); });

  async function refreshRules() {
    let list;
    try { list = await call("GET", "/v1/rules"); } catch (e) { $("rules-status").textContent = String(e.message); return; }
    const tb = $("rules-table").tBodies[0];
    const rows = [];
    for (const r of list.rules) {
      const ref = r.kind + ":" + r.name;
      let rep = { would_act: "-", entities: "-" };
      try { rep = await call("GET", "/v1/rules/" + encodeURIComponent(ref) + "/report"); } catch (e) { /* shown as - */ }
      const actions = el("span");
      actions.append(button("Canary 10%", "promote-canary", () => promote(ref, "canary:10")), " ",
        button("Enforce", "promote-enforce", () => promote(ref, "enforce")), " ",
        button("Roll back", "rollback", () => rollback(ref)));
      const tr = row([r.name, r.kind, r.mode, r.file_mode, rep.would_act, rep.entities, actions]);
      tr.dataset.name = r.name; tr.dataset.mode = r.mode;
      rows.push(tr);
    }
    tb.replaceChildren(...rows);
    if (!rows.length) $("rules-status").textContent = "No limits or rules are configured.";
  }
  async function promote(ref, to) {
    try { const st = await call("POST", "/v1/rules/" + encodeURIComponent(ref) + "/promote", { to }); $("rules-status").textContent = st.kind + " " + st.name + " now runs in " + st.mode; showError(null); }
    catch (e) { showError(e); }
    await refreshRules();
  }
  async function rollback(ref) {
    try { const st = await call("POST", "/v1/rules/" + encodeURIComponent(ref) + "/rollback"); $("rules-status").textContent = st.kind + " " + st.name + " rolled back to " + st.mode; showError(null); }
    catch (e) { showError(e); }
    await refreshRules();
  }

  const secs = (x) => (x === undefined || x === null) ? "-" : (x < 120 ? x.toFixed(1) + " s" : (x / 60).toFixed(1) + " min");
  async function refreshIncidents() {
    let list;
    try { list = await call("GET", "/v1/incidents"); } catch (e) { $("incidents-summary").textContent = String(e.message); return; }
    const s = list.summary;
    $("incidents-summary").textContent = s.open + " open, " + s.resolved + " resolved; mean TTD " + secs(s.mttd_seconds) +
      ", mean TTB " + secs(s.mttb_seconds) + ", MTTR " + secs(s.mttr_seconds);
    $("incidents-table").tBodies[0].replaceChildren(...list.incidents.map((i) => {
      const tr = row([i.id, (i.reasons || []).join(", "), i.resolved ? "resolved" : "open", i.entity_count, i.decisions,
        new Date(i.first_seen).toLocaleTimeString(), secs(i.ttd_seconds), secs(i.ttb_seconds), secs(i.resolve_seconds)]);
      tr.dataset.id = i.id;
      return tr;
    }));
  }

  async function tick() {
    try {
      await Promise.all([refreshSummary(), refreshDecisions()]);
      if (!$("incidents").hidden) await refreshIncidents();
    }
    catch (e) { showError(e); }
    setTimeout(tick, POLL_MS);
  }
  tick();
})();
