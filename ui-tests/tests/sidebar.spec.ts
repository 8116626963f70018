/**
 * The sidebar against a real JupyterLab, real pangeo-hpc server extension and
 * the LSF emulator with 2 job slots (see jupyter_server_test_config.py).
 *
 * One cluster goes through its whole life in order (serial): start, PEND->RUN,
 * scale to 3 (the third job PENDs: 2 slots), dashboard, reload, plots,
 * notebook client, adaptive, shutdown.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { Locator, Page, Request, TestInfo } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import {
  dashboardPlot,
  deleteEveryCluster,
  JOB_TIMEOUT,
  jobStates,
  openSidebar,
  openSidebarIn,
  SIDEBAR
} from './helpers';

const CLUSTER_NAME = 'ui-test';
/** The sidebar's poll interval (settings default: 5 s). */
const POLL_INTERVAL_MS = 5_000;

async function snapshot(
  page: IJupyterLabPageFixture,
  testInfo: TestInfo,
  name: string,
  focus?: Locator
): Promise<void> {
  await focus?.scrollIntoViewIfNeeded();
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

/** The README's pictures: written on every run so they never go stale, kept small. */
const DOCS_SCREENSHOTS = path.resolve(
  __dirname,
  '..',
  '..',
  'docs',
  'screenshots'
);
const MAX_SCREENSHOT_BYTES = 150_000;

async function docsScreenshot(
  page: Page,
  target: Page | Locator,
  name: string
): Promise<void> {
  // No focus ring, and the mouse over the status bar: no hover effects or
  // plot tooltips in the picture.
  await page.evaluate(() => (document.activeElement as HTMLElement)?.blur());
  await page.mouse.move(1000, (page.viewportSize()?.height ?? 900) - 8);
  fs.mkdirSync(DOCS_SCREENSHOTS, { recursive: true });
  const file = path.join(DOCS_SCREENSHOTS, `${name}.png`);
  await target.screenshot({
    path: file,
    animations: 'disabled',
    caret: 'hide'
  });
  const size = fs.statSync(file).size;
  expect(
    size,
    `${file} is ${size} bytes; keep README screenshots under ${MAX_SCREENSHOT_BYTES}`
  ).toBeLessThan(MAX_SCREENSHOT_BYTES);
}

/** Whether `inner` lies within `outer` horizontally (a pixel of rounding allowed). */
async function expectWithin(inner: Locator, outer: Locator, what: string) {
  const a = await inner.boundingBox();
  const b = await outer.boundingBox();
  expect(a, `${what}: not rendered`).not.toBeNull();
  expect(b).not.toBeNull();
  expect(a!.x, `${what} starts left of its container`).toBeGreaterThanOrEqual(
    b!.x - 1
  );
  expect(
    a!.x + a!.width,
    `${what} sticks out right of its container`
  ).toBeLessThanOrEqual(b!.x + b!.width + 1);
}

/** The errors rjsf shows under one option field (its nearest form group). */
function fieldErrors(sidebar: Locator, field: string): Locator {
  return sidebar
    .locator(`#root_${field}`)
    .locator('xpath=ancestor::div[contains(@class, "form-group")][1]')
    .locator('.validationErrors');
}

function card(sidebar: Locator): Locator {
  return sidebar
    .getByTestId('pangeo-hpc-cluster-card')
    .filter({ hasText: CLUSTER_NAME });
}

/** Cluster creations the page sent. */
function recordPosts(page: IJupyterLabPageFixture): Request[] {
  const posts: Request[] = [];
  page.on('request', request => {
    if (
      request.method() === 'POST' &&
      request.url().includes('/pangeo-hpc/api/clusters')
    ) {
      posts.push(request);
    }
  });
  return posts;
}

test.describe('pangeo-hpc sidebar', () => {
  test('has its own left tab and the start form', async ({
    page
  }, testInfo) => {
    const tab = page.locator(`.jp-SideBar [data-id="${SIDEBAR}"]`);
    await expect(tab).toHaveAttribute('title', /Dask HPC Clusters/);
    const sidebar = await openSidebar(page);
    await expect(sidebar.locator('h2')).toHaveText('Dask HPC Clusters');
    const profiles = sidebar.getByTestId('pangeo-hpc-profile');
    await expect(profiles.locator('input:checked')).toHaveValue('lsf');
    // The options come from the profile's JSON Schema with their defaults.
    await expect(sidebar.locator('#root_memory')).not.toHaveValue('');
    await expect(sidebar.locator('#root_cores')).toHaveValue(/\d+/);
    // The queue select shows the profile's default queue, not a blank.
    await expect(sidebar.locator('#root_queue option:checked')).toHaveText(
      'normal'
    );
    await snapshot(page, testInfo, 'sidebar');
  });

  test('at the default sidebar width every profile label is shown whole', async ({
    page
  }) => {
    const sidebar = await openSidebar(page);
    const answer = await page.request.get('/pangeo-hpc/api/profiles');
    const labels: string[] = (await answer.json()).profiles.map(
      (p: { label: string; name: string }) => p.label || p.name
    );
    const options = sidebar.locator('.pangeo-hpc-ProfileChoice-option > span');
    await expect(options).toHaveText(labels);
    for (const option of await options.all()) {
      await expectWithin(
        option,
        sidebar,
        `profile label "${await option.textContent()}"`
      );
      const cut = await option.evaluate(
        el => el.scrollWidth > el.clientWidth + 1
      );
      expect(cut, `profile label "${await option.textContent()}" is cut`).toBe(
        false
      );
    }
    // Choosing another profile switches the options form to it, and back.
    await sidebar.getByRole('radio', { name: labels[1] }).check();
    await expect(sidebar.locator('#root_queue')).toHaveCount(0);
    await expect(sidebar.locator('#root_threads_per_worker')).toBeVisible();
    await sidebar.getByRole('radio', { name: labels[0] }).check();
    await expect(sidebar.locator('#root_queue option:checked')).toHaveText(
      'normal'
    );
  });

  test('the command palette offers start, dashboard and shut down all', async ({
    page
  }) => {
    await page.keyboard.press('Control+Shift+C');
    const palette = page.locator('#command-palette');
    await palette.locator('input').fill('Dask');
    for (const label of [
      'Start Dask HPC Cluster',
      'Open Dask Dashboard',
      'Shut Down All Dask HPC Clusters',
      'Insert Dask Client Code'
    ]) {
      await expect(
        palette.locator('.lm-CommandPalette-item', { hasText: label })
      ).toHaveCount(1);
    }
  });

  test('an invalid memory value shows a field error and submits nothing', async ({
    page
  }, testInfo) => {
    const posts = recordPosts(page);
    const sidebar = await openSidebar(page);
    await sidebar.locator('#root_memory').fill('lots of memory');
    await sidebar.getByTestId('pangeo-hpc-start').click();
    await expect(fieldErrors(sidebar, 'memory')).toContainText(
      'must be a size such as 20GB'
    );
    await snapshot(page, testInfo, 'memory-field-error');
    expect(posts).toHaveLength(0);
    const clusters = await page.request.get('/pangeo-hpc/api/clusters');
    expect((await clusters.json()).clusters).toEqual([]);
  });

  test('a server 422 appears next to the field it names', async ({ page }) => {
    // Above max_workers: the form's own check stops it, then the server's.
    const sidebar = await openSidebar(page);
    const profiles = await (
      await page.request.get('/pangeo-hpc/api/profiles')
    ).json();
    const tooMany = String((profiles.max_workers ?? 100) + 1);
    await sidebar.getByTestId('pangeo-hpc-workers').fill(tooMany);
    await sidebar.getByTestId('pangeo-hpc-start').click();
    await expect(sidebar.getByTestId('pangeo-hpc-workers-error')).toBeVisible();
    const answer = await page.request.post('/pangeo-hpc/api/clusters', {
      data: { profile: 'lsf', options: { memory: 'lots' }, workers: 1 }
    });
    expect(answer.status()).toBe(422);
    const body = await answer.json();
    expect(body.errors.map((e: { field: string }) => e.field)).toContain(
      'memory'
    );
  });

  test("a scheduler refusal shows on the card with LSF's own words", async ({
    page
  }, testInfo) => {
    const sidebar = await openSidebar(page);
    await sidebar.getByTestId('pangeo-hpc-name').fill('refused');
    await sidebar.getByTestId('pangeo-hpc-workers').fill('1');
    // Valid [hh:]mm, so it is submitted; the queue's run limit is 24 hours.
    await sidebar.locator('#root_walltime').fill('30:00');
    await sidebar.getByTestId('pangeo-hpc-start').click();
    const refused = sidebar
      .getByTestId('pangeo-hpc-cluster-card')
      .filter({ hasText: 'refused' });
    await expect(refused).toHaveAttribute('data-status', 'failed', {
      timeout: JOB_TIMEOUT
    });
    await expect(refused.getByTestId('pangeo-hpc-cluster-error')).toContainText(
      'Job not submitted'
    );
    await snapshot(page, testInfo, 'scheduler-refusal', refused);
    await refused.getByTestId('pangeo-hpc-shutdown-button').click();
    await page.locator('.jp-Dialog .jp-mod-warn').click();
    await expect(refused).toHaveCount(0);
  });
});

test.describe.serial('an LSF cluster from start to shutdown', () => {
  test.afterAll(async ({ request }) => deleteEveryCluster(request));

  test('start from the form: the job goes PEND -> RUN and a worker connects', async ({
    page
  }, testInfo) => {
    const posts = recordPosts(page);
    // The model fetches one cluster by id only when the event bus announces a change.
    const pushed: string[] = [];
    page.on('request', request => {
      const url = new URL(request.url());
      if (
        request.method() === 'GET' &&
        /\/pangeo-hpc\/api\/clusters\/[^/]+$/.test(url.pathname)
      ) {
        pushed.push(url.pathname);
      }
    });
    const sidebar = await openSidebar(page);
    await sidebar.getByTestId('pangeo-hpc-name').fill(CLUSTER_NAME);
    await sidebar.getByTestId('pangeo-hpc-workers').fill('1');
    await sidebar.locator('#root_memory').fill('1GB');
    await sidebar.getByTestId('pangeo-hpc-start').click();

    const cluster = card(sidebar);
    await expect(cluster).toBeVisible();
    expect(posts).toHaveLength(1);
    expect(posts[0].postDataJSON()).toMatchObject({
      profile: 'lsf',
      name: CLUSTER_NAME,
      workers: 1,
      options: { memory: '1GB' }
    });
    const seen = new Set<string>();
    await expect
      .poll(
        async () => {
          for (const state of await jobStates(cluster).allTextContents()) {
            seen.add(state);
          }
          return [...seen].includes('RUN');
        },
        { timeout: JOB_TIMEOUT, message: 'the worker job never reached RUN' }
      )
      .toBe(true);
    // A job is submitted before it runs; the emulator dispatches it when a slot is free.
    const job = cluster.getByTestId('pangeo-hpc-job').first();
    await expect(job).toHaveAttribute('data-job-id', /^\d+$/);
    await expect(
      cluster.getByTestId('pangeo-hpc-workers-connected')
    ).toHaveText('1', {
      timeout: JOB_TIMEOUT
    });
    await expect(cluster).toHaveAttribute('data-status', 'running');
    await expect(job.locator('.pangeo-hpc-Job-walltime')).toHaveText(
      /^\d+:\d\d:\d\d$/
    );
    await expect(job.locator('.pangeo-hpc-JobState-running')).toBeVisible();
    await expect(job).toHaveAttribute('data-state', 'running');
    await expect(job.getByTestId('pangeo-hpc-job-hosts')).toHaveText(
      /^node\d+$/
    );
    expect(
      pushed.length,
      'no update came through the event bus'
    ).toBeGreaterThan(0);
    await snapshot(page, testInfo, 'cluster-running', cluster);
  });

  test('three tabs open: one request per change, not three', async ({
    page,
    context
  }) => {
    const first = await openSidebar(page);
    const tabs = [page, await context.newPage(), await context.newPage()];
    // Counted from when every tab shows the cluster until all show the change.
    let counting = false;
    let t0 = 0;
    const gets: string[] = [];
    let events = 0;
    tabs.forEach((tab, i) => {
      tab.on('request', request => {
        if (
          counting &&
          request.method() === 'GET' &&
          request.url().includes('/pangeo-hpc/api/clusters')
        ) {
          const path = new URL(request.url()).pathname.replace(/.*\/api\//, '');
          gets.push(`tab ${i} +${Date.now() - t0} ms ${path}`);
        }
      });
    });
    // A websocket opened before its listener is not seen: listen on a tab
    // that is yet to open; every tab gets the same events.
    tabs[1].on('websocket', socket => {
      socket.on('framereceived', frame => {
        if (
          counting &&
          String(frame.payload).includes('pangeo-hpc-ext.dev/events/cluster')
        ) {
          events++;
          gets.push(`event +${Date.now() - t0} ms`);
        }
      });
    });
    const sidebars = [first];
    for (const other of tabs.slice(1)) {
      await other.goto('lab');
      const sidebar = await openSidebarIn(other, JOB_TIMEOUT);
      await expect(card(sidebar)).toBeVisible();
      sidebars.push(sidebar);
    }
    t0 = Date.now();
    counting = true;

    await card(first).getByTestId('pangeo-hpc-scale-input').fill('2');
    await card(first).getByTestId('pangeo-hpc-scale-input').press('Enter');
    for (const sidebar of sidebars) {
      await expect(
        card(sidebar).getByTestId('pangeo-hpc-workers-connected')
      ).toHaveText('2', { timeout: JOB_TIMEOUT });
    }
    const elapsed = Date.now() - t0;
    const requests = gets.filter(line => line.startsWith('tab'));
    const lists = requests.filter(line => line.endsWith(' clusters'));
    const fetches = requests.length - lists.length;
    console.log(
      `3 tabs: ${events} cluster events, ${fetches} cluster GETs, ${lists.length} list polls in ${elapsed} ms\n  ${gets.join('\n  ')}`
    );
    expect(events, 'no cluster event reached the page').toBeGreaterThan(0);
    // Each tab on its own would fetch once per event (3 x events); shared,
    // once per event in all (one more when two tabs' timers fire together).
    expect(fetches, 'cluster GETs for the events').toBeLessThanOrEqual(
      events + 1
    );
    // Polls are shared too: about one per interval in all, not one per tab.
    expect(lists.length, 'list polls').toBeLessThanOrEqual(
      Math.floor(elapsed / POLL_INTERVAL_MS) + tabs.length
    );
    for (const other of tabs.slice(1)) {
      await other.close();
    }
  });

  test('slider to 3: three jobs, two RUN on the two slots, one stays PEND', async ({
    page
  }, testInfo) => {
    const sidebar = await openSidebar(page);
    const cluster = card(sidebar);
    await cluster.getByTestId('pangeo-hpc-scale-slider').fill('3');
    await expect(
      cluster.getByTestId('pangeo-hpc-workers-requested')
    ).toHaveText('3');
    await expect(cluster.getByTestId('pangeo-hpc-job')).toHaveCount(3, {
      timeout: JOB_TIMEOUT
    });
    await expect
      .poll(
        async () =>
          (await jobStates(cluster).allTextContents()).sort().join(','),
        {
          timeout: JOB_TIMEOUT,
          message:
            'expected two running jobs and one pending (2 emulator slots)'
        }
      )
      .toBe('PEND,RUN,RUN');
    await expect(
      cluster.getByTestId('pangeo-hpc-workers-connected')
    ).toHaveText('2', {
      timeout: JOB_TIMEOUT
    });
    await expect(cluster.locator('.pangeo-hpc-JobState-pending')).toHaveCount(
      1
    );
    // Why it waits, in plain words and since when, LSF's own words in its tooltip.
    const pending = cluster.locator(
      '[data-testid="pangeo-hpc-job"][data-state="pending"]'
    );
    const reason = pending.getByTestId('pangeo-hpc-job-reason');
    await expect(reason).toContainText(
      /^Waiting \d+ (s|min): all job slots are busy$/,
      { timeout: JOB_TIMEOUT }
    );
    await expect(reason).toHaveAttribute('title', /PEND: .*slot limit/i);
    // Short of workers only because their jobs wait: "queued", not "scaling".
    await expect(cluster.getByTestId('pangeo-hpc-cluster-status')).toHaveText(
      'queued'
    );
    await expect(pending.getByTestId('pangeo-hpc-job-hosts')).toHaveText('—');

    // The adaptive bounds stay on the toggle's line at the default sidebar width.
    const toggle = cluster.getByTestId('pangeo-hpc-adapt-toggle');
    const maximum = cluster.getByTestId('pangeo-hpc-adapt-maximum');
    const [t, m] = [await toggle.boundingBox(), await maximum.boundingBox()];
    expect(
      Math.abs(t!.y + t!.height / 2 - (m!.y + m!.height / 2)),
      'the adaptive max box wrapped onto a line of its own'
    ).toBeLessThan(4);
    await expectWithin(maximum, cluster, 'the adaptive max box');

    await snapshot(page, testInfo, 'scaled-to-3', cluster);
    await sidebar.evaluate(el => el.scrollTo(0, 0));
    await docsScreenshot(page, sidebar, 'sidebar');
    // It stays pending while both slots are busy.
    await page.waitForTimeout(2000);
    expect((await jobStates(cluster).allTextContents()).sort()).toEqual([
      'PEND',
      'RUN',
      'RUN'
    ]);
  });

  test('dashboard tab renders Bokeh content and comes back after a reload', async ({
    page
  }, testInfo) => {
    const sidebar = await openSidebar(page);
    const cluster = card(sidebar);
    await cluster.getByTestId('pangeo-hpc-dashboard-button').click();
    const tab = page.locator('.pangeo-hpc-Dashboard');
    await expect(tab).toBeVisible();
    await expect(dashboardPlot(page)).toBeVisible({ timeout: JOB_TIMEOUT });
    // No sandbox in name only: a same-origin page allowed scripts could lift it.
    await expect(
      page.locator('.pangeo-hpc-Dashboard iframe')
    ).not.toHaveAttribute('sandbox');
    await snapshot(page, testInfo, 'dashboard');
    await docsScreenshot(page, page, 'dashboard');

    // The launcher is not what comes back, so galata's readiness check does not apply.
    await page.reload({ waitForIsReady: false });
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    await expect(
      page.locator('#jp-main-dock-panel .lm-TabBar-tab', {
        hasText: 'Dask dashboard'
      })
    ).toBeVisible();
    await expect(dashboardPlot(page)).toBeVisible({ timeout: JOB_TIMEOUT });
    await snapshot(page, testInfo, 'dashboard-after-reload');
  });

  test('individual plots menu lists the dashboard plots', async ({
    page
  }, testInfo) => {
    const sidebar = await openSidebar(page);
    const cluster = card(sidebar);
    await cluster.getByTestId('pangeo-hpc-plots-button').click();
    const item = cluster
      .getByTestId('pangeo-hpc-plot-item')
      .filter({ hasText: /Task Stream/i });
    await expect(item.first()).toBeVisible({ timeout: JOB_TIMEOUT });
    await item.first().click();
    await expect(
      page.locator('#jp-main-dock-panel .lm-TabBar-tab', {
        hasText: /Task Stream/i
      })
    ).toBeVisible();
    await snapshot(page, testInfo, 'individual-plot');
  });

  test('insert client code into a notebook and run it', async ({
    page
  }, testInfo) => {
    await page.notebook.createNew('client.ipynb');
    const sidebar = await openSidebar(page);
    const cluster = card(sidebar);
    const insert = cluster.getByTestId('pangeo-hpc-insert-code-button');
    await expect(insert).toBeEnabled();
    await insert.click();
    await page.notebook.activate('client.ipynb');
    const source = await page.notebook.getCellTextInput(0);
    // One call by name: the kernel API finds the cluster and its TLS credentials.
    expect(source).toBe(
      `from pangeo_hpc_ext.kernel import connect\nclient = connect("${CLUSTER_NAME}")`
    );
    await page.notebook.addCell(
      'code',
      'print("workers:", len(client.scheduler_info()["workers"]), client.status)'
    );
    await page.notebook.run();
    const output = await page.notebook.getCellTextOutput(1);
    expect(output?.join('')).toMatch(/workers: 2 running/);
    await snapshot(page, testInfo, 'notebook-client');
  });

  test('adaptive toggle sets and clears bounds', async ({ page }, testInfo) => {
    const sidebar = await openSidebar(page);
    const cluster = card(sidebar);
    await cluster.getByTestId('pangeo-hpc-adapt-minimum').fill('1');
    await cluster.getByTestId('pangeo-hpc-adapt-maximum').fill('2');
    const patched = page.waitForRequest(
      r =>
        r.method() === 'PATCH' && r.url().includes('/pangeo-hpc/api/clusters/')
    );
    await cluster.getByTestId('pangeo-hpc-adapt-toggle').check();
    expect((await patched).postDataJSON()).toEqual({
      adapt: { minimum: 1, maximum: 2 }
    });
    await expect(cluster.getByTestId('pangeo-hpc-adapt-toggle')).toBeChecked();
    await expect(cluster.getByTestId('pangeo-hpc-scale-slider')).toBeDisabled();
    await snapshot(page, testInfo, 'adaptive', cluster);

    const cleared = page.waitForRequest(
      r =>
        r.method() === 'PATCH' && r.url().includes('/pangeo-hpc/api/clusters/')
    );
    await cluster.getByTestId('pangeo-hpc-adapt-toggle').uncheck();
    expect((await cleared).postDataJSON()).toEqual({ adapt: null });
    await expect(
      cluster.getByTestId('pangeo-hpc-adapt-toggle')
    ).not.toBeChecked();
    await expect(cluster.getByTestId('pangeo-hpc-scale-slider')).toBeEnabled();
  });

  test('shut down: confirmation, card gone, every batch job ended', async ({
    page
  }, testInfo) => {
    const sidebar = await openSidebar(page);
    const cluster = card(sidebar);
    const jobIds = await cluster
      .getByTestId('pangeo-hpc-job')
      .evaluateAll(rows => rows.map(r => r.getAttribute('data-job-id')));
    expect(jobIds.length).toBeGreaterThan(0);

    await cluster.getByTestId('pangeo-hpc-shutdown-button').click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Shut down');
    await snapshot(page, testInfo, 'shutdown-dialog');
    await dialog.locator('.jp-mod-warn').click();
    await expect(cluster).toHaveCount(0, { timeout: JOB_TIMEOUT });
    const answer = await page.request.get('/pangeo-hpc/api/clusters');
    expect((await answer.json()).clusters).toEqual([]);

    // Ask the (emulated) scheduler from a kernel, which sees the server's PATH.
    await page.notebook.createNew('bjobs.ipynb');
    await page.notebook.setCell(
      0,
      'code',
      [
        'import subprocess',
        `out = subprocess.run(["bjobs", "-a", "-noheader", "-o", "jobid stat", ${jobIds
          .map(id => `"${id}"`)
          .join(', ')}], capture_output=True, text=True).stdout`,
        'print(sorted(line.split()[1] for line in out.splitlines() if line.strip()))'
      ].join('\n')
    );
    await page.notebook.run();
    const cells = await page.notebook.getCellCount();
    const output =
      (await page.notebook.getCellTextOutput(cells - 1))?.join('') ?? '';
    expect(output).not.toMatch(/'RUN'|'PEND'/);
    expect(output).toMatch(/'(EXIT|DONE)'/);
    await snapshot(page, testInfo, 'after-shutdown');
    await page.notebook.close(true);
  });
});

/** Where a notebook's LocalCluster shows, by the name the cell gives it. */
function notebookCard(sidebar: Locator, name: string): Locator {
  return sidebar
    .getByTestId('pangeo-hpc-notebook-list')
    .getByTestId('pangeo-hpc-cluster-card')
    .filter({ hasText: name });
}

/** The seed's cell, on loopback; prints the worker count once the worker is in. */
function localClusterCell(name: string): string {
  return [
    'from distributed import Client, LocalCluster',
    `cluster = LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="1GB", host="127.0.0.1", dashboard_address="127.0.0.1:0", name="${name}")`,
    'client = Client(cluster)',
    'print("workers:", len(client.scheduler_info()["workers"]))'
  ].join('\n');
}

/** Runs each source in a new cell of the active (new) notebook; the cell's output. */
function cellRunner(
  page: IJupyterLabPageFixture
): (source: string) => Promise<string> {
  let cells = 0;
  return async source => {
    const index = cells++;
    if (index === 0) {
      await page.notebook.setCell(0, 'code', source);
    } else {
      await page.notebook.addCell('code', source);
    }
    // In place: running the last cell must not add an empty one below it.
    await page.notebook.runCell(index, true);
    return (await page.notebook.getCellTextOutput(index))?.join('') ?? '';
  };
}

test.describe('clusters started in notebooks', () => {
  test('a LocalCluster cell makes a "From notebooks" card; Shut down closes it; the kernel takes the next one with it', async ({
    page
  }, testInfo) => {
    const notebook = 'nb-clusters.ipynb';
    await page.notebook.createNew(notebook);
    const run = cellRunner(page);
    expect(await run(localClusterCell('nb-first'))).toMatch(/workers: 1/);
    const sidebar = await openSidebarIn(page, JOB_TIMEOUT);
    const section = sidebar.getByTestId('pangeo-hpc-notebook-list');
    const first = notebookCard(sidebar, 'nb-first');
    await expect(first).toBeVisible({ timeout: JOB_TIMEOUT });
    await expect(section.locator('h3')).toHaveText('From notebooks (1)');
    await expect(first.getByTestId('pangeo-hpc-workers-connected')).toHaveText(
      '1'
    );
    await expect(first).toHaveAttribute('data-origin', 'notebook');
    await expect(first.getByTestId('pangeo-hpc-notebook-path')).toHaveText(
      new RegExp(notebook.replace('.', '\\.'))
    );
    await expect(
      first.getByTestId('pangeo-hpc-notebook-scaling')
    ).toContainText('scaling stays in the notebook');
    await expect(first.getByTestId('pangeo-hpc-scale-slider')).toHaveCount(0);
    await expect(first.getByTestId('pangeo-hpc-adapt-toggle')).toHaveCount(0);
    await expect(
      first.getByTestId('pangeo-hpc-dashboard-button')
    ).toBeEnabled();
    await expect(
      first.getByTestId('pangeo-hpc-insert-code-button')
    ).toBeEnabled();
    await snapshot(page, testInfo, 'notebook-cluster', first);

    // Shut down from the card: the scheduler closes in the kernel.
    const deleted = page.waitForResponse(
      r =>
        r.request().method() === 'DELETE' &&
        r.url().includes('/pangeo-hpc/api/clusters/nb-')
    );
    await first.getByTestId('pangeo-hpc-shutdown-button').click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText(notebook);
    await dialog.locator('.jp-mod-warn').click();
    expect((await deleted).status()).toBe(204);
    await expect(first).toHaveCount(0, { timeout: JOB_TIMEOUT });
    await expect(section).toHaveCount(0);
    await page.notebook.activate(notebook);
    expect(await run('print("status:", cluster.status.name)')).toMatch(
      /status: closed/
    );

    // A second cluster goes away with its kernel.
    expect(await run(localClusterCell('nb-second'))).toMatch(/workers: 1/);
    const second = notebookCard(sidebar, 'nb-second');
    await expect(second).toBeVisible({ timeout: JOB_TIMEOUT });
    const sessions = await (await page.request.get('/api/sessions')).json();
    const session = sessions.find(
      (s: { path: string }) =>
        s.path.endsWith(`/${notebook}`) || s.path === notebook
    );
    expect(session, `no session for ${notebook}`).toBeTruthy();
    const stopped = await page.request.delete(
      `/api/kernels/${session.kernel.id}`
    );
    expect(stopped.status()).toBe(204);
    await expect(second).toHaveCount(0, { timeout: JOB_TIMEOUT });
    await expect(section).toHaveCount(0);
    await page.notebook.close(false);
  });
});

test.describe('a restored dashboard tab', () => {
  test('whose cluster was deleted says so, with its name, instead of a 404 page', async ({
    page
  }, testInfo) => {
    const name = 'ended-ui';
    const created = await page.request.post('/pangeo-hpc/api/clusters', {
      data: { profile: 'local', workers: 0, name }
    });
    expect(created.status()).toBe(201);
    const { id } = await created.json();
    const sidebar = await openSidebarIn(page, JOB_TIMEOUT);
    const cluster = sidebar
      .getByTestId('pangeo-hpc-cluster-card')
      .filter({ hasText: name });
    const dashboard = cluster.getByTestId('pangeo-hpc-dashboard-button');
    await expect(dashboard).toBeEnabled({ timeout: JOB_TIMEOUT });
    await dashboard.click();
    const tab = page.locator(`.pangeo-hpc-Dashboard[data-cluster-id="${id}"]`);
    await expect(tab.locator('iframe')).toBeVisible();

    const deleted = await page.request.delete(`/pangeo-hpc/api/clusters/${id}`);
    expect(deleted.status()).toBe(204);
    const answer = await page.request.get(`/pangeo-hpc/api/clusters/${id}`);
    expect(answer.status()).toBe(404);
    const { ended } = await answer.json();

    await page.reload({ waitForIsReady: false });
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    const gone = tab.getByTestId('pangeo-hpc-dashboard-gone');
    await expect(gone).toBeVisible({ timeout: JOB_TIMEOUT });
    await expect(gone.locator('h3')).toHaveText(`Cluster "${name}" is gone`);
    if (ended) {
      // The server's account of the end (the 404 carries it once it keeps one).
      await expect(gone).toContainText(ended.reason);
    } else {
      await expect(gone).toContainText('no longer knows this cluster');
    }
    await expect(tab.locator('iframe')).toHaveCount(0);
    await expect(page.locator('body')).not.toContainText('404 : Not Found');
    await snapshot(page, testInfo, 'dashboard-gone', gone);
  });
});
