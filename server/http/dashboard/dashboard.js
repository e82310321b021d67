// flopd's built-in dashboard: one host's devices, jobs, results and figures,
// read from flopd's read-only HTTP API (docs/HTTP.md). Plain ES2020, no
// dependencies, no build step. Every URL is relative to the page, so it works
// behind a path prefix.
//
// Data contract: bodies are flopd.v1 messages in protobuf's JSON mapping with
// proto field names; 64-bit integers (n, flops, min_bytes, *_unix_ms, ...)
// arrive as strings and go through Number(); a message field that is not set
// (Result.roofline, DeviceInfo.ceilings) may be absent.
//
// Expected conditions (no store, a store that is off or unavailable, an empty
// history) are shown on the page and never logged as console errors.
'use strict';

// ------------------------------------------------------------------ settings

const POLL_HOST_MS = 5000;
const POLL_JOBS_MS = 2000;
const RECENT_JOBS = 20;
const HISTORY_PAGE_SIZE = 1000;
const HISTORY_MAX_PAGES = 20;        // the figures load at most 20,000 stored results
const POINT_HISTORY_MAX_PAGES = 20;
const RESULT_ROWS = 200;             // rows of the results table
const SEEN_MAX = 50000;              // result identities kept to drop replayed duplicates
const RESUME_OVERLAP_MS = 2000;      // a resumed watch replays this much again (duplicates dropped)
const BACKOFF_MS = [1000, 2000, 5000, 10000, 30000];
const RENDER_DELAY_MS = 250;

// ------------------------------------------------------------------ state

const state = {
  host: null,              // the latest HostInfo
  hostError: false,
  storeUsable: null,       // false while the store is off or unavailable (history reads fail)
  historyLoaded: false,
  historyTruncated: false,
  points: new Map(),       // pointKey -> the latest record of that point
  rows: [],                // records for the results table (sorted, trimmed when rendered)
  seen: new Set(),         // identities of the records received (replay overlap)
  lastMeasuredMs: 0,       // newest measured_unix_ms received
  received: 0,             // results taken (history and live, duplicates not counted)
  activeJobs: [],
  recentJobs: [],
  jobsLoaded: false,
  selection: null,         // {device, op, impl, params, dtype, n, timing} for the point history
  selectionHistory: null,  // records of the selection, oldest first; null while loading
  selectionSeq: 0,
  ceilingsSeen: '',        // the devices' ceilings last drawn
  pickerSeen: '',          // the picker's options and selection last drawn
  errors: new Map(),       // source -> message shown in the banner
  notices: new Map(),      // source -> informational message shown in the banner
};

// ------------------------------------------------------------------ DOM helpers

const $ = (id) => document.getElementById(id);

// h('td', {class: 'num', title: 't'}, 'text', child...): an element; null and
// false children are skipped, strings become text (never parsed as HTML).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function appendAll(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

function replace(el, ...children) {
  el.replaceChildren();
  appendAll(el, children);
}

// ------------------------------------------------------------------ formatting

