// sdo-monitor status page: reads the JSON API and redraws every REFRESH_MS.
// Plain browser JavaScript, no build step, no dependencies. Data only ever
// reaches the DOM through textContent and attributes, never innerHTML.
"use strict";

const REFRESH_MS = 10000;
const HOURS = 6;
const SPARK_W = 240;
const SPARK_H = 46;
const TOKEN_KEY = "sdo-monitor-token";

let overlayFrame = null;   // frame id whose overlay is shown
let overlayUrl = null;     // blob: URL of the shown overlay
let timer = null;          // the pending refresh

class Unauthorized extends Error {}

// -- helpers -----------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

function replaceRows(table, rows) {
  const body = table.tBodies[0];
  body.replaceChildren(...rows);
}

function age(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  const s = Math.max(0, seconds);
  if (s < 90) return `${s.toFixed(0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(0)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function utc(value) {
  if (value === null || value === undefined) return "–";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (isNaN(d.getTime())) return String(value);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function sci(x) {
  return x === null || x === undefined || !isFinite(x) ? "–" : Number(x).toExponential(2);
}

function pct(x) {
  return x === null || x === undefined || !isFinite(x) ? "–" : `${(100 * x).toFixed(1)}\u00a0%`;
}

function spread(ratio) {
  // relative range of a sparkline: small variations keep two significant digits
  if (!isFinite(ratio)) return "–";
  const percent = 100 * ratio;
  return `${percent >= 10 ? percent.toFixed(0) : percent.toPrecision(2)}\u00a0%`;
}

function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function api(path, { allow404 = false, blob = false } = {}) {
  const response = await fetch(path, { headers: headers(), cache: "no-store" });
  if (response.status === 401) throw new Unauthorized();
  if (response.status === 404 && allow404) return null;
  if (!response.ok) {
    let message = `${response.status}`;
    try { message = (await response.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(`${path}: ${message}`);
  }
  return blob ? response.blob() : response.json();
}

// -- sections ----------------------------------------------------------------
function renderSummary(status) {
  const b = status.backend;
  const badges = [];
  // green only when ready and nothing runs degraded (a stale feed, Kafka, a fallback backend)
  const degraded = status.degraded || [];
  const health = !status.ready ? "bad" : degraded.length ? "warn" : "ok";
  badges.push(el("span", { class: `badge ${health}`, "data-health": health,
                           title: degraded.join("\n") },
                 !status.ready ? "not ready" : degraded.length ? "degraded" : "ready"));
  for (const reason of degraded) badges.push(el("span", { class: "degraded-reason" }, reason));
  // a warning keeps the daemon ready (a model trained on synthetic data only)
  for (const warning of status.warnings || []) {
    badges.push(el("span", { class: "badge warn model-warning", title: warning }, warning));
  }
  const pub = status.publisher;
  if (!pub.connected && (pub.pending || pub.last_error)) {
    badges.push(el("span", { class: "badge warn", title: pub.last_error || "" },
                   "kafka not acknowledging"));
  }
  if (pub.last_error) {
    badges.push(el("span", { class: "kafka-error" }, `kafka: ${pub.last_error}`));
  }
  const model = status.model || {};
  document.getElementById("summary").replaceChildren(
    ...badges,
    el("span", {}, `${status.instance} · v${status.version} · ${status.mode} mode`),
    el("span", { title: b.detail }, `backend ${b.active} (${b.precision})` +
       (b.target !== b.active ? `, target ${b.target}: ${b.engine_build}` : "")),
    el("span", { title: model.sha256 || "" },
       `model ${model.name || "?"} ${model.version || ""}` +
       (model.provenance ? ` (${model.provenance.data} data)` : "")),
    el("span", {}, `${status.counts.frames} frames · outbox ${status.publisher.pending}`),
    el("span", {}, `up ${age(status.uptime_s)}`));
  document.getElementById("updated").textContent = `updated ${utc(status.time)}`;
}

function renderFeeds(status) {
  const rows = Object.entries(status.feeds).map(([name, f]) => el("tr", { "data-feed": name },
    el("td", {}, name), el("td", {}, f.kind),
    el("td", {}, f.last_seen ? `${age(f.last_seen_age_s)} ago` : "never"),
    el("td", { title: f.last_observation ? utc(f.last_observation) : "" },
       f.last_observation ? `${utc(f.last_observation)} (${age(f.last_observation_age_s)})` : "–"),
    el("td", {}, f.seen),
    el("td", {}, el("span", { class: f.stale ? "badge bad" : "badge ok" },
                    f.stale ? "stale" : "fresh"))));
  replaceRows(document.getElementById("feeds"), rows);
}

function renderChannels(channels, now) {
  const rows = channels.map((c) => {
    const flags = c.quality_flags && c.quality_flags.length ? ` (${c.quality_flags.join(", ")})` : "";
    const t = Date.parse(c.t_obs) / 1000;
    return el("tr", { "data-channel": c.channel, "data-feed": c.feed },
      el("td", {}, `${c.channel} Å`), el("td", {}, utc(c.t_obs)), el("td", {}, age(now - t)),
      el("td", { class: c.quality ? "warn" : "" }, `${c.quality}${flags}`),
      el("td", { class: "file" }, c.file));
  });
  replaceRows(document.getElementById("channels"), rows);
}

async function renderLatest(frame) {
  const img = document.getElementById("overlay");
  const caption = document.getElementById("overlay-caption");
  const regions = document.getElementById("regions");
  const classes = document.getElementById("classes");
  if (!frame) {
    caption.textContent = "no frame analysed yet";
    replaceRows(regions, []);
    classes.replaceChildren();
    return;
  }
  document.getElementById("frame-time").textContent = `T_OBS ${utc(frame.t_obs)}`;
  classes.replaceChildren(...Object.entries(frame.class_probabilities).map(([name, p]) => {
    const bar = el("span", { class: "bar" });
    bar.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
    return el("div", { class: name === frame.predicted_class ? "row top" : "row",
                       "data-class": name },
      el("span", { class: "label" }, name), el("span", { class: "track" }, bar),
      el("span", { class: "value" }, pct(p)));
  }));
  const rows = [];
  for (const target of (frame.saliency && frame.saliency.targets) || []) {
    for (const r of target.regions) {
      // A region with a located flare shows the flare (hot channels, grid resolution);
      // otherwise the CAM region itself, whose area is that of a 16 px feature map.
      const at = r.flare || r;
      rows.push(el("tr", { class: "region", "data-target": target.target,
                           "data-located": r.flare ? "flare" : "cam" },
        el("td", {}, target.target), el("td", {}, r.flare ? `${r.rank} flare` : r.rank),
        el("td", {}, at.noaa_location || (at.on_disk ? "–" : "off disk")),
        el("td", {}, at.hpc_x_arcsec.toFixed(0)), el("td", {}, at.hpc_y_arcsec.toFixed(0)),
        el("td", {}, at.area_msh === null ? "–" : at.area_msh.toFixed(0)),
        el("td", {}, pct(r.share))));
    }
  }
  if (!rows.length) {
    rows.push(el("tr", { class: "empty" }, el("td", { colspan: 7 },
      frame.saliency ? "no salient region above the threshold" : "no saliency summary kept")));
  }
  replaceRows(regions, rows);
  const inputs = frame.inputs.map((i) => i.channel).join(", ");
  document.getElementById("frame-meta").textContent =
    `frame ${frame.frame_id} · ${frame.feed || ""} · channels ${inputs}` +
    (frame.missing_channels.length ? ` · missing ${frame.missing_channels.join(", ")}` : "") +
    ` · backend ${frame.backend}` + (frame.flags.length ? ` · ${frame.flags.join(", ")}` : "");
  if (frame.overlay_url && frame.frame_id !== overlayFrame) {
    const blob = await api(frame.overlay_url, { allow404: true, blob: true });
    if (blob) {
      const url = URL.createObjectURL(blob);
      img.onload = () => { img.dataset.loaded = String(img.naturalWidth); };
      img.src = url;
      if (overlayUrl) URL.revokeObjectURL(overlayUrl);
      overlayUrl = url;
      overlayFrame = frame.frame_id;
      caption.textContent = `saliency overlay, frame ${frame.frame_id}`;
    }
  } else if (!frame.overlay_url && !overlayFrame) {
    caption.textContent = "no overlay kept for the latest frame";
  }
}

function sparkline(name, times, values) {
  const pts = [];
  const finite = values.filter((v) => v !== null && isFinite(v));
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const t0 = times[0];
  const span = Math.max(1, times[times.length - 1] - t0);
  values.forEach((v, i) => {
    if (v === null || !isFinite(v)) return;
    const x = times.length === 1 ? SPARK_W / 2 : ((times[i] - t0) / span) * (SPARK_W - 4) + 2;
    const y = hi > lo ? SPARK_H - 3 - ((v - lo) / (hi - lo)) * (SPARK_H - 6) : SPARK_H / 2;
    pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  const box = svg("svg", { class: "spark", viewBox: `0 0 ${SPARK_W} ${SPARK_H}`,
                           width: SPARK_W, height: SPARK_H, "data-line": name,
                           "data-points": pts.length, role: "img",
                           preserveAspectRatio: "none" });
  const title = svg("title", {});
  title.textContent = `${name}: ${sci(lo)} – ${sci(hi)} W m⁻²`;
  box.append(title);
  if (pts.length > 1) box.append(svg("polyline", { points: pts.join(" ") }));
  if (pts.length) {
    const [x, y] = pts[pts.length - 1].split(",");
    box.append(svg("circle", { cx: x, cy: y, r: 2.5 }));
  }
  const last = finite.length ? finite[finite.length - 1] : null;
  return el("div", { class: "spark-cell" },
    el("div", { class: "spark-head" }, el("span", { class: "label" }, name),
       el("span", { class: "value" }, `${sci(last)} W m⁻²`)),
    box,
    el("div", { class: "spark-range muted" },
       `min ${sci(lo)} · max ${sci(hi)}` + (lo > 0 ? ` · range ${spread((hi - lo) / lo)}` : "")));
}

function renderHistory(history) {
  const grid = document.getElementById("sparklines");
  const feeds = Object.entries(history.feeds);
  if (!feeds.length) {
    grid.replaceChildren(el("p", { class: "muted" }, "no model outputs yet"));
    return;
  }
  const cells = [];
  for (const [feed, series] of feeds) {
    if (feeds.length > 1) cells.push(el("h3", { class: "feed-title" }, feed));
    for (const [line, values] of Object.entries(series.irradiance_w_m2)) {
      cells.push(sparkline(line, series.t, values));
    }
  }
  grid.replaceChildren(...cells);
}

function renderAlerts(alerts) {
  const open = alerts.open.map((a) => el("li", { class: `alert ${a.severity}`,
                                                 "data-alert": a.alert_id },
    el("strong", {}, `${a.rule}${a.noaa_scale ? ` (${a.noaa_scale})` : ""}`),
    ` ${a.severity} since ${utc(a.started_at)}, peak ${pct(a.peak_probability)}` +
    (a.location && a.location.noaa_location ? ` at ${a.location.noaa_location}` : "")));
  document.getElementById("open-alerts").replaceChildren(
    ...(open.length ? open : [el("li", { class: "none" }, "none")]));
  replaceRows(document.getElementById("alert-log"), alerts.alerts.map((a) => el("tr", {},
    el("td", { class: a.state }, a.state), el("td", {}, a.rule), el("td", {}, a.severity),
    el("td", {}, utc(a.started_at)), el("td", {}, pct(a.peak_probability)),
    el("td", {}, (a.location && a.location.noaa_location) || "–"), el("td", {}, a.message))));
}

function renderGoes(goes) {
  const section = document.getElementById("goes-section");
  section.hidden = !goes;
  if (!goes) return;
  const fmt = (v) => (v === null || v === undefined ? "–" : v.toFixed(2));
  const latest = goes.latest;
  document.getElementById("goes-latest").textContent = latest
    ? `XRS-B ${latest.flux_w_m2.toExponential(2)} W/m² at ${utc(latest.time)}` : "no GOES data yet";
  replaceRows(document.getElementById("goes-scores"), goes.scores.map((r) => el("tr", {},
    el("td", {}, r.package || "–"), el("td", {}, `≥${r.threshold}`), el("td", {}, r.window), el("td", {}, fmt(r.tss)),
    el("td", {}, fmt(r.hss)), el("td", {}, String(r.hits)), el("td", {}, String(r.misses)),
    el("td", {}, String(r.false_alarms)), el("td", {}, String(r.correct_negatives)))));
  const events = goes.recent_events.map((e) => (typeof e === "string" ? e : JSON.stringify(e)));
  document.getElementById("goes-events").textContent =
    `${goes.pending_predictions} predictions waiting for GOES data` +
    (events.length ? ` · recent X-ray events: ${events.slice(-3).join("; ")}` : "");
}

function renderModels(models) {
  const fmt = (v) => (v === null || v === undefined ? "–" : v.toFixed(2));
  const atM = (entry, key) => entry.live.filter((r) => r.threshold === "M")
    .map((r) => `${r.window}: ${fmt(r[key])}` + (key === "tss" ? ` (n ${r.n})` : "")).join(" · ")
    || "not scored yet";
  replaceRows(document.getElementById("models"), models.packages.map((p) => el("tr",
    { "data-role": p.role, "data-package": p.package },
    el("td", { class: p.role === "serving" ? "serving" : "" },
       p.role === "serving" ? "serving (champion)" : "shadow (challenger)"),
    el("td", { title: p.model.sha256 }, p.package),
    el("td", { class: p.synthetic_only ? "warn" : "" }, p.model.provenance.data),
    el("td", {}, fmt(p.card.test_tss && p.card.test_tss.M)),
    el("td", {}, atM(p, "tss")), el("td", {}, atM(p, "hss")),
    el("td", {}, p.role === "shadow" ? `${p.frames} / ${p.skipped}` : "–"))));
  document.getElementById("models-refused").textContent = models.refused.length
    ? `refused shadow packages: ${models.refused.map((r) => `${r.path} (${r.reason})`).join("; ")}`
    : "";
}

// -- refresh loop --------------------------------------------------------------
async function refresh() {
  const error = document.getElementById("error");
  try {
    const [status, latest, channels, history, alerts, models] = await Promise.all([
      api("/api/v1/status"), api("/api/v1/frames/latest", { allow404: true }),
      api("/api/v1/channels"), api(`/api/v1/history?hours=${HOURS}&points=${SPARK_W}`),
      api("/api/v1/alerts?limit=20"), api("/api/v1/models")]);
    renderSummary(status);
    renderFeeds(status);
    renderChannels(channels.channels, status.time);
    renderHistory(history);
    renderAlerts(alerts);
    renderGoes(status.goes);
    renderModels(models);
    await renderLatest(latest);
    error.hidden = true;
    document.getElementById("token-dialog").hidden = true;
    document.body.dataset.state = "ready";
  } catch (exc) {
    if (exc instanceof Unauthorized) {
      document.getElementById("token-dialog").hidden = false;
      document.body.dataset.state = "unauthorized";
    } else {
      error.textContent = `cannot read the daemon's API: ${exc.message}`;
      error.hidden = false;
      document.body.dataset.state = "error";
    }
  }
  clearTimeout(timer);
  timer = setTimeout(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("hours").textContent = String(HOURS);
  document.getElementById("token-save").addEventListener("click", () => {
    const value = document.getElementById("token-input").value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
    refresh();
  });
  refresh();
});
