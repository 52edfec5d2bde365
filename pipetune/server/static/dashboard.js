// pipetune dashboard: one page, hand-written, no build step. Routes live in the URL's hash:
//   #/                                  studies, grouped by experiment
//   #/studies/SID                       a study: best trial, plots, trials table
//   #/studies/SID/trials/NUMBER         a trial in full
//   #/studies/SID/compare/N1,N2,...     trials side by side
// Data comes from the read-only JSON routes under api/v1/dashboard (pipetune/server/dashboard.py).
// A server with tokens answers 401 without one: the page then asks for a token (or takes
// ?token=... from its URL once), keeps it in sessionStorage and sends it as a bearer token.
"use strict";

const API = "api/v1/dashboard";
const TOKEN_KEY = "pipetune.token";
const POLL_MS = 3000;
const PLOT_TITLES = {
  optimization_history: "History", parallel_coordinate: "Parallel coordinates",
  param_importances: "Importances", slice: "Slice", contour: "Contour",
  intermediate_values: "Intermediate values", edf: "EDF", timeline: "Timeline", rank: "Rank",
  pareto_front: "Pareto front",
};
const PLOTLY_CONFIG = { responsive: true, displaylogo: false };

let pollTimer = null;   // the current page's refresh loop
let routeSerial = 0;    // bumps on navigation, so a late answer for an old page is dropped

// -- small helpers -------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {  // builders may return arrays of nodes
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    return abs !== 0 && (abs < 1e-4 || abs >= 1e6) ? value.toExponential(4) : String(Number(value.toPrecision(6)));
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function fmtValues(values) {
  return values ? values.map(fmt).join(", ") : "";
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1) return `${Number((seconds * 1000).toPrecision(3))}ms`;
  if (seconds < 60) return `${Number(seconds.toPrecision(3))}s`;
  const total = Math.round(seconds), s = total % 60, m = Math.floor(total / 60) % 60, h = Math.floor(total / 3600);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}h${pad(m)}m${pad(s)}s` : `${m}m${pad(s)}s`;
}

// Datetimes come with their UTC offset; they are shown in this browser's time zone.
function fmtTime(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, "0");
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} ` +
    `${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}`;
}

function fmtBytes(size) {
  if (size < 1024) return `${size} B`;
  const units = ["KB", "MB", "GB"];
  let value = size / 1024, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${Number(value.toPrecision(3))} ${units[unit]}`;
}

function fmtAgo(iso) {
  if (!iso) return "";
  const stamp = Date.parse(iso);
  if (Number.isNaN(stamp)) return fmtTime(iso);
  const seconds = Math.max(0, (Date.now() - stamp) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

function badge(state) {
  return el("span", { class: `badge ${state}` }, state.toLowerCase());
}

function showError(where, error) {
  where.replaceChildren(el("p", { class: "error" }, error.message || String(error)));
}

function setCrumbs(...parts) {
  document.getElementById("crumbs").replaceChildren(
    ...parts.flatMap((part, i) => [i ? " / " : "", part]));
}

function setLive(text) {
  document.getElementById("live").textContent = text;
}

// A params / user_attrs / metrics field of the search language, its name quoted when needed.
function field(group, name) {
  if (/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(name)) return `${group}.${name}`;
  return name.includes("`") ? `${group}."${name}"` : `${group}.\`${name}\``;
}

// -- talking to the server -----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

let pendingLogin = null;

function askToken(message) {
  if (!pendingLogin) {
    pendingLogin = new Promise((resolve) => {
      const dialog = document.getElementById("login");
      document.getElementById("login-message").textContent = message || "";
      const form = document.getElementById("login-form");
      form.onsubmit = () => {
        sessionStorage.setItem(TOKEN_KEY, document.getElementById("login-token").value.trim());
        document.getElementById("forget-token").hidden = false;
        pendingLogin = null;
        resolve();
      };
      dialog.showModal();
    });
  }
  return pendingLogin;
}