function sig(x, digits = 3) {
  if (!Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(digits - 1).replace('e+', 'e');
  return String(Number(x.toPrecision(digits)));
}

// Seconds with a unit: "221 µs".
function fmtSeconds(sec) {
  if (!Number.isFinite(sec)) return '–';
  const a = Math.abs(sec);
  if (a === 0) return '0 s';
  if (a < 1e-6) return `${sig(sec * 1e9)} ns`;
  if (a < 1e-3) return `${sig(sec * 1e6)} µs`;
  if (a < 1) return `${sig(sec * 1e3)} ms`;
  return `${sig(sec)} s`;
}

// A count with an SI suffix: 1000 -> "1k", 2e6 -> "2M".
function fmtCount(x) {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  for (const [div, suffix] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
    if (a >= div) return `${sig(x / div)}${suffix}`;
  }
  return sig(x);
}

function fmtBytes(b) {
  if (!Number.isFinite(b)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return `${i === 0 ? b : sig(b)} ${units[i]}`;
}

const fmtPercent = (x) => (Number.isFinite(x) ? `${sig(100 * x, 3)}%` : '–');
const fmtRatio = (x) => (Number.isFinite(x) ? `${sig(x, 3)}×` : '–');
const fmtGflops = (x) => (Number.isFinite(x) ? sig(x, 4) : '–');

const pad2 = (x) => String(x).padStart(2, '0');

// Local wall-clock time; the date too when not today.
function fmtTime(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time}`;
}

function fmtDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const sec = ms / 1000;
  if (sec < 60) return `${sig(sec, 2)} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ${Math.round((sec % 3600) / 60)} min`;
  return `${Math.floor(sec / 86400)} d ${Math.round((sec % 86400) / 3600)} h`;
}

const fmtAgo = (ms) => (ms ? `${fmtDuration(Date.now() - ms)} ago` : '–');

// ------------------------------------------------------------------ HTTP

class ApiError extends Error {
  constructor(path, status, code, message) {
    super(`${path}: ${status ? `HTTP ${status} ` : ''}${code}${message ? `: ${message}` : ''}`);
    this.status = status;
    this.code = code;
    this.detail = message;
  }
}

// GET a JSON body; ApiError carries flopd's {"code", "message"} on failure.
async function getJson(path) {
  let resp;
  try {
    resp = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(path, 0, 'UNREACHABLE', 'flopd did not answer (stopped, or the network is down)');
  }
  let body = null;
  try { body = await resp.json(); } catch (e) { /* not JSON: reported below */ }
  if (!resp.ok) {
    throw new ApiError(path, resp.status, (body && body.code) || resp.statusText || 'ERROR',
                       (body && body.message) || '');
  }
  if (body === null) throw new ApiError(path, resp.status, 'BAD_RESPONSE', 'the body is not JSON');
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

// Every page of a list endpoint: calls onPage(items) per page; stops after
// maxPages (returns true when pages were left).
async function getPages(path, params, field, maxPages, onPage) {
  let token = '';
  for (let page = 0; page < maxPages; page++) {
    const body = await getJson(path + query({ ...params, page_token: token }));
    onPage(body[field] || []);
    token = body.next_page_token || '';
    if (!token) return false;
  }
  return true;
}

// A history endpoint failed because the store cannot be read.
const isNoStore = (e) => e instanceof ApiError && e.code === 'FAILED_PRECONDITION';

// ------------------------------------------------------------------ banner

function setError(source, message) {
  if (message) state.errors.set(source, message); else state.errors.delete(source);
  renderBanner();
}

function setNotice(source, message) {
  if (message) state.notices.set(source, message); else state.notices.delete(source);
  renderBanner();
}

function renderBanner() {
  const banner = $('banner');
  const items = [
    ...[...state.errors.values()].map((m) => h('p', { class: 'error', 'data-role': 'error' }, m)),
    ...[...state.notices.values()].map((m) => h('p', { class: 'notice', 'data-role': 'notice' }, m)),
  ];
  replace(banner, items);
  banner.hidden = items.length === 0;
}

// ------------------------------------------------------------------ results: records and keys

function paramsLabel(params) {
  return Object.keys(params || {}).sort().map((k) => `${k}=${params[k]}`).join(' ');
}

// The fields the page uses of a flopd.v1.Result (the raw samples are dropped).
function toRecord(r) {
  const time = r.time || {};
  const flops = Number(r.flops);
  const minBytes = Number(r.min_bytes);
  const roof = r.roofline || null;
  return {
    job: r.job_id || '',
    run: r.run_id || '',
    device: r.device || '',
    deviceName: r.device_name || '',
    op: r.op || '',
    impl: r.impl || '',
    params: paramsLabel(r.params),
    dtype: r.dtype || '',
    n: Number(r.n),
    flops,
    minBytes,
    timing: r.timing || 'hot',
    median: Number(time.median),
    p05: Number(time.p05),
    p95: Number(time.p95),
    noise: Number(r.relative_noise),
    stop: r.stop_reason || '',
    gflops: Number(r.gflops_per_s),
    gbytes: Number(r.gbytes_per_s),
    verified: Boolean(r.verification && r.verification.passed),
    verifyDetail: (r.verification && r.verification.detail) || '',
    intensity: roof && roof.intensity > 0 ? Number(roof.intensity)
                                          : (minBytes > 0 ? flops / minBytes : NaN),
    efficiency: roof ? Number(roof.efficiency) : NaN,
    bound: roof ? roof.bound || '' : '',
    warnings: (r.warnings || []).length,
    samples: Number(r.samples),
    ms: Number(r.measured_unix_ms),
  };
}

const seriesKey = (r) => [r.device, r.op, r.impl, r.params, r.dtype, r.timing].join('|');
const pointKey = (r) => `${seriesKey(r)}|${r.n}`;
const identity = (r) => `${r.job}|${pointKey(r)}|${r.ms}`;
const implLabel = (r) => `${r.op}/${r.impl}${r.params ? ` ${r.params}` : ''}`;

function seriesLabel(r, withDevice) {
  let label = `${implLabel(r)} ${r.dtype}`;
  if (r.timing !== 'hot') label += ` ${r.timing}`;
  if (withDevice) label += ` · ${r.device}`;
  return label;
}

// The figures' reference: matvec/gemm (what torch.mm does), as flopctl's "vs matvec".
const isBaseline = (r) => r.op === 'matvec' && r.impl === 'gemm' && r.params === '';

// Takes one result (from history or the watch stream); false for a duplicate.
function ingest(result, live) {
  const r = toRecord(result);
  if (!Number.isFinite(r.n) || !Number.isFinite(r.ms)) return false;
  const id = identity(r);
  if (state.seen.has(id)) return false;
  state.seen.add(id);
  state.received++;
  if (state.seen.size > SEEN_MAX) {
    // Forget the oldest half; a resumed watch only replays the last seconds.
    let drop = SEEN_MAX / 2;
    for (const old of state.seen) { if (drop-- <= 0) break; state.seen.delete(old); }
  }
  r.live = live;
  const key = pointKey(r);
  const prev = state.points.get(key);
  if (!prev || prev.ms <= r.ms) state.points.set(key, r);
  state.rows.push(r);
  if (state.rows.length > 4 * RESULT_ROWS) trimRows();
  if (r.ms > state.lastMeasuredMs) state.lastMeasuredMs = r.ms;
  if (live && state.selection && selectionMatches(r) && state.selectionHistory) {
    state.selectionHistory.push(r);
    scheduleRender('history');
  }
  return true;
}

function trimRows() {
  state.rows.sort((a, b) => b.ms - a.ms);
  state.rows.length = Math.min(state.rows.length, RESULT_ROWS);
}

// ------------------------------------------------------------------ rendering schedule

const pending = new Set();
let renderTimer = null;

// Coalesces redraws: many results in a burst cost one redraw.
function scheduleRender(...what) {
  for (const w of what) pending.add(w);
  if (renderTimer) return;
  renderTimer = setTimeout(() => {
    renderTimer = null;
    const todo = new Set(pending);
    pending.clear();
    if (todo.has('host')) renderHost();
    if (todo.has('jobs')) renderJobs();
    if (todo.has('figures')) renderFigures();
    if (todo.has('results')) renderResults();
    if (todo.has('picker')) renderPicker();
    if (todo.has('history')) renderHistory();
  }, RENDER_DELAY_MS);
}

// ------------------------------------------------------------------ host

async function pollHost() {
  try {
    const host = await getJson('api/v1/host');
    const restarted = state.host && state.host.started_unix_ms !== host.started_unix_ms;
    state.host = host;
    setError('host', null);
    const store = host.store || {};
    const usable = !['off', 'unavailable'].includes(store.state);
    if (!usable) {
      setNotice('store', `History is ${store.state === 'off' ? 'off' : 'unavailable'} on this host` +
        `${store.detail ? ` (${store.detail})` : ''}: jobs, results and figures need flopd's store.`);
    } else if (store.state === 'degraded') {
      setNotice('store', `The store is degraded${store.detail ? ` (${store.detail})` : ''}: ` +
        `${Number(store.results_not_stored).toLocaleString()} results measured but not stored.`);
    } else {
      setNotice('store', null);
    }
    const first = state.storeUsable === null;
    state.storeUsable = usable;
    if (first) start();
    if (restarted) {
      setNotice('restart', `flopd restarted at ${fmtTime(Number(host.started_unix_ms))}.`);
      setTimeout(() => setNotice('restart', null), 60000);
    }
    // The roofline draws the devices' ceilings: redraw when they change.
    const ceilings = JSON.stringify((host.devices || []).map((d) => [d.id, d.ceilings || null]));
    if (ceilings !== state.ceilingsSeen) { state.ceilingsSeen = ceilings; scheduleRender('figures'); }
    scheduleRender('host');
  } catch (e) {
    setError('host', `Cannot read the host: ${e.message}`);
  }
  setTimeout(pollHost, POLL_HOST_MS);
}

function renderHost() {
  const host = state.host;
  if (!host) return;
  document.title = `flopd · ${host.hostname}`;
  $('hostname').textContent = host.hostname || '(no hostname)';
  const started = Number(host.started_unix_ms);
  const store = host.store || {};
  replace($('host-meta'),
    h('span', null, `flopd ${host.flopd_version || '?'}`), ' · ',
    h('span', { title: new Date(started).toString() }, `started ${fmtTime(started)} (${fmtAgo(started)})`),
    ' · ', 'store ', badge(store.state || 'unknown'));

  const devices = host.devices || [];
  replace($('devices'), devices.length === 0 ? h('p', { class: 'empty' }, 'No devices.') :
    h('table', { class: 'grid devices', 'data-role': 'devices' },
      h('thead', null, h('tr', null,
        ['device', 'name', 'backend', 'cores / SMs', 'memory', 'healthy', 'jobs', 'measured ceilings']
          .map((c) => h('th', null, c)))),
      h('tbody', null, devices.map(deviceRow))));

  const unavailable = host.unavailable || [];
  replace($('unavailable'), unavailable.length === 0 ? null :
    h('p', { class: 'unavailable' }, 'Not offered: ', unavailable.join('; ')));

  const open = store.state === 'ok' || store.state === 'degraded';
  const rows = [
    ['state', badge(store.state || 'unknown')],
    store.state !== 'ok' && store.detail ? ['detail', store.detail] : null,
    ...(open ? storeFacts(store) : []),
    store.path ? ['file', h('code', null, store.path)] : null,
  ].filter(Boolean);
  replace($('store'), h('dl', { class: 'facts', 'data-role': 'store' },
    rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])));
}

