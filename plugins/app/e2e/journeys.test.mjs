// The stock Backstage app's journeys, in headless Chromium, against the
// backend behind APP_URL (understage, or the real Backstage backend through
// a proxy) with the example catalog of examples/. Run by run.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, signIn, journey, shot, APP_URL, BACKEND_URL, LINE, TARGET, guestToken } from './lib.mjs';

let browser;
let state;

before(async () => {
  browser = await launch();
  state = await signIn(browser);
});

after(async () => {
  await browser?.close();
});

// The "All (n)" count the catalog's owner picker shows for the current
// filters (both app lines render it).
async function allCount(page) {
  const el = page.getByText(/^All\s*\(?\d+\)?$/).or(page.getByText(/^All$/).locator('xpath=..')).first();
  await el.waitFor();
  await page.waitForFunction(() => /All\s*\(?\d+/.test(document.body.innerText));
  const m = (await page.locator('body').innerText()).match(/All\s*\(?\s*(\d+)/);
  return Number(m[1]);
}

// The entity names of the table's rows, read from their links (the cells
// show titles).
async function tableNames(page) {
  await page.locator('table tbody tr').first().waitFor();
  const hrefs = await page.locator('table tbody tr td:first-child a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  return hrefs.map((h) => h.split('/').pop());
}

function rowLink(page, name) {
  return page.locator(`table tbody a[href$="/${name}"]`).first();
}

async function waitForRows(page, names) {
  for (const n of names) {
    await rowLink(page, n).waitFor();
  }
}

test('guest sign-in lands on the catalog', async () => {
  await journey(browser, state, 'home', async (page) => {
    await page.goto(APP_URL + '/catalog');
    await rowLink(page, 'order-service').waitFor();
    // The settings page shows who is signed in.
    await page.goto(APP_URL + '/settings');
    await page.getByText(/guest/i).first().waitFor();
    // The guest's identity, user:development/guest, has no catalog entity:
    // the settings page looks it up and shows the profile without it.
  }, { allow: [/^\/api\/catalog\/entities\/by-name\/user\/development\/guest$/] });
});

test('catalog list: kind, type, owner, lifecycle and tag filters with counts', async () => {
  await journey(browser, state, 'catalog', async (page) => {
    await page.goto(APP_URL + '/catalog?filters[kind]=component&filters[user]=all');
    await waitForRows(page, ['order-service', 'web-shop', 'shipping-labels']);
    assert.equal(await allCount(page), 9, 'all components');
    for (const label of ['Kind', 'Type', 'Owner', 'Lifecycle', 'Tags']) {
      await page.getByText(label, { exact: true }).first().waitFor();
    }
    await shot(page, 'catalog-components');

    const cases = [
      ['type', 'filters[type]=library', ['design-system', 'go-kit'], 2],
      ['owner', 'filters[owners]=group:default/team-platform', ['admin-portal', 'design-system', 'go-kit'], 3],
      ['lifecycle', 'filters[lifecycles]=experimental', ['admin-portal', 'shipping-labels'], 2],
      ['tag', 'filters[tags]=react', ['design-system', 'web-shop'], 2],
    ];
    for (const [name, q, want, n] of cases) {
      await page.goto(`${APP_URL}/catalog?filters[kind]=component&filters[user]=all&${q}`);
      await waitForRows(page, want);
      await page.waitForFunction((n) => new RegExp(`All\\s*\\(?\\s*${n}\\b`).test(document.body.innerText), n);
      const rows = await tableNames(page);
      assert.deepEqual(rows.sort(), [...want].sort(), `${name} filter rows`);
      await shot(page, `catalog-filter-${name}`);
    }

    await page.goto(APP_URL + '/catalog?filters[kind]=system&filters[user]=all');
    await waitForRows(page, ['storefront', 'warehouse']);
    assert.equal(await allCount(page), 4, 'all systems');
  });
});
