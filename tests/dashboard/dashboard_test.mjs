#!/usr/bin/env node
// End-to-end test of flopd's built-in dashboard in headless Chromium.
//
//   node dashboard_test.mjs --flopd PATH --flopctl PATH --out DIR [--dashboard-dir DIR]
//
// Starts its own flopd (free ports, fresh state directory), runs a small job
// with the real flopctl so there is history, opens the dashboard, and checks
// that the host, the figures (runtime, vs matvec, roofline with ceilings) and
// the jobs render; that a second job started while the page is open reaches
// the results table live (the watch stream) and the jobs list; and that the
// point history plots after picking a point. Fails on any console error, page
// error, failed request or HTTP status >= 400. Writes DIR/dashboard.png and
// the logs of flopd, flopctl and the browser to DIR.
//
// Exit status: 0 passed, 1 failed (the reason on stderr), 2 bad arguments.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const TIME_LIMIT_MS = 90_000;
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                       '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const HOSTNAME = 'dash-test';
const LIVE_RUN = 'dash-test-live';

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const args = { flopd: '', flopctl: '', out: '', dashboardDir: '' };
  const names = { '--flopd': 'flopd', '--flopctl': 'flopctl', '--out': 'out', '--dashboard-dir': 'dashboardDir' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    if (!(flag in names)) usage(`unknown argument '${argv[i]}'`);
    const value = inline !== undefined ? inline : argv[++i];
    if (!value) usage(`${flag} needs a value`);
    args[names[flag]] = value;
  }
  for (const k of ['flopd', 'flopctl', 'out']) if (!args[k]) usage(`--${k} is required`);
  for (const k of ['flopd', 'flopctl']) {
    try { fs.accessSync(args[k], fs.constants.X_OK); } catch { usage(`--${k} ${args[k]}: not an executable file`); }
  }
  return args;
}

function usage(why) {
  process.stderr.write(`dashboard_test: ${why}\n` +
    'usage: node dashboard_test.mjs --flopd PATH --flopctl PATH --out DIR [--dashboard-dir DIR]\n');
  process.exit(2);
}

// ---------------------------------------------------------------- cleanup

const cleanups = [];           // run in reverse order, once, on every exit path
let cleanedUp = false;
function cleanupSync() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const fn of cleanups.reverse()) { try { fn(); } catch { /* best effort */ } }
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { process.stderr.write(`dashboard_test: FAILED: got ${sig}\n`); process.exit(1); });
}

class TestFailure extends Error {}
const fail = (message) => { throw new TestFailure(message); };

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const log = (message) => process.stdout.write(`[${elapsed()}] ${message}\n`);

// ---------------------------------------------------------------- processes

// Starts flopd; resolves with its gRPC address and HTTP URL once it printed both.
function startFlopd(args, stateDir, logFile) {
  const flags = ['--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--state-dir', stateDir,
                 '--no-cuda', '--threads', '1', '--hostname', HOSTNAME];
  if (args.dashboardDir) flags.push('--http-dashboard-dir', args.dashboardDir);
  const out = fs.openSync(logFile, 'w');
  fs.writeSync(out, `$ ${args.flopd} ${flags.join(' ')}\n`);
  const child = spawn(args.flopd, flags, { stdio: ['ignore', 'pipe', out] });
  cleanups.push(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  return new Promise((resolve, reject) => {
    let grpc = '';
    let http = '';
    const timer = setTimeout(() => reject(new TestFailure(
      `flopd did not print its gRPC and HTTP addresses within 20 s (see ${logFile})`)), 20_000);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      fs.writeSync(out, `${line}\n`);
      const g = line.match(/^flopd .* listening on (\S+:\d+) as /);
      if (g) grpc = g[1];
      const h = line.match(/^flopd http serving on (http:\/\/\S+\/)$/);
      if (h) http = h[1];
      if (grpc && http) { clearTimeout(timer); resolve({ child, grpc, http }); }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new TestFailure(`flopd exited (${signal || `status ${code}`}) before serving; ` +
                             `its log (${logFile}):\n${tail(logFile)}`));
    });
  });
}

function stopFlopd(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.on('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

// Runs flopctl to the end; fails unless it exits 0.
function runFlopctl(args, flags, logFile) {
  const out = fs.openSync(logFile, 'w');
  fs.writeSync(out, `$ ${args.flopctl} ${flags.join(' ')}\n`);
  const child = spawn(args.flopctl, flags, { stdio: ['ignore', out, out] });
  cleanups.push(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => {
      fs.closeSync(out);
      if (code === 0) resolve();
      else reject(new TestFailure(`flopctl ${flags[0]} exited (${signal || `status ${code}`}); ` +
                                  `its log (${logFile}):\n${tail(logFile)}`));
    });
  });
}