function storeFacts(store) {
  return [
    ['results', Number(store.results).toLocaleString()],
    ['jobs', Number(store.jobs).toLocaleString()],
    ['on disk', fmtBytes(Number(store.bytes))],
    ['retention', store.retention || '–'],
    Number(store.results_not_stored) > 0 ? ['not stored', `${store.results_not_stored} results (writes failed)`] : null,
  ];
}

function badge(text) {
  return h('span', { class: `badge state-${String(text).replace(/[^a-z_]/gi, '')}` }, text);
}

function deviceRow(d) {
  const memory = Number(d.memory_bytes);
  const limit = Number(d.memory_limit_bytes);
  return h('tr', { 'data-device': d.id },
    h('td', null, h('code', null, d.id)),
    h('td', null, d.name),
    h('td', null, d.backend),
    h('td', { class: 'num' }, d.cores),
    h('td', { class: 'num', title: limit ? `flopd may use ${fmtBytes(limit)} for one point` : null },
      fmtBytes(memory)),
    h('td', { title: d.health_detail || null },
      d.healthy ? h('span', { class: 'ok' }, 'yes') : h('span', { class: 'bad' }, `no${d.health_detail ? `: ${d.health_detail}` : ''}`)),
    h('td', { class: 'num' }, d.queued_jobs),
    h('td', null, ceilingsText(d)));
}

function ceilingsText(d) {
  const c = d.ceilings;
  if (!c || !(Number(c.bandwidth_bytes_per_s) > 0)) {
    return h('span', { class: 'muted' }, d.ceilings_status || 'not measured yet');
  }
  const peaks = Object.entries(c.peak_flops_per_s || {}).sort(([a], [b]) => a.localeCompare(b));
  const when = Number(c.measured_unix_ms);
  return h('span', { class: 'ceilings', title: `${c.method || ''}${when ? `\nmeasured ${fmtTime(when)}` : ''}` },
    h('span', null, `memory ${sig(c.bandwidth_bytes_per_s / 1e9)} GB/s`),
    peaks.map(([dtype, p]) => h('span', null, `${dtype} ${sig(p / 1e9)} GFLOP/s`)));
}

// ------------------------------------------------------------------ jobs

async function pollJobs() {
  try {
    const [active, recent] = await Promise.all([
      getJson(`api/v1/jobs${query({ state: 'queued,running', page_size: 100 })}`),
      getJson(`api/v1/jobs${query({ newest_first: true, page_size: RECENT_JOBS })}`),
    ]);
    state.activeJobs = active.jobs || [];
    state.recentJobs = recent.jobs || [];
    state.jobsLoaded = true;
    setError('jobs', null);
  } catch (e) {
    if (isNoStore(e)) state.storeUsable = false;
    else setError('jobs', `Cannot list jobs: ${e.message}`);
  }
  scheduleRender('jobs');
  if (state.storeUsable !== false) setTimeout(pollJobs, POLL_JOBS_MS);
}

function renderJobs() {
  if (state.storeUsable === false) {
    const msg = h('p', { class: 'empty' }, 'Jobs are kept in the store, which is not available on this host.');
    replace($('jobs-active'), msg);
    replace($('jobs-recent'));
    $('jobs-recent-title').hidden = true;
    return;
  }
  if (!state.jobsLoaded) return;
  const active = state.activeJobs;
  replace($('jobs-active'), active.length === 0
    ? h('p', { class: 'empty' }, 'None: every device is idle.')
    : jobTable(active, true));
  replace($('jobs-recent'), state.recentJobs.length === 0
    ? h('p', { class: 'empty' }, 'No jobs yet.')
    : jobTable(state.recentJobs, false));
}

function jobTable(jobs, active) {
  const head = active
    ? ['state', 'job', 'run', 'device', 'client', 'progress', 'created', 'started', 'running for']
    : ['state', 'job', 'run', 'device', 'client', 'points', 'created', 'took', 'status'];
  return h('table', { class: 'grid jobs' },
    h('thead', null, h('tr', null, head.map((c) => h('th', null, c)))),
    h('tbody', null, jobs.map((j) => jobRow(j, active))));
}

function jobRow(j, active) {
  const created = Number(j.created_unix_ms);
  const started = Number(j.started_unix_ms);
  const ended = Number(j.ended_unix_ms);
  const total = Number(j.points_total);
  const measured = Number(j.points_measured);
  const failed = Number(j.points_failed_verification);
  const common = [
    h('td', null, badge(j.state)),
    h('td', null, h('code', null, j.job_id)),
    h('td', null, h('code', { class: 'muted' }, j.run_id || '–')),
    h('td', null, j.device),
    h('td', { class: 'clip', title: `${j.client || ''}${j.peer ? ` (${j.peer})` : ''}` }, j.client || j.peer || '–'),
  ];
  if (active) {
    const frac = total > 0 ? measured / total : 0;
    return h('tr', { 'data-job-id': j.job_id, 'data-run': j.run_id || null, 'data-state': j.state }, common,
      h('td', { class: 'progress-cell' },
        h('span', { class: 'progress', title: `${measured} of ${total} points` },
          h('span', { class: 'bar', style: `width:${(100 * frac).toFixed(1)}%` })),
        ` ${measured}/${total}`),
      h('td', null, fmtTime(created)),
      h('td', null, started ? fmtTime(started) : 'queued'),
      h('td', { class: 'num' }, started ? fmtDuration(Date.now() - started) : '–'));
  }
  const status = j.status_code
    ? `${j.status_code}${j.status_message ? `: ${j.status_message}` : ''}` : '';
  return h('tr', { 'data-job-id': j.job_id, 'data-run': j.run_id || null, 'data-state': j.state }, common,
    h('td', { class: 'num' }, `${measured}/${total}`, failed > 0 ? h('span', { class: 'bad' }, ` (${failed} failed)`) : null),
    h('td', null, fmtTime(created)),
    h('td', { class: 'num' }, ended && started ? fmtDuration(ended - started) : '–'),
    h('td', { class: `clip ${j.status_code && j.status_code !== 'OK' ? 'bad' : ''}`, title: status }, status || '–'));
}

// ------------------------------------------------------------------ history and the watch stream

function start() {
  if (!state.storeUsable) {
    setLive('off', 'no store: no history, no live results');
    scheduleRender('jobs', 'figures', 'results', 'history');
    return;
  }
  pollJobs();
  loadHistory();
}

async function loadHistory() {
  setLive('loading', 'loading history…');
  try {
    state.historyTruncated = await getPages(
      'api/v1/results', { newest_first: true, page_size: HISTORY_PAGE_SIZE, omit_samples: true }, 'results',
      HISTORY_MAX_PAGES, (results) => {
        for (const r of results) ingest(r, false);
        scheduleRender('figures', 'results', 'picker');
      });
    setError('history', null);
  } catch (e) {
    if (isNoStore(e)) {
      state.storeUsable = false;
      setNotice('store', `History is not available on this host: ${e.detail || e.code}`);
      setLive('off', 'no store: no history, no live results');
      scheduleRender('figures', 'results', 'history', 'jobs');
      return;
    }
    setError('history', `Cannot load the history: ${e.message}`);
  }
  state.historyLoaded = true;
  scheduleRender('figures', 'results', 'picker');
  if (!state.selection) selectFromHash() || selectNewest();
  connectWatch();
}

