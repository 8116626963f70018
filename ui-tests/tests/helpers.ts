/** Helpers shared by the specs (not a spec itself: Playwright runs *.spec.ts only). */
import { expect } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';

export const SIDEBAR = 'pangeo-hpc-sidebar';

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
