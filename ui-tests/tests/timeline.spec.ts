/**
 * The card's timeline (#22 item 4), on the LSF emulator's 2 job slots: after
 * a scale from the card, it draws workers requested against connected and
 * jobs pending against running, from what the sidebar already receives.
 * The scale is one submission, so its jobs read as one job array (#22 item 1),
 * counted element by element when one is scaled away and in the shut-down
 * question (#23).
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

test('the timeline draws workers and jobs after a scale; the jobs read as one job array', async ({
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

  // The emulator runs LSF arrays (on by default): one scale, one array of 3.
  const arrayLine = card.getByTestId('pangeo-hpc-job-arrays');
  await expect(arrayLine).toHaveText(
    /^Workers submitted as one job array \d+ \(3 elements\)$/,
    { timeout: JOB_TIMEOUT }
  );
  const parent = /array (\d+)/.exec((await arrayLine.textContent()) ?? '')![1];
  const ids = await card
    .getByTestId('pangeo-hpc-job')
    .evaluateAll(rows => rows.map(row => row.getAttribute('data-job-id')));
  expect(ids.sort()).toEqual([1, 2, 3].map(i => `${parent}[${i}]`));
  // Each row shows the id bkill takes; its array is in the tooltip and its name.
  const idCell = (index: number) =>
    card
      .locator(
        `[data-testid="pangeo-hpc-job"][data-job-id="${parent}[${index}]"]`
      )
      .getByTestId('pangeo-hpc-job-id');
  await expect(idCell(3)).toHaveText(`${parent}[3]`);
  await expect(idCell(3)).toHaveAttribute(
    'title',
    `element 3 of array ${parent}`
  );
  await expect(idCell(3)).toHaveAccessibleName(
    `${parent}[3], element 3 of array ${parent}`
  );

  await card.scrollIntoViewIfNeeded();
  await docsPicture(page, 'timeline-light');
  await page.theme.setDarkTheme();
  await card.scrollIntoViewIfNeeded();
  await docsPicture(page, 'timeline-dark');
  await page.theme.setLightTheme();

  // Scaled down by one: dask retires the element that never started; it is
  // folded away as one finished job, and the array line counts the live two.
  await card.getByTestId('pangeo-hpc-scale-slider').fill('2');
  await expect(card.getByTestId('pangeo-hpc-ended-toggle')).toHaveText(
    '1 finished ▸',
    { timeout: JOB_TIMEOUT }
  );
  await expect(arrayLine).toHaveText(
    `Workers submitted as one job array ${parent} (2 elements)`
  );
  await expect(card.getByTestId('pangeo-hpc-job')).toHaveCount(2);
  // The shut-down question counts the live elements as jobs; cancelled here.
  await card.getByTestId('pangeo-hpc-shutdown-button').click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText(
    `Shut down "${NAME}" and cancel its 2 live batch job(s)?`
  );
  await dialog.locator('.jp-mod-reject').click();
  await expect(dialog).toHaveCount(0);
});