let watch = null;
let watchFailures = 0;

function setLive(kind, text) {
  const el = $('live-status');
  el.className = `pill live-${kind}`;
  el.dataset.state = kind;
  el.textContent = text;
}

// Subscribes to every result measured from now on. Resumes after the newest
// result received (with a little overlap, whose duplicates ingest() drops),
// so nothing measured while disconnected is missed.
function connectWatch() {
  if (watch) watch.close();
  let since = state.lastMeasuredMs ? state.lastMeasuredMs - RESUME_OVERLAP_MS : 0;
  if (!since && state.host) since = Number(state.host.started_unix_ms) || 0;
  const es = new EventSource(`api/v1/watch${query({ since_unix_ms: since > 0 ? since : '', omit_samples: true })}`);
  watch = es;
  setLive('loading', since ? 'catching up…' : 'connecting…');
  es.addEventListener('result', (ev) => {
    let result;
    try { result = JSON.parse(ev.data); } catch (e) { return; }
    if (ingest(result, true)) scheduleRender('figures', 'results', 'picker');
  });
  es.addEventListener('caught_up', () => {
    watchFailures = 0;
    setError('watch', null);
    setLive('ok', 'live');
  });
  es.addEventListener('end', (ev) => {
    // flopd ended the stream (shutting down, or this reader fell behind): resume.
    let why = {};
    try { why = JSON.parse(ev.data); } catch (e) { /* keep {} */ }
    es.close();
    reconnectWatch(`stream ended: ${why.code || 'end'}${why.message ? ` (${why.message})` : ''}`);
  });
  es.addEventListener('error', () => {
    // The browser would retry with the same URL and lose what was measured
    // meanwhile; resume ourselves instead.
    if (watch !== es) return;
    es.close();
    watchFailures++;
    reconnectWatch('disconnected');
  });
}

function reconnectWatch(why) {
  watch = null;
  const delay = BACKOFF_MS[Math.min(watchFailures, BACKOFF_MS.length - 1)];
  setLive('retry', `${why}; reconnecting in ${Math.round(delay / 1000)} s`);
  if (watchFailures >= 2) setError('watch', `Live results: ${why}; retrying every ${Math.round(delay / 1000)} s.`);
  setTimeout(connectWatch, delay);
}

// ------------------------------------------------------------------ results table

function renderResults() {
  const el = $('results');
  if (state.storeUsable === false) {
    replace(el, h('p', { class: 'empty' }, 'No results: this host keeps no history, and live results come from it.'));
    return;
  }
  trimRows();
  if (state.rows.length === 0) {
    replace(el, state.historyLoaded ? emptyHint() : h('p', { class: 'empty' }, 'Loading…'));
    return;
  }
  const head = ['measured', 'device', 'op', 'impl', 'params', 'dtype', 'N', 'median', 'GFLOP/s', 'eff.', 'noise', 'verified'];
  replace(el, h('table', { class: 'grid results', id: 'results-table' },
    h('thead', null, h('tr', null, head.map((c) => h('th', { class: ['N', 'median', 'GFLOP/s', 'eff.', 'noise'].includes(c) ? 'num' : null }, c)))),
    h('tbody', null, state.rows.map(resultRow))));
}

function resultRow(r) {
  // Live rows keep a marker; only their first drawing flashes.
  const cls = r.live ? (r.drawn ? 'live' : 'live fresh') : null;
  r.drawn = true;
  return h('tr', { 'data-role': 'result-row', 'data-live': r.live ? '1' : null, 'data-run': r.run || null,
                   'data-job': r.job, class: cls,
                   title: `job ${r.job}${r.run ? `, run ${r.run}` : ''}; ${r.samples} samples, stopped: ${r.stop}${r.warnings ? `; ${r.warnings} warning(s)` : ''}` },
    h('td', null, fmtTime(r.ms)),
    h('td', null, r.device),
    h('td', null, r.op),
    h('td', null, r.impl),
    h('td', null, r.params),
    h('td', null, r.dtype),
    h('td', { class: 'num' }, r.n),
    h('td', { class: 'num' }, fmtSeconds(r.median)),
    h('td', { class: 'num' }, fmtGflops(r.gflops)),
    h('td', { class: 'num', title: r.bound ? `${r.bound} bound` : null }, fmtPercent(r.efficiency)),
    h('td', { class: 'num' }, fmtPercent(r.noise)),
    h('td', { title: r.verifyDetail || null }, r.verified ? h('span', { class: 'ok' }, 'ok') : h('span', { class: 'bad' }, 'FAIL')));
}

function emptyHint() {
  const host = state.host ? state.host.hostname : 'HOST';
  return h('p', { class: 'empty', 'data-role': 'empty' }, 'No results yet — run ',
    h('code', null, `flopctl run --host ${host} --op outer`), ' and they appear here as they are measured.');
}

// ------------------------------------------------------------------ SVG plots

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
                 '#17becf', '#7f7f7f', '#bcbd22'];
const W = 600;
const H = 340;
const MARGIN = { left: 66, right: 14, top: 12, bottom: 46 };

// A log, linear or time scale from data to pixels, with its ticks.
function makeScale(type, values, r0, r1, opts = {}) {
  const finite = values.filter((v) => Number.isFinite(v) && (type !== 'log' || v > 0));
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (!finite.length) { lo = type === 'log' ? 1 : 0; hi = type === 'log' ? 10 : 1; }
  if (type === 'log') return logScale(lo, hi, r0, r1);
  if (type === 'time') {
    if (hi - lo < 60000) { const mid = (lo + hi) / 2; lo = mid - 30000; hi = mid + 30000; }
    const pad = (hi - lo) * 0.04;
    return timeScale(lo - pad, hi + pad, r0, r1);
  }
  if (opts.zero) lo = Math.min(0, lo);
  if (hi === lo) { hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1); lo -= hi - lo; }
  const pad = (hi - lo) * 0.06;
  return linearScale(opts.zero && lo === 0 ? 0 : lo - pad, hi + pad, r0, r1);
}

function logScale(lo, hi, r0, r1) {
  let a = Math.log10(lo);
  let b = Math.log10(hi);
  const pad = Math.max((b - a) * 0.06, 0.05);
  a -= pad; b += pad;
  if (b - a < 1) { const mid = (a + b) / 2; a = mid - 0.5; b = mid + 0.5; }  // at least one decade
  const map = (v) => r0 + ((Math.log10(v) - a) / (b - a)) * (r1 - r0);
  const span = b - a;
  const every = Math.max(1, Math.ceil(span / 7));  // labelled decades: at most ~7
  const ticks = [];
  for (let d = Math.floor(a); d <= Math.ceil(b); d++) {
    for (let m = 1; m <= 9; m++) {
      const v = m * 10 ** d;
      const lv = Math.log10(v);
      if (lv < a || lv > b) continue;
      const major = m === 1;
      const label = (major && d % every === 0) || (span <= 2.2 && (m === 2 || m === 5));
      ticks.push({ v, major, label });
    }
  }
  return { type: 'log', map, ticks, lo: 10 ** a, hi: 10 ** b };
}