async function request(path) {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const response = await fetch(API + path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (response.status === 401) {
      const body = await response.json().catch(() => ({}));
      sessionStorage.removeItem(TOKEN_KEY);
      await askToken(body.message);
      continue;
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({ message: response.statusText }));
      throw new ApiError(response.status, body.message || `HTTP ${response.status}`);
    }
    return response;
  }
}

const getJSON = async (path) => (await request(path)).json();

async function download(path, fallbackName) {
  const response = await request(path);
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (/filename="([^"]+)"/.exec(disposition) || [])[1] || fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function takeTokenFromUrl() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  document.getElementById("forget-token").hidden = !sessionStorage.getItem(TOKEN_KEY);
}

// -- plots ---------------------------------------------------------------------------------

// plotly.js (4.8 MB) is fetched on the first drawing, not with the page: compiling it holds
// the browser's main thread for a second or more, and tables should not wait for that. The
// page names the script in <html data-plotly>, empty when the server has no plotly.
let plotlyLoading = null;

function plotlyReady() {
  if (!plotlyLoading) {
    plotlyLoading = new Promise((resolve) => {
      const source = document.documentElement.dataset.plotly;
      if (!source) { resolve(false); return; }
      const script = document.createElement("script");
      script.src = source;
      script.onload = () => resolve(true);
      script.onerror = () => resolve(false);
      document.head.append(script);
    });
  }
  return plotlyLoading;
}

function hasPlotly() {
  return typeof window.Plotly !== "undefined";
}

async function drawFigure(div, figure) {
  await plotlyReady();
  if (!hasPlotly()) {
    div.replaceChildren(el("p", { class: "plot-message" }, "Plots need the 'plotly' package on the server: pip install 'pipetune[server]'."));
    return;
  }
  const layout = Object.assign({}, figure.layout, { autosize: true });
  delete layout.width;
  window.Plotly.react(div, figure.data || [], layout, PLOTLY_CONFIG);
}

function lineChart(div, series, title, xTitle) {
  drawFigure(div, {
    data: series.map(({ name, points }) => ({
      type: "scatter", mode: "lines+markers", name,
      x: points.map((p) => p[0]), y: points.map((p) => (typeof p[1] === "string" ? null : p[1])),
    })),
    layout: { title: { text: title }, xaxis: { title: { text: xTitle } }, margin: { t: 40, r: 10 }, height: 360 },
  });
}

// -- studies list --------------------------------------------------------------------------

async function renderStudies(main, serial) {
  setCrumbs("studies");
  const studies = await getJSON("/studies");
  if (serial !== routeSerial) return;
  if (!studies.length) {
    main.replaceChildren(el("div", { class: "card" }, el("h2", {}, "No study yet"),
      el("p", { class: "muted" }, "Run one with storage pointing at this server's database, e.g. pipetune tune study.yaml.")));
    return;
  }
  const groups = new Map();
  for (const study of studies) {
    const key = study.experiment || "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(study);
  }
  const sections = [];
  for (const [experiment, members] of [...groups.entries()].sort(([a], [b]) => (a === "") - (b === "") || a.localeCompare(b))) {
    sections.push(el("div", { class: "group-title" }, experiment ? `Experiment ${experiment}` : "Studies"));
    sections.push(el("div", { class: "table-wrap card", style: "padding:0" }, el("table", { class: "studies" },
      el("thead", {}, el("tr", {}, ["Study", "Kind", "State", "Direction", "Trials", "Best", "Last activity", "Started"].map((h) => el("th", {}, h)))),
      el("tbody", {}, grouped(members).map(studyRow)))));
  }
  main.replaceChildren(el("h1", {}, "Studies", el("span", { class: "count" }, `${studies.length}`)), ...sections);
}

// Each study followed by the runs that re-run its params (its final run, its best trial
// re-run); a run of no study listed here stays in its place.
function grouped(members) {
  const names = new Set(members.map((study) => study.study_name));
  const runsOf = new Map();
  for (const study of members) {
    if (study.kind !== "run" || !names.has(study.parent) || study.parent === study.study_name) continue;
    if (!runsOf.has(study.parent)) runsOf.set(study.parent, []);
    runsOf.get(study.parent).push(study);
  }
  const placed = new Set([...runsOf.values()].flat());
  return members.filter((study) => !placed.has(study))
    .flatMap((study) => [study, ...(runsOf.get(study.study_name) || [])]);
}

