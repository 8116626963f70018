/**
 * What every spec needs of the sidebar: opening it, and reading its job table.
 */
import {
  expect,
  type IJupyterLabPage,
  type IJupyterLabPageFixture
} from '@jupyterlab/galata';
import type { APIRequestContext, Locator, Page } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

export const SIDEBAR = 'pangeo-hpc-sidebar';
/** Worker jobs start Python processes: allow for a loaded 2-core machine. */
export const JOB_TIMEOUT = 60_000;

export async function openSidebar(
  page: IJupyterLabPageFixture
): Promise<Locator> {
  await page.sidebar.openTab(SIDEBAR);
  const sidebar = page.locator(`#${SIDEBAR}`);
  await showStartForm(sidebar);
  return sidebar;
}

/** The scheduler's own state word of each job in a cluster card's table. */
export function jobStates(cluster: Locator): Locator {
  return cluster.getByTestId('pangeo-hpc-job-state');
}

/**
 * The first plot of the dashboard tab: a canvas BokehJS draws from the document
 * it gets over the proxied websocket, so scripts ran and the websocket went
 * through.
 */
export function dashboardPlot(page: Page): Locator {
  return page
    .frameLocator('.pangeo-hpc-Dashboard iframe')
    .locator('canvas')
    .first();
}

/**
 * Shut down every cluster, so no worker job outlives a spec that failed
 * half-way (DELETE answers once the scheduler confirmed the jobs ended).
 */
export async function deleteEveryCluster(
  request: APIRequestContext
): Promise<void> {
  const answer = await request.get('/pangeo-hpc/api/clusters');
  for (const cluster of (await answer.json()).clusters ?? []) {
    await request.delete(`/pangeo-hpc/api/clusters/${cluster.id}`);
  }
}

/**
 * Open the sidebar in any page, whether the layout restorer left it open or not.
 * `timeout` bounds the wait for JupyterLab to show the sidebar's tab.
 */
export async function openSidebarIn(
  tab: Page,
  timeout: number
): Promise<Locator> {
  const button = tab.locator(`.jp-SideBar [data-id="${SIDEBAR}"]`);
  await expect(button).toBeVisible({ timeout });
  if (!/lm-mod-current/.test((await button.getAttribute('class')) ?? '')) {
    await button.click();
  }
  const sidebar = tab.locator(`#${SIDEBAR}`);
  await expect(sidebar).toBeVisible();
  return sidebar;
}

/** The start form, opened with "+ New cluster" when clusters exist (it waits behind it then). */
export async function showStartForm(sidebar: Locator): Promise<Locator> {
  const form = sidebar.getByTestId('pangeo-hpc-start-form');
  const button = sidebar.getByTestId('pangeo-hpc-new-cluster');
  await expect(form.or(button)).toBeVisible();
  if (await button.isVisible()) {
    await button.click();
  }
  await expect(form).toBeVisible();
  return form;
}

const SCREENSHOTS = path.resolve(__dirname, '..', '..', 'docs', 'screenshots');
const MAX_SCREENSHOT_BYTES = 150_000;

/** A README picture of the whole page, `docs/screenshots/<name>.png`: no focus ring, no hover. */
export async function docsPicture(
  page: IJupyterLabPageFixture,
  name: string
): Promise<void> {
  await page.evaluate(() => (document.activeElement as HTMLElement)?.blur());
  await page.mouse.move(1000, (page.viewportSize()?.height ?? 720) - 8);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
  const size = fs.statSync(file).size;
  expect(size, `${file}: ${size} bytes`).toBeLessThan(MAX_SCREENSHOT_BYTES);
}

/**
 * Galata's own wait gives JupyterLab 15 s to show its launcher; on a loaded
 * 2-core machine (several engineers' suites) it may take longer. For
 * `test.use({ waitForApplication })`.
 */
export async function waitForApplication(
  // eslint-disable-next-line no-empty-pattern
  {}: object,
  use: (
    wait: (page: Page, helpers: IJupyterLabPage) => Promise<void>
  ) => Promise<void>
): Promise<void> {
  await use(async (page, helpers) => {
    await page
      .locator('#jupyterlab-splash')
      .waitFor({ state: 'detached', timeout: 90_000 });
    await helpers.waitForCondition(
      () => helpers.activity.isTabActive('Launcher'),
      90_000
    );
    await helpers.activity.activateTab('Launcher');
  });
}