function niceStep(range, count) {
  const raw = range / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

function linearScale(lo, hi, r0, r1) {
  const map = (v) => r0 + ((v - lo) / (hi - lo)) * (r1 - r0);
  const step = niceStep(hi - lo, 6);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push({ v: Math.abs(v) < step * 1e-9 ? 0 : v, major: true, label: true });
  }
  return { type: 'linear', map, ticks, lo, hi };
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                    43200, 86400, 172800, 604800, 2592000].map((x) => x * 1000);

function timeScale(lo, hi, r0, r1) {
  const map = (v) => r0 + ((v - lo) / (hi - lo)) * (r1 - r0);
  const step = TIME_STEPS.find((st) => (hi - lo) / st <= 6) || TIME_STEPS[TIME_STEPS.length - 1];
  // Align ticks to local midnight for day steps, to the step otherwise.
  const offset = new Date(lo).getTimezoneOffset() * 60000;
  const ticks = [];
  for (let v = Math.ceil((lo - offset) / step) * step + offset; v <= hi; v += step) {
    ticks.push({ v, major: true, label: true });
  }
  return { type: 'time', map, ticks, lo, hi, step };
}

function timeTickLabel(v, step) {
  const d = new Date(v);
  if (step >= 86400000) return `${d.getMonth() + 1}/${d.getDate()}`;
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return step < 60000 ? `${hm}:${pad2(d.getSeconds())}` : hm;
}

