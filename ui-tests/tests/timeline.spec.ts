/**
 * The card's timeline (#22 item 4), on the LSF emulator's 2 job slots: after
 * a scale from the card, it draws workers requested against connected and
 * jobs pending against running, from what the sidebar already receives.
 * Writes docs/screenshots/timeline-{light,dark}.png at 1280x720.
 */
import { expect, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';
import {
  deleteEveryCluster,
  docsPicture,
  JOB_TIMEOUT,
  openSidebarIn
} from './helpers';

test.use({ viewport: { width: 1280, height: 720 } });

const NAME = 'timeline';

/** The highest value one line of the timeline reached. */
function lineMax(timeline: Locator, series: string): Promise<number> {
  return timeline
    .locator(`polyline[data-series="${series}"]`)
    .getAttribute('data-max')
    .then(Number);
}

test.afterAll(async ({ request }) => {
  await deleteEveryCluster(request);
});

test('the timeline draws workers and jobs after a scale', async ({
  page,
  request
}) => {
  test.setTimeout(4 * JOB_TIMEOUT);
  await deleteEveryCluster(request);
  const answer = await request.post('/pangeo-hpc/api/clusters', {
    data: { profile: 'lsf', name: NAME, workers: 0, options: {} }
  });
  expect(answer.status(), await answer.text()).toBe(201);

  const sidebar = await openSidebarIn(page, 30_000);
  const card = sidebar
    .getByTestId('pangeo-hpc-cluster-card')
    .filter({ hasText: NAME });
  const timeline = card.getByTestId('pangeo-hpc-timeline');
  await expect(timeline).toBeVisible();
  await expect(timeline.locator('polyline')).toHaveCount(4);

  await card.getByTestId('pangeo-hpc-scale-slider').fill('3');
  // Three jobs on two slots: two run (and connect), one waits.
  for (const [series, value] of [
    ['requested', 3],
    ['running', 2],
    ['connected', 2],
    ['pending', 1]
  ] as const) {
    await expect
      .poll(() => lineMax(timeline, series), {
        timeout: JOB_TIMEOUT,
        message: `the timeline's ${series} line never reached ${value}`
      })
      .toBeGreaterThanOrEqual(value);
  }
  expect(
    Number(await timeline.getAttribute('data-samples')),
    'the timeline holds the changes seen since the scale'
  ).toBeGreaterThanOrEqual(2);
  await expect(timeline.locator('svg')).toHaveAttribute(
    'aria-label',
    /workers 2 of 3 connected, jobs 2 running and 1 pending/
  );

  await card.scrollIntoViewIfNeeded();
  await docsPicture(page, 'timeline-light');
  await page.theme.setDarkTheme();
  await card.scrollIntoViewIfNeeded();
  await docsPicture(page, 'timeline-dark');
  await page.theme.setLightTheme();
});
