/**
 * The sidebar as users meet it (issue #23), at 1280x720 in light and dark:
 * two clusters on the LSF emulator's 2 job slots, one with a job it scaled
 * down and a running one, the other with a running job and one that waits.
 *
 * - README pictures `docs/screenshots/<tag>-{light,dark}.png` (the tag is
 *   `PANGEO_HPC_SHOT_TAG`, `after` by default; `before` pictures were taken
 *   with this spec on the code before #23's changes);
 * - how many Tab presses reach the second card's "Shut down" (printed);
 * - axe-core over the panel, a card and the form, light and dark: no serious
 *   or critical violation (counts printed).
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { APIRequestContext, Locator } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import { deleteEveryCluster, JOB_TIMEOUT, openSidebarIn } from './helpers';

const TAG = process.env.PANGEO_HPC_SHOT_TAG || 'after';
const SCREENSHOTS = path.resolve(__dirname, '..', '..', 'docs', 'screenshots');
const MAX_SCREENSHOT_BYTES = 150_000;

test.use({ viewport: { width: 1280, height: 720 } });

interface IJobJSON {
  job_id: string;
  state: string;
}

async function clusterJobs(
  request: APIRequestContext,
  id: string
): Promise<IJobJSON[]> {
  const answer = await request.get(`/pangeo-hpc/api/clusters/${id}`);
  return (await answer.json()).jobs ?? [];
}

async function create(
  request: APIRequestContext,
  name: string,
  workers: number
): Promise<string> {
  const answer = await request.post('/pangeo-hpc/api/clusters', {
    data: { profile: 'lsf', name, workers, options: {} }
  });
  expect(answer.status(), await answer.text()).toBe(201);
  return (await answer.json()).id;
}

async function scale(
  request: APIRequestContext,
  id: string,
  workers: number
): Promise<void> {
  const answer = await request.patch(`/pangeo-hpc/api/clusters/${id}`, {
    data: { workers }
  });
  expect(answer.status(), await answer.text()).toBe(200);
}

/** Wait (bounded) until the cluster's jobs are in these states, in any order. */
async function jobsAre(
  request: APIRequestContext,
  id: string,
  states: string[],
  what: string
): Promise<void> {
  await expect
    .poll(
      async () =>
        (await clusterJobs(request, id)).map(job => job.state).sort(),
      { message: what, timeout: JOB_TIMEOUT }
    )
    .toEqual([...states].sort());
}

/**
 * "alpha": one job scaled down, then a running one; "beta": one running and
 * one pending (the emulator has 2 slots).
 */
async function twoClusters(request: APIRequestContext): Promise<void> {
  await deleteEveryCluster(request);
  const alpha = await create(request, 'alpha', 1);
  await jobsAre(request, alpha, ['running'], 'alpha: its job runs');
  await scale(request, alpha, 0);
  await jobsAre(request, alpha, ['failed'], 'alpha: its job scaled down');
  await scale(request, alpha, 1);
  await jobsAre(request, alpha, ['failed', 'running'], 'alpha: a new job');
  const beta = await create(request, 'beta', 2);
  await jobsAre(
    request,
    beta,
    ['pending', 'running'],
    'beta: one job runs, the other waits for a slot'
  );
}

function cards(sidebar: Locator): Locator {
  return sidebar.getByTestId('pangeo-hpc-cluster-card');
}

async function shownSidebar(page: IJupyterLabPageFixture): Promise<Locator> {
  const sidebar = await openSidebarIn(page, 30_000);
  await expect(cards(sidebar)).toHaveCount(2);
  // Both cards show what the server says now (the pending job is listed).
  await expect(
    sidebar.locator('[data-testid="pangeo-hpc-job"][data-state="pending"]')
  ).toHaveCount(1, { timeout: JOB_TIMEOUT });
  return sidebar;
}

async function picture(page: IJupyterLabPageFixture, name: string) {
  await page.evaluate(() => (document.activeElement as HTMLElement)?.blur());
  await page.mouse.move(1000, 712);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
  const size = fs.statSync(file).size;
  expect(size, `${file}: ${size} bytes`).toBeLessThan(MAX_SCREENSHOT_BYTES);
}

/** Serious and critical axe violations within `selector`, one line each. */
async function axeViolations(
  page: IJupyterLabPageFixture,
  selector: string
): Promise<string[]> {
  const result = await new AxeBuilder({ page }).include(selector).analyze();
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(
      v =>
        `${v.impact} ${v.id} (${v.nodes.length}): ${v.nodes
          .slice(0, 3)
          .map(n => n.target.join(' '))
          .join(' | ')}`
    );
}

test.describe.serial('the sidebar as users meet it', () => {
  test.beforeAll(async ({ request }) => {
    test.setTimeout(4 * JOB_TIMEOUT);
    await twoClusters(request);
  });

  test.afterAll(async ({ request }) => {
    await deleteEveryCluster(request);
  });

  test('screenshots at 1280x720, light and dark', async ({ page }) => {
    const sidebar = await shownSidebar(page);
    await sidebar.evaluate(node => node.scrollTo(0, 0));
    await picture(page, `${TAG}-light`);
    await page.theme.setDarkTheme();
    await sidebar.evaluate(node => node.scrollTo(0, 0));
    await picture(page, `${TAG}-dark`);
    await page.theme.setLightTheme();
  });

  test('Tab presses to the second card\'s "Shut down"', async ({ page }) => {
    const sidebar = await shownSidebar(page);
    const target = cards(sidebar)
      .nth(1)
      .getByTestId('pangeo-hpc-shutdown-button');
    await sidebar.getByTestId('pangeo-hpc-refresh').focus();
    let presses = 0;
    while (!(await target.evaluate(node => node === document.activeElement))) {
      expect(presses, 'Shut down not reached in 200 Tab presses').toBeLessThan(
        200
      );
      await page.keyboard.press('Tab');
      presses++;
    }
    console.log(
      `[${TAG}] Tab presses from the sidebar's first control to the second card's Shut down: ${presses}`
    );
  });

  test('axe: no serious or critical violation, light and dark', async ({
    page
  }) => {
    const sidebar = await shownSidebar(page);
    const found: string[] = [];
    for (const theme of ['light', 'dark'] as const) {
      if (theme === 'dark') {
        await page.theme.setDarkTheme();
      }
      // A card, the form (opened when it is behind a button), then the whole panel.
      const newCluster = sidebar.getByTestId('pangeo-hpc-new-cluster');
      if (await newCluster.isVisible()) {
        await newCluster.click();
      }
      const parts = {
        card: '[data-testid="pangeo-hpc-cluster-card"]',
        form: '[data-testid="pangeo-hpc-start-form"]',
        panel: '#pangeo-hpc-sidebar'
      };
      for (const [part, selector] of Object.entries(parts)) {
        const violations = await axeViolations(page, selector);
        console.log(
          `[${TAG}] axe ${theme} ${part}: ${violations.length} serious/critical\n  ${violations.join('\n  ')}`
        );
        found.push(...violations.map(v => `${theme} ${part}: ${v}`));
      }
    }
    await page.theme.setLightTheme();
    expect(found).toEqual([]);
  });
});
