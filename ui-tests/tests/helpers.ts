/**
 * What every spec needs of the sidebar: opening it, and reading its job table.
 */
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

export const SIDEBAR = 'pangeo-hpc-sidebar';
/** Worker jobs start Python processes: allow for a loaded 2-core machine. */
export const JOB_TIMEOUT = 60_000;

export async function openSidebar(
  page: IJupyterLabPageFixture
): Promise<Locator> {
  await page.sidebar.openTab(SIDEBAR);
  const sidebar = page.locator(`#${SIDEBAR}`);
  await expect(sidebar.getByTestId('pangeo-hpc-start-form')).toBeVisible();
  return sidebar;
}

/** The scheduler's own state word of each job in a cluster card's table. */
export function jobStates(cluster: Locator): Locator {
  return cluster.getByTestId('pangeo-hpc-job-state');
}