function studyRow(study) {
  const s = study.states;
  const best = study.best;
  let bestText = "";
  if (best && best.values) bestText = el("span", {}, fmtValues(best.values), el("span", { class: "count" }, `#${best.number}`));
  else if (best && best.n_pareto) bestText = `${best.n_pareto} on the Pareto front`;
  const isRun = study.kind === "run";
  return el("tr", { class: isRun && study.parent ? "child" : "" },
    el("td", {}, el("a", { href: `#/studies/${study.study_id}` }, study.study_name)),
    el("td", { class: "muted" }, isRun ? (study.parent ? `run of ${study.parent}` : "run") : "study"),
    el("td", {}, badge(study.state)),
    el("td", {}, study.directions.join(", ")),
    el("td", { class: "num", title: Object.entries(s).filter(([, n]) => n).map(([k, n]) => `${k}: ${n}`).join(", ") },
      study.n_trials, s.RUNNING ? el("span", { class: "count" }, `${s.RUNNING} running`) : ""),
    el("td", { class: "num" }, bestText),
    el("td", { title: fmtTime(study.last_activity) }, fmtAgo(study.last_activity)),
    el("td", {}, fmtTime(study.datetime_start)));
}

// -- study page ----------------------------------------------------------------------------

async function renderStudy(main, serial, studyId) {
  let study = await getJSON(`/studies/${studyId}`);
  if (serial !== routeSerial) return;
  setCrumbs(el("a", { href: "#/" }, "studies"), study.study_name);
  const view = {
    sort: "number", desc: false, limit: 50, offset: 0, filter: "", states: "",
    plot: study.plot_kinds.includes("optimization_history") ? "optimization_history" : study.plot_kinds[0],
    plotParams: new Set(), shownParams: [], selected: new Set(),
    plotRequest: 0, tableRequest: 0,  // only the latest answer is drawn (clicks outrun replies)
  };
  const header = el("div");
  const bestCard = el("div", { class: "card", id: "best-card" });
  const plotDiv = el("div", { class: "plot", id: "study-plot" });
  const plotTabs = el("div", { class: "tabs", id: "plot-tabs" });
  const paramPick = el("div", { class: "params-pick" });
  const tableArea = el("div", { id: "trials" });
  const tableMessage = el("div", { class: "filter-message" });
  const pagerInfo = el("span", { class: "muted" });
  const filterBox = el("input", { type: "text", class: "grow", id: "filter",
    placeholder: "filter, e.g. params.lr < 0.01 and value < 0.5 (Enter to apply)" });
  const stateSelect = el("select", { id: "state-filter", "aria-label": "state" },
    el("option", { value: "" }, "all states"),
    ["COMPLETE", "RUNNING", "PRUNED", "FAIL", "WAITING"].map((s) => el("option", { value: s }, s.toLowerCase())));
  const compareButton = el("button", { type: "button", id: "compare", disabled: true }, "Compare");
  const pageSize = el("select", { "aria-label": "rows per page" }, [25, 50, 100, 200].map((n) => el("option", { value: n, selected: n === 50 }, `${n} rows`)));

  function renderHeader() {
    header.replaceChildren(el("h1", {}, study.study_name, badge(study.state),
      el("span", { class: "count" }, `${study.directions.join(", ")} · ${plural(study.n_trials, "trial")}`),
      study.kind === "run" && study.parent ? el("span", { class: "count" }, `run of ${study.parent}`) : "",
      study.experiment ? el("span", { class: "count" }, `experiment ${study.experiment}`) : ""));
    const best = study.best;
    if (!best) {
      bestCard.replaceChildren(el("h2", {}, "Best trial"), el("p", { class: "muted" }, "No completed trial yet."));
    } else if (best.values) {
      bestCard.replaceChildren(el("h2", {}, "Best trial ", el("a", { href: `#/studies/${studyId}/trials/${best.number}` }, `#${best.number}`)),
        el("div", { class: "best-value" }, fmtValues(best.values)),
        el("table", { class: "kv" }, el("tbody", {}, Object.entries(best.params).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { class: "mono" }, fmt(v)))))));
    } else {
      bestCard.replaceChildren(el("h2", {}, `Pareto front: ${plural(best.n_pareto, "trial")}`),
        el("table", {}, el("tbody", {}, best.pareto_front.slice(0, 12).map((t) => el("tr", {},
          el("td", {}, el("a", { href: `#/studies/${studyId}/trials/${t.number}` }, `#${t.number}`)), el("td", { class: "mono" }, fmtValues(t.values)))))));
    }
    const counts = Object.entries(study.states).filter(([, n]) => n);
    bestCard.append(el("h3", {}, "Trials"), el("p", {}, counts.map(([k, n]) => el("span", { style: "margin-right:10px" }, badge(k), ` ${n}`))),
      el("p", { class: "muted", id: "study-times" }, `Started ${fmtTime(study.datetime_start)}`, el("br"), `Last activity ${fmtAgo(study.last_activity)}`));
  }

  function renderPlotControls() {
    plotTabs.replaceChildren(...study.plot_kinds.map((kind) => el("button", {
      type: "button", class: kind === view.plot ? "active" : "", "data-kind": kind,
      onclick: () => { view.plot = kind; renderPlotControls(); loadPlot(); },
    }, PLOT_TITLES[kind] || kind)));
    renderParamPick();
  }

  // The params of the figure: until one is picked, those the figure chose itself (its
  // layout.meta.params: the most important few), so the boxes show what is drawn.
  function renderParamPick() {
    const names = study.columns.params;
    paramPick.replaceChildren();
    if (study.plots_with_params.includes(view.plot) && names.length > 1) {
      const drawn = view.plotParams.size ? view.plotParams : new Set(view.shownParams);
      paramPick.append(el("span", { class: "muted" }, "params:"), ...names.map((name) => el("label", {},
        el("input", { type: "checkbox", "data-param": name, checked: drawn.has(name), onchange: (e) => {
          if (!view.plotParams.size) view.shownParams.forEach((shown) => view.plotParams.add(shown));
          if (e.target.checked) view.plotParams.add(name); else view.plotParams.delete(name);
          loadPlot();
        } }), ` ${name}`)));
    }
  }

  async function loadPlot() {
    if (!view.plot) {
      plotDiv.replaceChildren(el("p", { class: "plot-message" }, "This pipetune has no plots (pipetune.visualization is missing)."));
      return;
    }
    const params = [...view.plotParams].join(",");
    const asked = ++view.plotRequest;
    const current = () => serial === routeSerial && asked === view.plotRequest;
    try {
      const figure = await getJSON(`/studies/${studyId}/plots/${view.plot}${params ? `?params=${encodeURIComponent(params)}` : ""}`);
      await plotlyReady();
      if (!current()) return;
      if (plotDiv.querySelector(".plot-message")) plotDiv.replaceChildren();
      view.shownParams = (figure.layout && figure.layout.meta && figure.layout.meta.params) || [];
      renderParamPick();
      drawFigure(plotDiv, figure);
    } catch (error) {
      if (!current()) return;
      if (hasPlotly()) window.Plotly.purge(plotDiv);
      plotDiv.replaceChildren(el("p", { class: "plot-message" }, error.message));
    }
  }

  function query(extra) {
    const q = new URLSearchParams({ order_by: (view.desc ? "-" : "") + view.sort, ...extra });
    if (view.filter) q.set("filter", view.filter);
    if (view.states) q.set("states", view.states);
    return q.toString();
  }

  async function loadTable() {
    const asked = ++view.tableRequest;
    const current = () => serial === routeSerial && asked === view.tableRequest;
    let page;
    try {
      page = await getJSON(`/studies/${studyId}/trials?${query({ limit: view.limit, offset: view.offset })}`);
    } catch (error) {
      if (current()) showError(tableMessage, error);
      return;
    }
    if (!current()) return;
    tableMessage.replaceChildren();
    renderTable(page);
  }

  function sortHeader(label, column, numeric) {
    const arrow = view.sort === column ? (view.desc ? " ▼" : " ▲") : "";
    return el("th", { class: `sortable${numeric ? " num" : ""}`, "data-column": column, onclick: () => {
      view.desc = view.sort === column ? !view.desc : false;
      view.sort = column;
      view.offset = 0;
      loadTable();
    } }, label + arrow);
  }

  function renderTable(page) {
    const objectives = study.directions.length;
    const valueColumns = objectives === 1 ? [["value", "value"]] : study.directions.map((_, i) => [`values ${i}`, `values[${i}]`]);
    const { params, user_attrs: attrs, metrics } = study.columns;
    const bestNumber = study.best && study.best.number;
    const head = el("tr", {}, el("th", {}, ""), sortHeader("#", "number", true), sortHeader("state", "state"),
      valueColumns.map(([label, column]) => sortHeader(label, column, true)), sortHeader("duration", "duration", true),
      el("th", {}, "started"), params.map((p) => sortHeader(p, field("params", p))),
      attrs.map((a) => sortHeader(a, field("user_attrs", a))), metrics.map((m) => sortHeader(m, field("metrics", m), true)));
    const rows = page.rows.map((row) => el("tr", { class: row.number === bestNumber ? "best" : "" },
      el("td", {}, el("input", { type: "checkbox", "aria-label": `select trial ${row.number}`, checked: view.selected.has(row.number), onchange: (e) => {
        if (e.target.checked) view.selected.add(row.number); else view.selected.delete(row.number);
        updateCompare();
      } })),
      el("td", { class: "num" }, el("a", { href: `#/studies/${studyId}/trials/${row.number}` }, row.number)),
      el("td", {}, badge(row.state)),
      valueColumns.map((_, i) => el("td", { class: "num" }, row.values ? fmt(row.values[i]) : "")),
      el("td", { class: "num" }, fmtDuration(row.duration)),
      el("td", {}, fmtTime(row.datetime_start)),
      params.map((p) => el("td", { class: "mono" }, fmt(row.params[p]))),
      attrs.map((a) => el("td", { class: "mono" }, fmt(row.user_attrs[a]))),
      metrics.map((m) => el("td", { class: "num" }, fmt(row.metrics[m])))));
    tableArea.replaceChildren(el("table", { id: "trials-table" }, el("thead", {}, head), el("tbody", {}, rows)));
    const last = Math.min(page.offset + page.rows.length, page.total);
    pagerInfo.textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "no matching trial";
    prev.disabled = page.offset === 0;
    next.disabled = last >= page.total;
  }

  function updateCompare() {
    compareButton.disabled = view.selected.size < 2;
    compareButton.textContent = view.selected.size ? `Compare (${view.selected.size})` : "Compare";
  }

  const prev = el("button", { type: "button", onclick: () => { view.offset = Math.max(0, view.offset - view.limit); loadTable(); } }, "‹ Prev");
  const next = el("button", { type: "button", onclick: () => { view.offset += view.limit; loadTable(); } }, "Next ›");
  filterBox.addEventListener("keydown", (e) => { if (e.key === "Enter") { view.filter = filterBox.value.trim(); view.offset = 0; loadTable(); } });
  stateSelect.addEventListener("change", () => { view.states = stateSelect.value; view.offset = 0; loadTable(); });
  pageSize.addEventListener("change", () => { view.limit = Number(pageSize.value); view.offset = 0; loadTable(); });
  compareButton.addEventListener("click", () => {
    window.location.hash = `#/studies/${studyId}/compare/${[...view.selected].sort((a, b) => a - b).join(",")}`;
  });
  const csvButton = el("button", { type: "button", id: "csv", onclick: () =>
    download(`/studies/${studyId}/trials.csv?${query({})}`, "trials.csv").catch((e) => showError(tableMessage, e)) }, "Download CSV");

  renderHeader();
  renderPlotControls();
  main.replaceChildren(header,
    el("div", { class: "cols" }, bestCard, el("div", { class: "card" }, plotTabs, paramPick, plotDiv)),
    el("div", { class: "card" }, el("div", { class: "toolbar" }, filterBox, stateSelect, pageSize, compareButton, csvButton),
      tableMessage, el("div", { class: "table-wrap" }, tableArea), el("div", { class: "pager" }, pagerInfo, prev, next)));
  // The table first: the first plot loads plotly.js (see plotlyReady).
  await loadTable();
  await loadPlot();

  poll(serial, async () => {
    const fresh = await getJSON(`/studies/${studyId}`);
    if (serial !== routeSerial || fresh.version === study.version) return;
    const kindsChanged = fresh.plot_kinds.join() !== study.plot_kinds.join();
    study = fresh;
    renderHeader();
    if (kindsChanged) renderPlotControls();
    await Promise.all([loadTable(), loadPlot()]);
  });
}

