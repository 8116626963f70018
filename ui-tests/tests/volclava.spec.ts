/**
 * The sidebar on volclava, a real LSF (.ci/volclava.sh): with PANGEO_HPC_UI_LSF=volclava the
 * server under test has its `lsf` profile on volclava instead of the emulator
 * (jupyter_server_test_config.py); .ci/run runs this spec in a second Galata pass so.
 * Elsewhere it skips, saying why; in that pass under PANGEO_HPC_REQUIRE_LSF=1 a missing
 * volclava fails it instead.
 */
import { expect, test } from '@jupyterlab/galata';
import {
  dashboardPlot,
  deleteEveryCluster,
  JOB_TIMEOUT,
  jobStates,
  openSidebar
} from './helpers';

const LABEL = 'LSF (volclava): Dask workers as batch jobs';
const CLUSTER_NAME = 'volclava-ui';
const NO_VOLCLAVA =
  'no volclava profile on the server under test: it needs PANGEO_HPC_UI_LSF=volclava ' +
  'and `.ci/volclava.sh up` (as root)';

test.describe.serial('an LSF cluster on volclava from the sidebar', () => {
  test.beforeEach(async ({ request }) => {
    const answer = await request.get('/pangeo-hpc/api/profiles');
    expect(answer.status()).toBe(200);
    const labels: string[] = (await answer.json()).profiles.map(
      (p: { label: string }) => p.label
    );
    if (labels.includes(LABEL)) {
      return;
    }
    if (
      process.env.PANGEO_HPC_UI_LSF === 'volclava' &&
      process.env.PANGEO_HPC_REQUIRE_LSF === '1'
    ) {
      throw new Error(
        `PANGEO_HPC_REQUIRE_LSF=1 but ${NO_VOLCLAVA}; profiles: ${labels}`
      );
    }
    // The list reporter prints no skip reasons: say it where a run is read.
    console.warn(`skipped: ${NO_VOLCLAVA}`);
    test.skip(true, NO_VOLCLAVA);
  });

  test.afterAll(async ({ request }) => deleteEveryCluster(request));

  test('form -> RUN jobs on volclava in the table -> dashboard tab', async ({
    page
  }) => {
    const sidebar = await openSidebar(page);
    await sidebar.getByRole('radio', { name: LABEL }).check();
    // The queue select offers volclava's queues (bqueues), the profile's first.
    await expect(sidebar.locator('#root_queue option:checked')).toHaveText(
      'normal'
    );
    await sidebar.getByTestId('pangeo-hpc-name').fill(CLUSTER_NAME);
    await sidebar.getByTestId('pangeo-hpc-workers').fill('2');
    const posted = page.waitForRequest(
      r => r.method() === 'POST' && r.url().includes('/pangeo-hpc/api/clusters')
    );
    await sidebar.getByTestId('pangeo-hpc-start').click();
    expect((await posted).postDataJSON()).toMatchObject({
      profile: 'lsf',
      name: CLUSTER_NAME,
      workers: 2
    });

    const cluster = sidebar
      .getByTestId('pangeo-hpc-cluster-card')
      .filter({ hasText: CLUSTER_NAME });
    await expect(cluster).toBeVisible();
    // The job table shows volclava's own word for each job, read from its bjobs.
    await expect
      .poll(async () => (await jobStates(cluster).allTextContents()).sort(), {
        timeout: JOB_TIMEOUT,
        message: 'the two volclava jobs never both reached RUN'
      })
      .toEqual(['RUN', 'RUN']);
    await expect(
      cluster.getByTestId('pangeo-hpc-workers-connected')
    ).toHaveText('2', { timeout: JOB_TIMEOUT });
    await expect(cluster).toHaveAttribute('data-status', 'running');

    // Job ids and hosts as volclava reports them (this host), through the REST API.
    const clusters = (
      await (await page.request.get('/pangeo-hpc/api/clusters')).json()
    ).clusters;
    const [ours] = clusters.filter(
      (c: { name: string }) => c.name === CLUSTER_NAME
    );
    expect(ours.warning).toBeNull();
    await expect(cluster.getByTestId('pangeo-hpc-job')).toHaveCount(2);
    for (const job of ours.jobs) {
      expect(job.hosts).toHaveLength(1);
      const row = cluster.locator(
        `[data-testid="pangeo-hpc-job"][data-job-id="${job.job_id}"]`
      );
      await expect(row).toHaveAttribute('data-state', 'running');
      await expect(row.getByTestId('pangeo-hpc-job-hosts')).toHaveText(
        job.hosts.join(' ')
      );
    }

    await cluster.getByTestId('pangeo-hpc-dashboard-button').click();
    await expect(page.locator('.pangeo-hpc-Dashboard')).toBeVisible();
    await expect(dashboardPlot(page)).toBeVisible({ timeout: JOB_TIMEOUT });
  });
});
