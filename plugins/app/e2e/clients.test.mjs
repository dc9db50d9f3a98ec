// The published Backstage clients (@backstage/catalog-client and the
// ScaffolderClient of @backstage/plugin-scaffolder-common) against the
// backend at BACKEND_URL with the example catalog: every method that maps
// to a route. Run by run.sh.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { CatalogClient } from '@backstage/catalog-client';
import { ScaffolderClient } from '@backstage/plugin-scaffolder-common';
import { ScmIntegrations } from '@backstage/integration';
import { ConfigReader } from '@backstage/config';
import { BACKEND_URL, guestToken } from './lib.mjs';

const REPO_URL = process.env.E2E_CLIENT_REPO_URL;
let catalog;
let scaffolder;

before(async () => {
  const token = await guestToken();
  const discoveryApi = { getBaseUrl: async (id) => `${BACKEND_URL}/api/${id}` };
  const fetchApi = {
    fetch: (input, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    },
  };
  catalog = new CatalogClient({ discoveryApi, fetchApi });
  scaffolder = new ScaffolderClient({
    discoveryApi,
    fetchApi,
    scmIntegrationsApi: ScmIntegrations.fromConfig(new ConfigReader({})),
    identityApi: {
      getBackstageIdentity: async () => ({ type: 'user', userEntityRef: 'user:development/guest', ownershipEntityRefs: ['user:development/guest'] }),
    },
    // Node has no EventSource; the client then long-polls /events.
    useLongPollingLogs: true,
  });
});

const COMPONENTS = ['admin-portal', 'design-system', 'go-kit', 'inventory-service', 'mobile-bff', 'order-service', 'order-worker', 'shipping-labels', 'web-shop'];

test('catalog: getEntities with filter, fields, order, paging', async () => {
  const { items } = await catalog.getEntities({
    filter: { kind: 'Component' },
    fields: ['metadata.name'],
    order: { field: 'metadata.name', order: 'asc' },
  });
  assert.deepEqual(items.map((e) => e.metadata.name), COMPONENTS);
  assert.deepEqual(Object.keys(items[0]), ['metadata']);
  const page = await catalog.getEntities({ filter: { kind: 'Component' }, order: { field: 'metadata.name', order: 'asc' }, limit: 2, offset: 2 });
  assert.deepEqual(page.items.map((e) => e.metadata.name), COMPONENTS.slice(2, 4));
});

test('catalog: getEntitiesByRefs keeps order and holes', async () => {
  const { items } = await catalog.getEntitiesByRefs({ entityRefs: ['component:default/web-shop', 'component:default/nope', 'api:default/orders-api'] });
  assert.deepEqual(items.map((e) => e?.metadata.name), ['web-shop', undefined, 'orders-api']);
});

test('catalog: queryEntities pages with cursors, totals and full-text filter', async () => {
  const seen = [];
  let res = await catalog.queryEntities({ filter: { kind: 'component' }, limit: 4, orderFields: { field: 'metadata.name', order: 'asc' } });
  assert.equal(res.totalItems, 9);
  seen.push(...res.items.map((e) => e.metadata.name));
  while (res.pageInfo.nextCursor) {
    res = await catalog.queryEntities({ cursor: res.pageInfo.nextCursor, limit: 4 });
    seen.push(...res.items.map((e) => e.metadata.name));
  }
  assert.deepEqual(seen, COMPONENTS);
  const ft = await catalog.queryEntities({ filter: { kind: 'component' }, fullTextFilter: { term: 'order', fields: ['metadata.name'] } });
  assert.deepEqual(ft.items.map((e) => e.metadata.name).sort(), ['order-service', 'order-worker']);
});

test('catalog: streamEntities yields every entity once', async () => {
  const names = [];
  for await (const page of catalog.streamEntities({ filter: { kind: 'Component' }, pageSize: 4 })) {
    names.push(...page.map((e) => e.metadata.name));
  }
  assert.deepEqual(names.sort(), COMPONENTS);
});

test('catalog: getEntityByRef, getEntityAncestors, getEntityFacets', async () => {
  const e = await catalog.getEntityByRef('component:default/order-service');
  assert.equal(e.spec.owner, 'team-orders');
  assert.equal(await catalog.getEntityByRef('component:default/nope'), undefined);
  const anc = await catalog.getEntityAncestors({ entityRef: 'component:default/order-service' });
  assert.equal(anc.rootEntityRef, 'component:default/order-service');
  assert.ok(anc.items.some((i) => i.entity.kind === 'Location'), 'a location among the ancestors');
  const { facets } = await catalog.getEntityFacets({ facets: ['spec.lifecycle'], filter: { kind: 'Component' } });
  const counts = Object.fromEntries(facets['spec.lifecycle'].map((f) => [f.value, f.count]));
  assert.deepEqual(counts, { production: 7, experimental: 2 });
});

test('catalog: validateEntity and refreshEntity', async () => {
  const ok = await catalog.validateEntity(
    { apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: 'fine' }, spec: { type: 'service', lifecycle: 'production', owner: 'team-orders' } },
    'url:https://example.com/catalog-info.yaml',
  );
  assert.deepEqual(ok, { valid: true });
  const bad = await catalog.validateEntity({ apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: 'Not Valid!' }, spec: {} }, 'url:https://example.com/x.yaml');
  assert.equal(bad.valid, false);
  assert.ok(bad.errors.length > 0);
  await catalog.refreshEntity('component:default/order-service');
});