// -- trial page ----------------------------------------------------------------------------

function kvTable(entries, mono) {
  return el("table", { class: "kv" }, el("tbody", {}, entries.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { class: mono ? "mono" : "" }, v)))));
}

async function renderTrial(main, serial, studyId, number) {
  const trial = await getJSON(`/studies/${studyId}/trials/${number}`);
  if (serial !== routeSerial) return;
  setCrumbs(el("a", { href: "#/" }, "studies"), el("a", { href: `#/studies/${studyId}` }, trial.study_name), `trial ${number}`);
  const objectives = trial.directions.map((d, i) => [trial.directions.length === 1 ? `value (${d})` : `value ${i} (${d})`, trial.values ? fmt(trial.values[i]) : ""]);
  const overview = el("div", { class: "card" }, el("h2", {}, "Overview"), kvTable([
    ["state", badge(trial.state)], ...objectives,
    ["started", fmtTime(trial.datetime_start)], ["completed", fmtTime(trial.datetime_complete)],
    ["duration", fmtDuration(trial.duration)], trial.worker ? ["worker", trial.worker] : null,
    trial.last_step === null ? null : ["last step", trial.last_step]].filter(Boolean)));
  const params = el("div", { class: "card", id: "trial-params" }, el("h2", {}, "Params"),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "value"), el("th", {}, "domain"))),
      el("tbody", {}, Object.entries(trial.params).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", { class: "mono" }, fmt(v)), el("td", { class: "muted" }, trial.distributions[k] || ""))))));
  const attrs = Object.entries(trial.user_attrs);
  const sections = [el("div", { class: "grid" }, overview, params,
    attrs.length ? el("div", { class: "card" }, el("h2", {}, "User attrs"), kvTable(attrs.map(([k, v]) => [k, fmt(v)]), true)) : "")];
  if (trial.intermediate_values.length) {
    const curve = el("div", { class: "plot", id: "intermediate-plot" });
    sections.push(el("div", { class: "card" }, el("h2", {}, "Intermediate values"), curve,
      el("details", {}, el("summary", {}, plural(trial.intermediate_values.length, "step")),
        kvTable(trial.intermediate_values.map(([step, value]) => [step, fmtValues([].concat(value))]), true))));
    requestAnimationFrame(() => lineChart(curve, [{ name: `trial ${number}`, points: trial.intermediate_values.map(([s, v]) => [s, [].concat(v)[0]]) }], "", "step"));
  }
  const metricNames = Object.keys(trial.metric_history).sort();
  if (metricNames.length) {
    const charts = metricNames.map((name) => el("div", { class: "plot metric-plot", "data-metric": name }));
    sections.push(el("div", { class: "card", id: "trial-metrics" }, el("h2", {}, "Metrics"), el("div", { class: "grid" }, charts)));
    requestAnimationFrame(() => charts.forEach((div, i) =>
      lineChart(div, [{ name: metricNames[i], points: trial.metric_history[metricNames[i]] }], metricNames[i], "step")));
  }
  if (trial.artifacts && trial.artifacts.length) {
    sections.push(el("div", { class: "card", id: "trial-artifacts" }, el("h2", {}, "Artifacts"),
      el("table", {}, el("thead", {}, el("tr", {}, ["name", "type", "size", "stored", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, trial.artifacts.map((a) => artifactRow(studyId, number, a))))));
  }
  if (trial.has_log) {
    const log = el("pre", { class: "log", id: "trial-log" }, "Loading…");
    sections.push(el("div", { class: "card" }, el("h2", {}, "Log ", el("span", { class: "count" }, `last ${LOG_TAIL_LINES} lines · the whole file: output.log under Artifacts`)), log));
    request(`/studies/${studyId}/trials/${number}/log?tail=${LOG_TAIL_LINES}`).then((r) => r.text()).then((text) => {
      log.textContent = text || "(empty)";
      log.scrollTop = log.scrollHeight;  // the end (the final value, the error) in view
    }).catch((error) => { log.textContent = error.message; });
  }
  sections.push(el("div", { class: "card" }, el("details", {}, el("summary", {}, "System attrs"),
    kvTable(Object.entries(trial.system_attrs).map(([k, v]) => [k, fmt(v)]), true))));
  main.replaceChildren(el("h1", {}, `Trial #${number}`, badge(trial.state), el("span", { class: "count" }, trial.study_name)), ...sections);
  if (trial.state === "RUNNING" || trial.state === "WAITING") {
    poll(serial, async () => {
      const fresh = await getJSON(`/studies/${studyId}/trials/${number}`);
      if (serial === routeSerial && (fresh.state !== trial.state || fresh.intermediate_values.length !== trial.intermediate_values.length)) route();
    });
  }
}

const LOG_TAIL_LINES = 2000;
const PREVIEWED_IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
const PLOTLY_JSON = "application/vnd.plotly.v1+json";

function artifactPath(studyId, number, name) {
  return `/studies/${studyId}/trials/${number}/artifacts/${name.split("/").map(encodeURIComponent).join("/")}`;
}

// Previews are drawn by this page (an <img> or a plotly chart), never by opening the file:
// an HTML or SVG artifact opened in this origin could read the token.
function artifactRow(studyId, number, artifact) {
  const path = artifactPath(studyId, number, artifact.name);
  const preview = el("div", { class: "artifact-preview" });
  const canPreview = PREVIEWED_IMAGES.has(artifact.media_type) || artifact.media_type === PLOTLY_JSON;
  // The route sends every artifact as a download (application/octet-stream): the bytes are
  // fetched with the token and drawn here.
  const show = async () => {
    const data = await (await request(path)).blob();
    if (artifact.media_type === PLOTLY_JSON) {
      const div = el("div", { class: "plot" });
      preview.replaceChildren(div);
      await drawFigure(div, JSON.parse(await data.text()));
    } else {
      const url = URL.createObjectURL(new Blob([data], { type: artifact.media_type }));
      preview.replaceChildren(el("img", { src: url, alt: artifact.name, onload: () => URL.revokeObjectURL(url) }));
    }
  };
  const toggle = el("button", { type: "button", class: "show", onclick: () => {
    if (preview.childElementCount) { preview.replaceChildren(); toggle.textContent = "Show"; return; }
    toggle.textContent = "Hide";
    show().catch((e) => showError(preview, e));
  } }, "Show");
  return [el("tr", { "data-artifact": artifact.name },
    el("td", { class: "mono" }, artifact.name), el("td", { class: "muted" }, artifact.media_type),
    el("td", { class: "num" }, fmtBytes(artifact.size)), el("td", {}, fmtTime(artifact.created_at)),
    el("td", {}, canPreview ? toggle : "", " ",
      el("button", { type: "button", class: "download", onclick: () => download(path, artifact.name.split("/").pop()).catch((e) => showError(preview, e)) }, "Download"))),
  el("tr", { class: "preview-row" }, el("td", { colspan: 5 }, preview))];
}

// -- compare page --------------------------------------------------------------------------

async function renderCompare(main, serial, studyId, numbers) {
  const data = await getJSON(`/studies/${studyId}/compare?numbers=${encodeURIComponent(numbers)}`);
  if (serial !== routeSerial) return;
  setCrumbs(el("a", { href: "#/" }, "studies"), el("a", { href: `#/studies/${studyId}` }, data.study_name), "compare");
  const trials = data.trials;
  const union = (key) => [...new Set(trials.flatMap((t) => Object.keys(t[key])))].sort();
  const rows = [
    ["state", (t) => t.state],
    ...data.directions.map((d, i) => [data.directions.length === 1 ? "value" : `value ${i}`, (t) => (t.values ? fmt(t.values[i]) : "")]),
    ["duration", (t) => fmtDuration(t.duration)],
    ["last step", (t) => (t.last_step === null ? "" : String(t.last_step))],
    ...union("params").map((p) => [`params.${p}`, (t) => fmt(t.params[p])]),
    ...union("user_attrs").map((a) => [`user_attrs.${a}`, (t) => fmt(t.user_attrs[a])]),
    ...union("metrics").map((m) => [`metrics.${m}`, (t) => fmt(t.metrics[m])]),
  ].filter(([, get]) => trials.some((t) => get(t) !== ""));  // no row blank for every trial
  const table = el("table", { id: "compare-table" },
    el("thead", {}, el("tr", {}, el("th", {}, ""), trials.map((t) => el("th", {}, el("a", { href: `#/studies/${studyId}/trials/${t.number}` }, `trial #${t.number}`))))),
    el("tbody", {}, rows.map(([label, get]) => {
      const cells = trials.map(get);
      return el("tr", { class: new Set(cells).size > 1 ? "differs" : "" }, el("th", {}, label),
        cells.map((c, i) => el("td", { class: "mono" }, label === "state" ? badge(trials[i].state) : c)));
    })));
  const sections = [el("h1", {}, `Comparing ${trials.length} trials`),
    el("div", { class: "card" }, el("p", { class: "muted" }, "Rows that differ are highlighted."), el("div", { class: "table-wrap" }, table))];
  if (trials.some((t) => t.intermediate_values.length)) {
    const curve = el("div", { class: "plot", id: "compare-plot" });
    sections.push(el("div", { class: "card" }, el("h2", {}, "Intermediate values"), curve));
    requestAnimationFrame(() => lineChart(curve, trials.map((t) => ({ name: `trial ${t.number}`, points: t.intermediate_values.map(([s, v]) => [s, [].concat(v)[0]]) })), "", "step"));
  }
  const metricNames = union("metric_history");
  if (metricNames.length) {
    const charts = metricNames.map(() => el("div", { class: "plot metric-plot" }));
    sections.push(el("div", { class: "card" }, el("h2", {}, "Metrics"), el("div", { class: "grid" }, charts)));
    requestAnimationFrame(() => charts.forEach((div, i) => lineChart(div, trials.map((t) => ({
      name: `trial ${t.number}`, points: t.metric_history[metricNames[i]] || [] })), metricNames[i], "step")));
  }
  main.replaceChildren(...sections);
}

// -- routing -------------------------------------------------------------------------------

function poll(serial, refresh) {
  setLive("live");
  pollTimer = setInterval(async () => {
    if (serial !== routeSerial || document.hidden) return;
    try {
      await refresh();
      setLive(`live · checked ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      setLive(`live · ${error.message}`);
    }
  }, POLL_MS);
}

async function route() {
  const serial = ++routeSerial;
  clearInterval(pollTimer);
  setLive("");
  const main = document.getElementById("main");
  const path = window.location.hash.replace(/^#/, "") || "/";
  let match;
  try {
    if ((match = path.match(/^\/studies\/(\d+)\/trials\/(\d+)$/))) await renderTrial(main, serial, match[1], match[2]);
    else if ((match = path.match(/^\/studies\/(\d+)\/compare\/([\d,]+)$/))) await renderCompare(main, serial, match[1], match[2]);
    else if ((match = path.match(/^\/studies\/(\d+)$/))) await renderStudy(main, serial, match[1]);
    else {
      await renderStudies(main, serial);
      poll(serial, () => renderStudies(main, serial));
    }
  } catch (error) {
    if (serial === routeSerial) showError(main, error);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromUrl();
  document.getElementById("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    window.location.reload();
  });
  window.addEventListener("hashchange", route);
  route();
});