function tail(file, lines = 20) {
  try { return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'); } catch { return '(none)'; }
}

// ---------------------------------------------------------------- the browser

// What must not happen in normal operation, as the page reports it.
const problems = [];

function watchPage(page, browserLog) {
  const state = { closing: false };
  const note = (line) => fs.appendFileSync(browserLog, `[${elapsed()}] ${line}\n`);
  page.on('console', (msg) => {
    note(`console.${msg.type()}: ${msg.text()}`);
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => {
    note(`page error: ${err.stack || err.message}`);
    problems.push(`page error: ${err.message}`);
  });
  page.on('requestfailed', (req) => {
    const why = req.failure() ? req.failure().errorText : 'failed';
    note(`request failed: ${req.method()} ${req.url()}: ${why}`);
    // Closing the page aborts the open watch stream (and a poll in flight): expected.
    if (state.closing && why === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${req.method()} ${req.url()}: ${why}`);
  });
  page.on('response', (resp) => {
    if (resp.status() >= 400) {
      note(`HTTP ${resp.status()}: ${resp.request().method()} ${resp.url()}`);
      problems.push(`HTTP ${resp.status()} for ${resp.request().method()} ${resp.url()}`);
    }
  });
  return state;
}

// Waits until fn(arg) is truthy in the page; fails with `what` on timeout.
async function waitFor(page, what, fn, arg, timeout = 20_000) {
  try {
    return await (await page.waitForFunction(fn, arg, { timeout, polling: 200 })).jsonValue();
  } catch (e) {
    if (e instanceof Error && /Timeout/i.test(e.message)) {
      const seen = problems.length ? `; meanwhile in the browser:\n  ${problems.join('\n  ')}` : '';
      fail(`${what}: not within ${timeout / 1000} s${seen}`);
    }
    throw e;
  }
}

const count = (page, selector) => page.locator(selector).count();

// ---------------------------------------------------------------- the test

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    fail(`cannot load playwright-core (${e.code || e.message}): run 'npm ci' in ${path.dirname(new URL(import.meta.url).pathname)}`);
  }
  fs.mkdirSync(args.out, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flopd-dashboard-test-'));
  cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const logs = {
    flopd: path.join(args.out, 'flopd.log'),
    history: path.join(args.out, 'flopctl-history-job.log'),
    live: path.join(args.out, 'flopctl-live-job.log'),
    browser: path.join(args.out, 'browser.log'),
  };
  fs.writeFileSync(logs.browser, '');

  const timer = setTimeout(() => {
    process.stderr.write(`dashboard_test: FAILED: over the time limit of ${TIME_LIMIT_MS / 1000} s; ` +
                         `logs in ${args.out}\n`);
    process.exit(1);
  }, TIME_LIMIT_MS);

  const flopd = await startFlopd(args, path.join(tmp, 'state'), logs.flopd);
  log(`flopd serves gRPC on ${flopd.grpc}, HTTP on ${flopd.http}`);
  cleanups.push(() => { if (flopd.child.exitCode === null) flopd.child.kill('SIGKILL'); });

  // History before the page opens: the figures must draw it.
  await runFlopctl(args, ['run', '--host', flopd.grpc, '--op', 'matvec,outer', '--sizes', '64,128,256',
                          '--dtype', 'f32', '--max-time', '0.2', '--quiet'], logs.history);
  log('first job done (matvec, outer at N = 64, 128, 256)');

  const context = await chromium.launchPersistentContext(path.join(tmp, 'chromium'), {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 900 },
  });
  cleanups.push(() => { context.close().catch(() => {}); });
  const page = context.pages()[0] || await context.newPage();
  const state = watchPage(page, logs.browser);

  await page.goto(flopd.http, { waitUntil: 'load', timeout: 15_000 });
  await waitFor(page, `the host name '${HOSTNAME}' on the page`,
                (name) => document.querySelector('[data-role=hostname]')?.textContent === name, HOSTNAME);
  await waitFor(page, 'the device cpu:0 in the host section', () => !!document.querySelector('#devices [data-device="cpu:0"]'));
  await waitFor(page, 'six series (matvec/gemv, matvec/gemm, outer/library and outer/fused on both axes) in the runtime plot',
                () => document.querySelectorAll('#runtime-plot [data-role=series]').length >= 6);
  await waitFor(page, 'series in the vs-matvec plot', () => document.querySelectorAll('#ratio-plot [data-role=series]').length >= 5);
  await waitFor(page, 'points in the roofline', () => document.querySelectorAll('#roofline-plot [data-role=point]').length >= 18);
  await waitFor(page, "the device's measured ceilings in the roofline",
                () => document.querySelectorAll('#roofline-plot [data-role=ceiling]').length >= 2);
  await waitFor(page, 'the first job in the recent jobs', () => document.querySelectorAll('#jobs-recent [data-job-id]').length >= 1);
  await waitFor(page, 'the live stream to catch up', () => document.querySelector('[data-role=live-status]')?.dataset.state === 'ok');
  const rowsBefore = await count(page, '#results-table tr[data-role=result-row]');
  const pointsBefore = await count(page, '#runtime-plot [data-role=point]');
  log(`page shows the history: ${pointsBefore} points in the runtime plot, ${rowsBefore} rows in the results table`);

  // A job started while the page is open: it must show in the jobs section and stream in live.
  const liveResults = path.join(args.out, 'live-job.jsonl');
  const liveJob = runFlopctl(args, ['run', '--host', flopd.grpc, '--op', 'outer', '--impl', 'fused,library',
                                    '--sizes', '96,128,192,384', '--dtype', 'f32', '--max-time', '0.2', '--quiet',
                                    '--run-id', LIVE_RUN, '--out', liveResults], logs.live);
  await waitFor(page, `the live job (run ${LIVE_RUN}) in the jobs section`,
                (run) => !!document.querySelector(`#jobs-card [data-run="${run}"]`), LIVE_RUN);
  await waitFor(page, 'a live result of the second job in the results table',
                (run) => !!document.querySelector(`#results-table tr[data-live][data-run="${run}"]`), LIVE_RUN);
  log('the second job shows in the jobs section and its first result arrived live');
  await liveJob;
  const expected = fs.readFileSync(liveResults, 'utf8').split('\n').filter((l) => l.trim()).length;
  if (expected === 0) fail(`the second job wrote no results to ${liveResults}`);
  await waitFor(page, `all ${expected} results of the second job in the results table, live`,
                ([run, n]) => document.querySelectorAll(`#results-table tr[data-live][data-run="${run}"]`).length === n,
                [LIVE_RUN, expected]);
  await waitFor(page, 'the second job finished in the recent jobs',
                (run) => document.querySelector(`#jobs-recent [data-run="${run}"]`)?.dataset.state === 'finished', LIVE_RUN);
  await waitFor(page, 'the live results drawn in the runtime plot (new sizes 96, 192, 384)',
                (before) => document.querySelectorAll('#runtime-plot [data-role=point]').length >= before + 12, pointsBefore);
  log(`all ${expected} results of the second job arrived live; the runtime plot gained its points`);

  // Point history: pick a series by its legend entry, then a point with the dropdowns.
  await page.locator('#runtime-plot [data-role=legend-item][data-key*="|matvec|gemv|"]').first().click();
  await waitFor(page, 'the history of matvec/gemv after clicking its legend entry',
                () => /matvec\/gemv f32 N=\d+ hot/.test(document.querySelector('[data-role=history-title]')?.textContent || '') &&
                      document.querySelectorAll('#history-plot [data-role=history-point]').length >= 1);
  // One field at a time: each choice redraws the fields after it.
  for (const [field, value, shown] of [['op', 'outer', 'outer/'], ['impl', 'fused', 'outer/fused'],
                                       ['n', '128', 'N=128']]) {
    await page.selectOption(`#point-picker select[name=${field}]`, value);
    await waitFor(page, `the point history's title to show ${shown} after picking ${field} ${value}`,
                  ([text, sel, v]) => (document.querySelector('[data-role=history-title]')?.textContent || '').includes(text) &&
                                      document.querySelector(sel)?.value === v,
                  [shown, `#point-picker select[name=${field}]`, value]);
  }
  // Both jobs measured outer/fused at N = 128: two points in its history.
  await waitFor(page, 'the history of outer/fused N=128 (2 results) after picking it in the dropdowns',
                () => /outer\/fused axis=\d f32 N=128 hot/.test(document.querySelector('[data-role=history-title]')?.textContent || '') &&
                      document.querySelectorAll('#history-plot [data-role=history-point]').length === 2);
  log('the point history plots after picking a point');

  // Let the polls run a little more, then the picture (the mouse off the legend: hovering highlights a series).
  await page.mouse.move(0, 0);
  await page.waitForTimeout(2500);
  const banner = await page.locator('[data-role=banner] [data-role=error]').allTextContents();
  if (banner.length) fail(`the page shows errors: ${banner.join(' | ')}`);
  const shot = path.join(args.out, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  log(`screenshot: ${shot}`);

  state.closing = true;
  await context.close();
  await stopFlopd(flopd.child);
  clearTimeout(timer);
  if (problems.length) {
    fail(`${problems.length} problem(s) in the browser (details in ${logs.browser}):\n  ${problems.join('\n  ')}`);
  }
}

main().then(() => {
  log('PASSED');
  process.exit(0);
}, (e) => {
  const message = e instanceof TestFailure ? e.message : (e && e.stack) || String(e);
  process.stderr.write(`dashboard_test: FAILED: ${message}\n`);
  process.exit(1);
});
