// Shared browser harness of the journeys: one headless Chromium, a guest
// sign-in shared through storage state, and a watch on every page that fails
// the journey on an unexpected 4xx/5xx from the backend or a console error.
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const APP_URL = (process.env.APP_URL ?? 'http://127.0.0.1:7181').replace(/\/$/, '');
// Where the app's API calls go; the same origin when understage serves it.
export const BACKEND_URL = (process.env.BACKEND_URL ?? APP_URL).replace(/\/$/, '');
export const LINE = process.env.APP_LINE ?? 'latest';
export const TARGET = process.env.TARGET ?? 'understage';
const here = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = process.env.ARTIFACTS ?? join(here, 'artifacts', `${TARGET}-${LINE}`);
mkdirSync(ARTIFACTS, { recursive: true });

// Calls that a backend without these plugins answers with 404 and that the
// stock app copes with (the real Backstage backend of the harness answers
// them the same way).
const EXPECTED_MISSES = [
  /^\/api\/notifications\//,
  /^\/api\/signals/,
  /^\/api\/user-settings\//,
  // The guest's identity, user:development/guest, has no catalog entity;
  // profile cards look it up and carry on without it.
  /^\/api\/catalog\/entities\/by-name\/user\/development\/guest$/,
];

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

// signIn clicks the guest provider's Enter button once and returns the
// storage state that keeps the choice for later contexts.
export async function signIn(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await ctx.newPage();
  const watch = watchPage(page);
  // On /catalog rather than /: the latest line's home page fetches a joke
  // from the internet, which this closed machine cannot reach.
  await page.goto(APP_URL + '/catalog');
  await page.getByRole('button', { name: 'Enter' }).click();
  await page.locator('table tbody tr').first().waitFor({ timeout: 30000 });
  await shot(page, 'sign-in');
  const state = await ctx.storageState();
  await ctx.close();
  watch.check();
  return state;
}

// watchPage records the failures a journey must not have. allow lists
// extra path patterns whose 4xx is part of the journey, allowConsole
// console errors the journey provokes on purpose.
export function watchPage(page, allow = [], allowConsole = []) {
  const problems = [];
  const misses = [...EXPECTED_MISSES, ...allow];
  const expected = (url) => {
    const u = new URL(url);
    return misses.some((re) => re.test(u.pathname));
  };
  page.on('response', (res) => {
    const url = res.url();
    if (!url.startsWith(BACKEND_URL + '/api/')) return;
    if (res.status() >= 400 && !expected(url)) {
      problems.push(`${res.request().method()} ${url.slice(BACKEND_URL.length)} -> ${res.status()}`);
    }
  });
  page.on('requestfailed', (req) => {
    const url = req.url();
    if (!url.startsWith(BACKEND_URL + '/api/') || expected(url)) return;
    const why = req.failure()?.errorText ?? '';
    // A request the app aborts itself (navigation, SSE closed) is fine.
    if (/ERR_ABORTED/.test(why)) return;
    problems.push(`${req.method()} ${url.slice(BACKEND_URL.length)} failed: ${why}`);
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // The browser logs each failed request; their statuses are judged by
    // the response handler above, against the allow list.
    if (/Failed to load resource|WebSocket connection to/.test(text)) return;
    if (allowConsole.some((re) => re.test(text))) return;
    problems.push(`console error: ${text.slice(0, 400)}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${String(err).slice(0, 400)}`));
  return {
    problems,
    check() {
      if (problems.length) throw new Error('unexpected backend errors or console errors:\n  ' + problems.join('\n  '));
    },
  };
}

export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true }).catch(() => {});
}

// journey opens a signed-in page, runs fn, saves a screenshot, and fails
// on anything watchPage saw.
export async function journey(browser, state, name, fn, { allow = [], allowConsole = [] } = {}) {
  const ctx = await browser.newContext({ storageState: state, viewport: { width: 1400, height: 1000 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(Number(process.env.STEP_TIMEOUT_MS ?? 20000));
  const watch = watchPage(page, allow, allowConsole);
  try {
    await fn(page, watch);
    // Late calls (counts, relations) still count against the journey.
    await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
    await shot(page, name);
  } catch (err) {
    await shot(page, `${name}-failed`);
    throw err;
  } finally {
    await ctx.close();
  }
  watch.check();
}

// backendFetch calls the backend with the guest token the app stored.
export async function guestToken() {
  const res = await fetch(BACKEND_URL + '/api/auth/guest/refresh', { headers: { 'x-requested-with': 'XMLHttpRequest' } });
  if (!res.ok) throw new Error(`guest refresh: ${res.status}`);
  return (await res.json()).backstageIdentity.token;
}