test('catalog: locations: add (dry run and real), get, by entity, remove', { skip: !REPO_URL && 'E2E_CLIENT_REPO_URL not set' }, async () => {
  const dry = await catalog.addLocation({ type: 'url', target: REPO_URL, dryRun: true });
  assert.equal(dry.exists, false);
  // The dry run lists the location's own Location entity too.
  assert.deepEqual(dry.entities.filter((e) => e.kind === 'Component').map((e) => e.metadata.name), ['ledger-service']);

  const added = await catalog.addLocation({ type: 'url', target: REPO_URL });
  assert.equal(added.location.target, REPO_URL);
  assert.deepEqual(await catalog.getLocationById(added.location.id), added.location);
  assert.deepEqual(await catalog.getLocationByRef(`url:${REPO_URL}`), added.location);
  const { items } = await catalog.getLocations();
  assert.ok(items.some((l) => l.id === added.location.id));

  let entity;
  for (let i = 0; i < 60 && !entity; i++) {
    entity = await catalog.getEntityByRef('component:default/ledger-service');
    if (!entity) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(entity, 'the registered entity appears');
  assert.equal((await catalog.getLocationByEntity('component:default/ledger-service'))?.target, REPO_URL);
  const analysis = await catalog.analyzeLocation({ location: { type: 'url', target: REPO_URL } });
  assert.ok(Array.isArray(analysis.existingEntityFiles));

  await catalog.removeLocationById(added.location.id);
  assert.equal(await catalog.getLocationById(added.location.id), undefined);
  await catalog.removeEntityByUid(entity.metadata.uid);
  assert.equal(await catalog.getEntityByRef('component:default/ledger-service'), undefined);
});

test('scaffolder: actions, templating extensions, parameter schema', async () => {
  const actions = await scaffolder.listActions();
  const ids = actions.map((a) => a.id);
  for (const id of ['fetch:template', 'debug:log', 'catalog:register']) assert.ok(ids.includes(id), id);
  const ext = await scaffolder.listTemplatingExtensions();
  assert.ok(ext.filters && ext.globals);
  const schema = await scaffolder.getTemplateParameterSchema('template:default/node-service');
  assert.equal(schema.title, 'Node.js service');
  assert.deepEqual(schema.steps.map((s) => s.title), ['About the service', 'Ownership']);
});

async function logsUntilDone(taskId) {
  const events = [];
  await new Promise((resolve, reject) => {
    const sub = scaffolder.streamLogs({ taskId }).subscribe({
      next: (e) => {
        events.push(e);
        if (e.type === 'completion') {
          sub.unsubscribe();
          resolve();
        }
      },
      error: reject,
      complete: resolve,
    });
  });
  return events;
}

test('scaffolder: scaffold, getTask, streamLogs, listTasks', async () => {
  const { taskId } = await scaffolder.scaffold({
    templateRef: 'template:default/node-service',
    values: { name: 'client-made', description: 'from the client test', owner: 'team-orders', system: 'order-management' },
  });
  const events = await logsUntilDone(taskId);
  assert.ok(events.some((e) => e.type === 'log' && /Created client-made for team-orders/.test(e.body.message)));
  const task = await scaffolder.getTask(taskId);
  assert.equal(task.status, 'completed');
  assert.equal(task.spec.templateInfo.entityRef, 'template:default/node-service');
  const { tasks } = await scaffolder.listTasks({ filterByOwnership: 'all' });
  assert.ok(tasks.some((t) => t.id === taskId));
});

test('scaffolder: a failing task, and retry', async () => {
  const { taskId } = await scaffolder.scaffold({ templateRef: 'template:default/broken-on-purpose', values: {} });
  await logsUntilDone(taskId);
  assert.equal((await scaffolder.getTask(taskId)).status, 'failed');
  const retried = await scaffolder.retry(taskId);
  assert.equal(retried.id, taskId);
  await logsUntilDone(taskId);
  assert.equal((await scaffolder.getTask(taskId)).status, 'failed');
});

test('scaffolder: cancelTask', async () => {
  // A task that is still open or running can be cancelled.
  const { taskId } = await scaffolder.scaffold({ templateRef: 'template:default/broken-on-purpose', values: {} });
  const res = await scaffolder.cancelTask(taskId);
  assert.equal(res.status, 'cancelled');
});

test('scaffolder: dryRun', async () => {
  const template = {
    apiVersion: 'scaffolder.backstage.io/v1beta3',
    kind: 'Template',
    metadata: { name: 'dry' },
    spec: {
      type: 'demo',
      parameters: [{ properties: { who: { type: 'string' } } }],
      steps: [{ id: 'hello', name: 'Hello', action: 'debug:log', input: { message: 'hello ${{ parameters.who }}' } }],
      output: { text: [{ title: 'Greeting', content: 'hi ${{ parameters.who }}' }] },
    },
  };
  const res = await scaffolder.dryRun({ template, values: { who: 'client' }, secrets: {}, directoryContents: [] });
  assert.ok(res.log.some((l) => /hello client/.test(l.body.message)));
  assert.deepEqual(res.steps.map((s) => s.id), ['hello']);
  assert.equal(res.output.text[0].content, 'hi client');
});