// Draws one plot into `el`:
//   spec.x / spec.y: {type: 'log'|'linear'|'time', label, format(v), zero}
//   spec.series: [{key, label, color, dash, marker, points: [{x, y, lo, hi, title, data}], band}]
//   spec.lines: [{from: [x, y], to: [x, y], color, dash, label, labelAt: 'end'|'start'|'along'|'none',
//                 role, fit}] (reference lines, ceilings; fit: false = the axes need not include them)
//   spec.extent: extra {x: [...], y: [...]} values the axes must include
//   spec.onPick(series, point): a click on a line or a marker (point null for the line)
// Returns the <svg>. Its elements carry data-role: "series" (a series' group), "point" (a marker, or
// the series' pointRole), and each line's role ("ceiling", "reference"): what tests look for.
function drawPlot(el, spec) {
  const xs = [];
  const ys = [];
  for (const se of spec.series) {
    for (const p of se.points) {
      xs.push(p.x); ys.push(p.y);
      if (se.band) { ys.push(p.lo, p.hi); }
    }
  }
  for (const l of spec.lines || []) { if (l.fit !== false) { xs.push(l.from[0], l.to[0]); ys.push(l.from[1], l.to[1]); } }
  if (spec.extent) { xs.push(...(spec.extent.x || [])); ys.push(...(spec.extent.y || [])); }
  const x0 = MARGIN.left;
  const x1 = W - MARGIN.right;
  const y0 = H - MARGIN.bottom;
  const y1 = MARGIN.top;
  const X = makeScale(spec.x.type, xs, x0, x1, spec.x);
  const Y = makeScale(spec.y.type, ys, y0, y1, spec.y);
  const clipId = `clip-${el.id}`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'plot-svg', role: 'img', 'aria-label': spec.title || '' },
    s('defs', null, s('clipPath', { id: clipId }, s('rect', { x: x0, y: y1, width: x1 - x0, height: y0 - y1 }))));

  // Grid and ticks.
  const grid = s('g', { class: 'grid-lines' });
  const axes = s('g', { class: 'axes' });
  const xfmt = spec.x.type === 'time' ? (v) => timeTickLabel(v, X.step) : spec.x.format || sig;
  const yfmt = spec.y.format || sig;
  for (const t of X.ticks) {
    const px = X.map(t.v);
    grid.append(s('line', { x1: px, x2: px, y1, y2: y0, class: t.major && t.label ? 'major' : 'minor' }));
    axes.append(s('line', { x1: px, x2: px, y1: y0, y2: y0 + (t.major ? 5 : 3), class: 'tick' }));
    if (t.label) axes.append(s('text', { x: px, y: y0 + 17, 'text-anchor': 'middle', class: 'tick-label' }, xfmt(t.v)));
  }
  for (const t of Y.ticks) {
    const py = Y.map(t.v);
    grid.append(s('line', { x1: x0, x2: x1, y1: py, y2: py, class: t.major && t.label ? 'major' : 'minor' }));
    axes.append(s('line', { x1: x0 - (t.major ? 5 : 3), x2: x0, y1: py, y2: py, class: 'tick' }));
    if (t.label) axes.append(s('text', { x: x0 - 8, y: py + 4, 'text-anchor': 'end', class: 'tick-label' }, yfmt(t.v)));
  }
  axes.append(s('rect', { x: x0, y: y1, width: x1 - x0, height: y0 - y1, class: 'frame' }));
  axes.append(s('text', { x: (x0 + x1) / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis-label' }, spec.x.label));
  axes.append(s('text', { x: 14, y: (y0 + y1) / 2, 'text-anchor': 'middle', class: 'axis-label',
                          transform: `rotate(-90 14 ${(y0 + y1) / 2})` }, spec.y.label));
  svg.append(grid, axes);

  const plot = s('g', { 'clip-path': `url(#${clipId})` });
  // Reference lines (ceilings, 1×), labelled at their right end.
  for (const l of spec.lines || []) {
    const a = [X.map(l.from[0]), Y.map(l.from[1])];
    const b = [X.map(l.to[0]), Y.map(l.to[1])];
    plot.append(s('line', { x1: a[0], y1: a[1], x2: b[0], y2: b[1], stroke: l.color || '#888',
                            'stroke-dasharray': l.dash || null, class: 'ref-line', 'data-role': l.role || 'line' },
      s('title', null, l.label || '')));
    if (l.label && l.labelAt === 'along') {
      // Along a sloped line, rotated with it, ending just before its right end (a roofline's ridge).
      const px = Math.max(Math.min(x1 - 4, b[0] - 14), a[0]);
      const py = a[1] + ((px - a[0]) / (b[0] - a[0] || 1)) * (b[1] - a[1]);
      const angle = (Math.atan2(b[1] - a[1], b[0] - a[0]) * 180) / Math.PI;
      plot.append(s('text', { x: px, y: py - 5, 'text-anchor': 'end', class: 'ref-label', fill: l.color || '#666',
                              transform: `rotate(${angle.toFixed(1)} ${px.toFixed(1)} ${py.toFixed(1)})` }, l.label));
    } else if (l.label && l.labelAt !== 'none') {
      const at = l.labelAt === 'start' ? a : b;
      const anchor = l.labelAt === 'start' ? 'start' : 'end';
      const lx = Math.min(Math.max(at[0] + (anchor === 'end' ? -4 : 4), x0 + 4), x1 - 4);
      const ly = Math.min(Math.max(at[1] - 5, y1 + 11), y0 - 4);
      plot.append(s('text', { x: lx, y: ly, 'text-anchor': anchor, class: 'ref-label', fill: l.color || '#666' }, l.label));
    }
  }
  // Series: band, line, markers.
  for (const se of spec.series) {
    const pts = se.points.filter((p) => Number.isFinite(X.map(p.x)) && Number.isFinite(Y.map(p.y)))
      .sort((p, q) => p.x - q.x);
    if (!pts.length) continue;
    const g = s('g', { class: 'series', 'data-role': 'series', 'data-key': se.key, 'data-label': se.label });
    if (se.band) {
      const upper = pts.map((p) => `${X.map(p.x).toFixed(1)},${Y.map(p.hi).toFixed(1)}`);
      const lower = pts.slice().reverse().map((p) => `${X.map(p.x).toFixed(1)},${Y.map(p.lo).toFixed(1)}`);
      g.append(s('polygon', { points: [...upper, ...lower].join(' '), fill: se.color, class: 'band' }));
    }
    if (se.line !== false && pts.length > 1) {
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${X.map(p.x).toFixed(1)},${Y.map(p.y).toFixed(1)}`).join('');
      const path = s('path', { d, stroke: se.color, 'stroke-dasharray': se.dash || null, class: 'series-line' },
        s('title', null, se.label));
      if (spec.onPick) path.addEventListener('click', () => spec.onPick(se, null));
      g.append(path);
    }
    for (const p of pts) {
      const m = marker(se.marker, X.map(p.x), Y.map(p.y), se.color, se.hollow);
      m.setAttribute('data-role', se.pointRole || 'point');
      m.append(s('title', null, p.title || `${se.label}: ${xfmt(p.x)}, ${yfmt(p.y)}`));
      if (spec.onPick) m.addEventListener('click', () => spec.onPick(se, p));
      g.append(m);
    }
    plot.append(g);
  }
  svg.append(plot);
  return svg;
}

function marker(kind, x, y, color, hollow) {
  const attrs = { class: 'marker', stroke: color, fill: hollow ? 'var(--bg-card)' : color };
  if (kind === 'square') return s('rect', { ...attrs, x: x - 3.2, y: y - 3.2, width: 6.4, height: 6.4 });
  if (kind === 'triangle') return s('path', { ...attrs, d: `M${x},${y - 4.2}L${x + 4},${y + 3}L${x - 4},${y + 3}Z` });
  if (kind === 'diamond') return s('path', { ...attrs, d: `M${x},${y - 4.5}L${x + 4},${y}L${x},${y + 4.5}L${x - 4},${y}Z` });
  return s('circle', { ...attrs, cx: x, cy: y, r: 3.4 });
}

// An HTML legend: items [{key, label, color, dash, marker, hollow}]; onClick(item).
function legend(items, onClick) {
  return h('ul', { class: 'legend' }, items.map((it) => {
    const swatch = s('svg', { width: 30, height: 12, viewBox: '0 0 30 12', 'aria-hidden': 'true' },
      it.band ? s('rect', { x: 1, y: 1, width: 28, height: 10, fill: it.color, class: 'band' }) : null,
      it.noLine || it.band ? null : s('line', { x1: 1, y1: 6, x2: 29, y2: 6, stroke: it.color, 'stroke-width': 2,
                                     'stroke-dasharray': it.dash || null }),
      it.band ? null : marker(it.marker, 15, 6, it.color, it.hollow));
    const li = h('li', { 'data-role': 'legend-item', 'data-key': it.key || null, title: it.title || null,
                         class: onClick && it.key ? 'pickable' : null },
      swatch, h('span', null, it.label));
    if (onClick && it.key) {
      li.addEventListener('click', () => onClick(it));
      li.addEventListener('mouseenter', () => highlight(li, it.key, true));
      li.addEventListener('mouseleave', () => highlight(li, it.key, false));
    }
    return li;
  }));
}

function highlight(li, key, on) {
  const card = li.closest('.card');
  if (!card) return;
  card.classList.toggle('highlighting', on);
  for (const g of card.querySelectorAll('g.series')) {
    if (g.dataset.key === key) g.classList.toggle('highlight', on);
  }
}

// ------------------------------------------------------------------ styles of series

// Colour by op/impl/params (the same in every figure), dash by dtype, marker by timing.
function styleMaps() {
  const impls = [...new Set([...state.points.values()].map(implLabel))].sort();
  const devices = [...new Set([...state.points.values()].map((r) => r.device))].sort();
  return {
    color: (r) => PALETTE[Math.max(0, impls.indexOf(implLabel(r))) % PALETTE.length],
    dash: (r) => (r.dtype === 'f32' ? null : r.dtype === 'f64' ? '7 4' : '2 3'),
    marker: (r) => ({ hot: 'circle', cold: 'square', graph: 'triangle' })[r.timing] || 'diamond',
    withDevice: devices.length > 1,
  };
}

// The latest result of each point, grouped into series (device, op, impl, params, dtype, timing).
function currentSeries() {
  const bySeries = new Map();
  for (const r of state.points.values()) {
    const k = seriesKey(r);
    if (!bySeries.has(k)) bySeries.set(k, []);
    bySeries.get(k).push(r);
  }
  for (const list of bySeries.values()) list.sort((a, b) => a.n - b.n);
  return [...bySeries.entries()].sort(([a], [b]) => a.localeCompare(b));
}

function figureEmpty(el, text) {
  replace(el, typeof text === 'string' ? h('p', { class: 'empty' }, text) : text);
}

function renderFigures() {
  const targets = ['runtime-plot', 'ratio-plot', 'roofline-plot'].map($);
  if (state.storeUsable === false) {
    for (const el of targets) figureEmpty(el, 'No figures: this host keeps no history (see the banner).');
    return;
  }
  if (state.points.size === 0) {
    for (const el of targets) figureEmpty(el, state.historyLoaded ? emptyHint() : 'Loading the history…');
    return;
  }
  const style = styleMaps();
  const series = currentSeries();
  // The legends are redrawn: a highlight from hovering the old one would stick.
  for (const el of targets) el.closest('.card').classList.remove('highlighting');
  renderRuntime($('runtime-plot'), series, style);
  if (state.historyTruncated) {
    // Results carry their raw samples, so pages are short: say what the figures leave out.
    const stored = state.host && state.host.store ? Number(state.host.store.results) : NaN;
    $('runtime-plot').append(h('p', { class: 'note', 'data-role': 'truncated' },
      `Drawn from the newest ${state.received.toLocaleString()} results` +
      `${Number.isFinite(stored) ? ` of ${stored.toLocaleString()} stored` : ''}` +
      ` (the first ${HISTORY_MAX_PAGES} pages of history); older points are not shown.`));
  }
  renderRatio($('ratio-plot'), series, style);
  renderRoofline($('roofline-plot'), style);
}

function pointTitle(r) {
  return `${seriesLabel(r, true)}, N = ${r.n}\nmedian ${fmtSeconds(r.median)} · ${fmtGflops(r.gflops)} GFLOP/s` +
    `${Number.isFinite(r.efficiency) ? ` · eff. ${fmtPercent(r.efficiency)} (${r.bound})` : ''}` +
    `\nnoise ${fmtPercent(r.noise)} · ${r.verified ? 'verified' : 'FAILED verification'} · ${fmtTime(r.ms)}`;
}

// A click on a marker picks its point; on a line or legend entry, the series at the N
// shown now (when it has it), else at its largest N.
function pick(se, p) {
  const r = p ? p.data : se.records[0];
  const ns = se.records.map((x) => x.n);
  const n = p ? r.n : (state.selection && ns.includes(state.selection.n) ? state.selection.n : Math.max(...ns));
  select({ device: r.device, op: r.op, impl: r.impl, params: r.params, dtype: r.dtype, timing: r.timing, n });
}

function legendPick(it) {
  const se = it.series;
  if (se) pick(se, null);
}

function renderRuntime(el, series, style) {
  const sers = series.map(([key, list]) => ({
    key, records: list, label: seriesLabel(list[0], style.withDevice),
    color: style.color(list[0]), dash: style.dash(list[0]), marker: style.marker(list[0]),
    points: list.map((r) => ({ x: r.n, y: r.median, title: pointTitle(r), data: r })),
  }));
  replace(el,
    drawPlot(el, { title: 'runtime vs N', x: { type: 'log', label: 'N', format: fmtCount },
                   y: { type: 'log', label: 'median time per execution', format: fmtSeconds },
                   series: sers, onPick: pick }),
    legend(sers.map((se) => ({ ...se, series: se, title: 'show this series\' history' })), legendPick));
}

function renderRatio(el, series, style) {
  const base = new Map();
  for (const r of state.points.values()) {
    if (isBaseline(r)) base.set([r.device, r.dtype, r.n, r.timing].join('|'), r.median);
  }
  const sers = [];
  for (const [key, list] of series) {
    if (isBaseline(list[0])) continue;
    const points = [];
    for (const r of list) {
      const b = base.get([r.device, r.dtype, r.n, r.timing].join('|'));
      if (!(b > 0)) continue;
      points.push({ x: r.n, y: r.median / b, data: r,
                    title: `${seriesLabel(r, true)}, N = ${r.n}: ${fmtRatio(r.median / b)} matvec/gemm` +
                           ` (${fmtSeconds(r.median)} vs ${fmtSeconds(b)})` });
    }
    if (!points.length) continue;
    sers.push({ key, records: list, label: seriesLabel(list[0], style.withDevice),
                color: style.color(list[0]), dash: style.dash(list[0]), marker: style.marker(list[0]), points });
  }
  if (!sers.length) {
    figureEmpty(el, h('p', { class: 'empty' }, 'Needs matvec/gemm at the same device, dtype and N — run ',
      h('code', null, `flopctl run --host ${state.host ? state.host.hostname : 'HOST'} --op matvec,outer`), '.'));
    return;
  }
  const xs = sers.flatMap((se) => se.points.map((p) => p.x));
  const lines = [{ from: [Math.min(...xs) / 2, 1], to: [Math.max(...xs) * 2, 1], color: '#555', dash: '4 3',
                   label: 'matvec/gemm = 1×', role: 'reference', fit: false }];
  replace(el,
    drawPlot(el, { title: 'time vs matvec', x: { type: 'log', label: 'N', format: fmtCount },
                   y: { type: 'log', label: 'median time ÷ matvec/gemm\'s', format: fmtRatio },
                   series: sers, lines, extent: { y: [1] }, onPick: pick }),
    legend(sers.map((se) => ({ ...se, series: se })), legendPick));
}

function renderRoofline(el, style) {
  // Points: the latest result of each point, coloured by op/impl/params, shaped by dtype.
  const dtypes = [...new Set([...state.points.values()].map((r) => r.dtype))].sort();
  const dtypeMarker = (d) => ['circle', 'square', 'triangle', 'diamond'][dtypes.indexOf(d) % 4];
  const groups = new Map();
  for (const r of state.points.values()) {
    if (!(r.intensity > 0) || !(r.gflops > 0)) continue;
    const k = `${implLabel(r)}|${r.dtype}|${r.device}|${r.timing}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  const sers = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, list]) => ({
    key, records: list, label: seriesLabel(list[0], style.withDevice), line: false,
    color: style.color(list[0]), marker: dtypeMarker(list[0].dtype), hollow: list[0].timing !== 'hot',
    points: list.map((r) => ({ x: r.intensity, y: r.gflops, title: pointTitle(r), data: r })),
  }));
  if (!sers.length) { figureEmpty(el, 'No result carries FLOPs and bytes yet.'); return; }

  // Ceilings of the devices that have results: bandwidth slope up to the highest ridge, flat peaks.
  const xsData = sers.flatMap((se) => se.points.map((p) => p.x));
  let xmin = Math.min(...xsData) / 3;
  let xmax = Math.max(...xsData) * 3;
  const lines = [];
  const extentY = [];
  const usedDevices = new Set([...state.points.values()].map((r) => r.device));
  const devices = ((state.host && state.host.devices) || []).filter((d) => usedDevices.has(d.id));
  const multi = devices.length > 1;
  const ceilingNotes = [];
  devices.forEach((d, i) => {
    const c = d.ceilings;
    const bw = c ? Number(c.bandwidth_bytes_per_s) : 0;
    const peaks = Object.entries((c && c.peak_flops_per_s) || {})
      .filter(([dt, p]) => p > 0 && dtypes.includes(dt)).sort(([a], [b]) => a.localeCompare(b));
    if (!(bw > 0)) { ceilingNotes.push(`${d.id}: ceilings ${d.ceilings_status || 'not measured yet'}`); return; }
    const color = multi ? ['#444', '#8a5a00', '#005f87', '#6b2c91'][i % 4] : '#444';
    const tag = multi ? `${d.id} ` : '';
    const ridges = peaks.map(([, p]) => p / bw);
    xmin = Math.min(xmin, ...ridges.map((r) => r / 30));
    xmax = Math.max(xmax, ...ridges.map((r) => r * 3));
    const ridgeTop = peaks.length ? Math.max(...ridges) : xmax;
    lines.push({ from: [xmin, (bw * xmin) / 1e9], to: [ridgeTop, (bw * ridgeTop) / 1e9], color,
                 label: `${tag}memory ${sig(bw / 1e9)} GB/s`, labelAt: 'along', role: 'ceiling', fit: false });
    extentY.push((bw * xmin) / 1e9);
    for (const [dt, p] of peaks) {
      lines.push({ from: [p / bw, p / 1e9], to: [xmax * 10, p / 1e9], color, dash: dt === 'f32' ? null : '7 4',
                   label: `${tag}${dt} peak ${sig(p / 1e9)} GFLOP/s`, role: 'ceiling', fit: false });
      extentY.push(p / 1e9);
    }
    if (!peaks.length) extentY.push((bw * xmax) / 1e9);
  });
  const plot = drawPlot(el, {
    title: 'roofline',
    x: { type: 'log', label: 'arithmetic intensity (FLOP/byte)', format: sig },
    y: { type: 'log', label: 'GFLOP/s', format: fmtCount },
    series: sers, lines, extent: { x: [xmin, xmax], y: extentY }, onPick: pick,
  });
  const items = [];
  const seen = new Set();
  for (const se of sers) {
    const r = se.records[0];
    const label = implLabel(r) + (style.withDevice ? ` · ${r.device}` : '');
    if (seen.has(label)) continue;
    seen.add(label);
    items.push({ label, color: se.color, marker: 'circle', noLine: true });
  }
  for (const d of dtypes) items.push({ label: d, color: '#666', marker: dtypeMarker(d), noLine: true, hollow: false });
  if (sers.some((se) => se.hollow)) items.push({ label: 'hollow: cold/graph timing', color: '#666', marker: 'circle', hollow: true, noLine: true });
  replace(el, plot, legend(items, null),
    ceilingNotes.length ? h('p', { class: 'note' }, ceilingNotes.join('; ')) : null);
}

// ------------------------------------------------------------------ point history

const PICK_FIELDS = ['device', 'op', 'impl', 'params', 'dtype', 'timing', 'n'];

function selectionMatches(r) {
  const sel = state.selection;
  return PICK_FIELDS.every((f) => r[f] === sel[f]);
}

function selectNewest() {
  let newest = null;
  for (const r of state.points.values()) if (!newest || r.ms > newest.ms) newest = r;
  if (newest) select(Object.fromEntries(PICK_FIELDS.map((f) => [f, newest[f]])), false);
  else scheduleRender('picker', 'history');
}

function selectFromHash() {
  const q = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (!q.has('op')) return false;
  const sel = Object.fromEntries(PICK_FIELDS.map((f) => [f, q.get(f) || '']));
  sel.n = Number(sel.n);
  select(sel, false);
  return true;
}

// Shows the history of one point; `user` when picked on the page (then it
// goes into the URL, so a reload or a shared link shows the same point).
function select(sel, user = true) {
  state.selection = sel;
  state.selectionHistory = null;
  if (user) history.replaceState(null, '', `#${new URLSearchParams(sel).toString()}`);
  scheduleRender('picker', 'history');
  loadSelection();
}

async function loadSelection() {
  const sel = state.selection;
  const seq = ++state.selectionSeq;
  const records = [];
  try {
    // Newest first, so a point with more history than the page cap shows its latest results.
    // params travel only when set (query() drops ''); timing has no filter: both checked here.
    const params = { device: sel.device, op: sel.op, impl: sel.impl, params: sel.params, dtype: sel.dtype,
                     min_n: sel.n, max_n: sel.n, newest_first: true, page_size: HISTORY_PAGE_SIZE,
                     omit_samples: true };
    records.truncated = await getPages('api/v1/results', params, 'results', POINT_HISTORY_MAX_PAGES, (results) => {
      for (const res of results) {
        const r = toRecord(res);
        if (r.timing === sel.timing && r.params === sel.params) records.push(r);
      }
    });
    setError('point', null);
  } catch (e) {
    if (seq !== state.selectionSeq) return;
    if (isNoStore(e)) state.storeUsable = false;
    else setError('point', `Cannot load the point's history: ${e.message}`);
  }
  if (seq !== state.selectionSeq) return;
  state.selectionHistory = records;
  scheduleRender('history');
}

function renderPicker() {
  const form = $('point-picker');
  const all = [...state.points.values()];
  if (!all.length) { replace(form); return; }
  const sel = state.selection || {};
  // Each field's options are those of the points matching the fields before it.
  const fields = [];
  let matching = all;
  for (const f of PICK_FIELDS) {
    const values = sortedValues(f, matching);
    const current = values.includes(sel[f]) ? sel[f] : values[0];
    fields.push({ f, values, current });
    matching = matching.filter((r) => r[f] === current);
  }
  // Redrawing a select closes it: only when its options or the selection changed.
  const seen = JSON.stringify(fields);
  if (seen === state.pickerSeen) return;
  state.pickerSeen = seen;
  replace(form, fields.map(({ f, values, current }) => {
    const select_ = h('select', { name: f, 'data-field': f },
      values.map((v) => h('option', { value: String(v), selected: v === current },
                          f === 'params' && v === '' ? '(none)' : String(v))));
    select_.addEventListener('change', onPickerChange);
    return h('label', null, h('span', null, f === 'n' ? 'N' : f), select_);
  }));
}

function sortedValues(field, records) {
  const values = [...new Set(records.map((r) => r[field]))];
  return values.sort((a, b) => (field === 'n' ? a - b : String(a).localeCompare(String(b))));
}

// A field changed: keep every field that still has points, else its first value.
function onPickerChange() {
  const form = $('point-picker');
  const sel = {};
  let matching = [...state.points.values()];
  for (const f of PICK_FIELDS) {
    const el = form.querySelector(`select[name="${f}"]`);
    const values = sortedValues(f, matching);
    const wanted = f === 'n' ? Number(el.value) : el.value;
    sel[f] = values.includes(wanted) ? wanted : values[0];
    matching = matching.filter((r) => r[f] === sel[f]);
  }
  select(sel);
}

function renderHistory() {
  const el = $('history-plot');
  const title = $('history-title');
  if (state.storeUsable === false) { replace(title); figureEmpty(el, 'No history: this host keeps none.'); return; }
  const sel = state.selection;
  if (!sel) {
    replace(title);
    figureEmpty(el, state.historyLoaded ? emptyHint() : 'Loading…');
    return;
  }
  const name = `${sel.op}/${sel.impl}${sel.params ? ` ${sel.params}` : ''} ${sel.dtype} N=${sel.n} ${sel.timing} on ${sel.device}`;
  const recs = state.selectionHistory;
  if (!recs) { replace(title, name); figureEmpty(el, 'Loading…'); return; }
  recs.sort((a, b) => a.ms - b.ms);
  if (!recs.length) { replace(title, name); figureEmpty(el, 'No stored results of this point.'); return; }
  const last = recs[recs.length - 1];
  const prev = recs.length > 1 ? recs[recs.length - 2] : null;
  const change = prev ? last.median / prev.median - 1 : NaN;
  replace(title, h('strong', null, name), ' — ',
    `${recs.truncated ? 'the newest ' : ''}${recs.length} result${recs.length === 1 ? '' : 's'}, ` +
    `latest ${fmtSeconds(last.median)} at ${fmtTime(last.ms)}`,
    prev ? h('span', { class: Math.abs(change) > 0.1 ? 'bad' : 'muted' },
             ` (${change >= 0 ? '+' : ''}${sig(100 * change, 2)}% vs the one before)`) : null);
  const style = styleMaps();
  const color = style.color(sel);
  const se = {
    key: 'history', label: name, color, marker: 'circle', band: true, pointRole: 'history-point',
    points: recs.map((r) => ({ x: r.ms, y: r.median, lo: Number.isFinite(r.p05) ? r.p05 : r.median,
                               hi: Number.isFinite(r.p95) ? r.p95 : r.median, data: r,
                               title: `${fmtTime(r.ms)}: median ${fmtSeconds(r.median)} (p05 ${fmtSeconds(r.p05)}, p95 ${fmtSeconds(r.p95)})` +
                                      `\nnoise ${fmtPercent(r.noise)} · ${r.samples} samples · job ${r.job}` })),
  };
  replace(el,
    drawPlot(el, { title: 'point history', x: { type: 'time', label: 'measured (local time)' },
                   y: { type: 'linear', label: 'median time per execution', format: fmtSeconds },
                   series: [se] }),
    legend([{ label: 'median', color, marker: 'circle' },
            { label: 'p05–p95 of the samples', color, band: true }], null));
}

// ------------------------------------------------------------------ start

function tick() {
  // Relative times ("3 min ago", "running for") age without new data.
  scheduleRender('host', 'jobs');
}

document.addEventListener('DOMContentLoaded', () => {
  renderBanner();
  scheduleRender('figures', 'results', 'history');
  pollHost();
  setInterval(tick, 10000);
});
