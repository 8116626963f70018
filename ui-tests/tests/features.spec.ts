/**
 * What #23 items 5, 7 and 8 added, on the LSF emulator: a job's log in its
 * own tab with a refresh, the default dashboard plots laid out in one go, a
 * dashboard by URL (refused for what is not this user's), and a client in
 * every new notebook (autoStartClient).
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';
import {
  deleteEveryCluster,
  JOB_TIMEOUT,
  openSidebarIn,
  showStartForm,
  waitForApplication
} from './helpers';

test.use({ waitForApplication });

const NAME = 'features';
const SETTINGS = '/lab/api/settings/pangeo-hpc-ext:plugin';

async function jobStates(
  request: APIRequestContext,
  id: string
): Promise<string[]> {
  const answer = await request.get(`/pangeo-hpc/api/clusters/${id}`);
  return ((await answer.json()).jobs ?? [])
    .map((job: { state: string }) => job.state)
    .sort();
}

async function execute(
  page: IJupyterLabPageFixture,
  command: string,
  args: Record<string, string>
): Promise<unknown> {
  return page.evaluate(
    ({ command, args }) =>
      (window as any).jupyterapp.commands.execute(command, args),
    { command, args }
  );
}

test.describe
  .serial('log tab, default plots, dashboard by URL, auto client', () => {
  let clusterId = '';

  test.beforeAll(async ({ request }) => {
    test.setTimeout(4 * JOB_TIMEOUT);
    await deleteEveryCluster(request);
    const answer = await request.post('/pangeo-hpc/api/clusters', {
      data: { profile: 'lsf', name: NAME, workers: 2, options: {} }
    });
    expect(answer.status(), await answer.text()).toBe(201);
    clusterId = (await answer.json()).id;
    await expect
      .poll(() => jobStates(request, clusterId), {
        timeout: JOB_TIMEOUT,
        message: 'both jobs run (2 emulator slots)'
      })
      .toEqual(['running', 'running']);
    // One job scaled down: an ended job with a log.
    await request.patch(`/pangeo-hpc/api/clusters/${clusterId}`, {
      data: { workers: 1 }
    });
    await expect
      .poll(() => jobStates(request, clusterId), {
        timeout: JOB_TIMEOUT,
        message: 'one job retired, one running'
      })
      .toEqual(['failed', 'running']);
  });

  test.afterAll(async ({ request }) => {
    await request.put(SETTINGS, { data: { raw: '{}' } });
    await deleteEveryCluster(request);
  });

  test('"Show log" opens the job\'s log in a tab, with a refresh', async ({
    page
  }) => {
    const sidebar = await openSidebarIn(page, 30_000);
    const card = sidebar
      .getByTestId('pangeo-hpc-cluster-card')
      .filter({ hasText: NAME });
    await card.getByTestId('pangeo-hpc-ended-toggle').click();
    await card.getByTestId('pangeo-hpc-job-log-button').first().click();
    const tab = page.getByTestId('pangeo-hpc-job-log-tab');
    await expect(tab).toBeVisible();
    const content = tab.locator('.pangeo-hpc-JobLogView');
    await expect(content).toHaveAttribute('data-state', /loaded|failed/, {
      timeout: JOB_TIMEOUT
    });
    await expect(tab.getByTestId('pangeo-hpc-job-log')).toContainText('==>');
    // Whole lines: the log is not wrapped into a narrow box.
    const box = await tab.boundingBox();
    expect(
      box!.width,
      'the log tab is as wide as the main area'
    ).toBeGreaterThan(500);
    await tab.getByRole('button', { name: 'Refresh' }).click();
    await expect(content).toHaveAttribute('data-state', 'loaded');
  });

  test('"Open Default Dashboard Plots" lays four plots out at once', async ({
    page
  }) => {
    const ids = (await execute(page, 'pangeo-hpc:open-default-plots', {
      clusterId
    })) as string[];
    expect(ids).toHaveLength(4);
    // All four in view at once: side by side and below, not stacked as tabs.
    for (const id of ids) {
      await expect(page.locator(`#${id}`)).toBeVisible();
    }
    const boxes = await Promise.all(
      ids.map(id => page.locator(`#${id}`).boundingBox())
    );
    expect(boxes[1]!.x).toBeGreaterThan(boxes[0]!.x);
    expect(boxes[2]!.y).toBeGreaterThan(boxes[0]!.y);
  });

  test('a dashboard by URL: other hosts and ports not yours are refused, in words', async ({
    page
  }) => {
    const sidebar = await openSidebarIn(page, 30_000);
    const input = sidebar.getByTestId('pangeo-hpc-dashboard-url-input');
    const error = sidebar.getByTestId('pangeo-hpc-dashboard-url-error');
    await input.fill('http://10.1.2.3:8787/status');
    await input.press('Enter');
    await expect(error).toContainText("not this server's host");
    await input.fill('http://127.0.0.1:1/status');
    await sidebar.getByTestId('pangeo-hpc-dashboard-url-open').click();
    await expect(error).toContainText(
      'No dashboard of a cluster of yours listens on port 1'
    );
    await expect(page.locator('.pangeo-hpc-Dashboard')).toHaveCount(0);
  });

  test.describe("with the server's own settings", () => {
    // Galata mocks the settings per test by default: the page would not see the PUT.
    test.use({ mockSettings: false });

    test('"Client in every new notebook": a new notebook has `client` of the cluster', async ({
      page,
      request
    }) => {
      const answer = await request.put(SETTINGS, {
        data: { raw: JSON.stringify({ autoStartClient: NAME }) }
      });
      expect(answer.status(), await answer.text()).toBe(204);
      // The launcher may not be what comes back: galata's readiness check does not apply.
      await page.reload({ waitForIsReady: false });
      await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
      await page.notebook.createNew('auto-client.ipynb');
      await expect(
        page.locator('.jp-toast-message', { hasText: `connected to ${NAME}` })
      ).toBeVisible({ timeout: JOB_TIMEOUT });
      await page.notebook.setCell(
        0,
        'code',
        'print(type(client).__name__, client.status)'
      );
      await page.notebook.run();
      const output = await page.notebook.getCellTextOutput(0);
      expect(output?.join('')).toMatch(/Client running/);
      await page.notebook.close(true);
    });
  });
});

test("the local form's checkbox sits on its label's line", async ({ page }) => {
  await page.sidebar.openTab('pangeo-hpc-sidebar');
  const sidebar = page.locator('#pangeo-hpc-sidebar');
  const form = await showStartForm(sidebar);
  await form.locator('input[name="pangeo-hpc-profile"][value="local"]').check();
  const box = form.locator('#root_processes');
  await expect(box).toBeVisible();
  const text = form.getByText('Workers in separate processes', {
    exact: true
  });
  await expect(text.last()).toBeVisible();
  const b = await box.boundingBox();
  const t = await text.last().boundingBox();
  expect(
    Math.abs(b!.y + b!.height / 2 - (t!.y + t!.height / 2)),
    "the checkbox is not on its label text's line"
  ).toBeLessThan(6);
  expect(t!.x, 'the label text is not beside the checkbox').toBeGreaterThan(
    b!.x
  );
});
