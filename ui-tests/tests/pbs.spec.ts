/**
 * The sidebar on real OpenPBS (.ci/openpbs.sh): the server under test has a
 * `pbs` profile when PBS's qstat answers from $PANGEO_HPC_PBS_BIN or
 * /opt/pbs/bin (jupyter_server_test_config.py). Without it these tests skip,
 * saying why; under CI (PANGEO_HPC_REQUIRE_PBS=1) they fail instead.
 */
import { expect, test } from '@jupyterlab/galata';
import {
  dashboardPlot,
  deleteEveryCluster,
  JOB_TIMEOUT,
  jobStates,
  openSidebar
} from './helpers';

const LABEL = 'PBS: Dask workers as batch jobs';
const CLUSTER_NAME = 'pbs-ui';
const NO_PBS =
  'no PBS profile on the server under test: no PBS qstat in ' +
  '$PANGEO_HPC_PBS_BIN or /opt/pbs/bin (`.ci/openpbs.sh up` as root starts it)';

test.describe.serial('a PBS cluster from the sidebar', () => {
  test.beforeEach(async ({ request }) => {
    const answer = await request.get('/pangeo-hpc/api/profiles');
    expect(answer.status()).toBe(200);
    const names: string[] = (await answer.json()).profiles.map(
      (p: { name: string }) => p.name
    );
    if (names.includes('pbs')) {
      return;
    }
    if (process.env.PANGEO_HPC_REQUIRE_PBS === '1') {
      throw new Error(
        `PANGEO_HPC_REQUIRE_PBS=1 but ${NO_PBS}; profiles: ${names}`
      );
    }
    // The list reporter prints no skip reasons: say it where a run is read.
    console.warn(`skipped: ${NO_PBS}`);
    test.skip(true, NO_PBS);
  });

  test.afterAll(async ({ request }) => deleteEveryCluster(request));

  test('form -> RUNNING jobs in the table -> dashboard tab', async ({
    page
  }) => {
    const sidebar = await openSidebar(page);
    await sidebar.getByRole('radio', { name: LABEL }).check();
    // The queue select offers PBS's queues, the profile's first.
    await expect(sidebar.locator('#root_queue option:checked')).toHaveText(
      'workq'
    );
    await sidebar.getByTestId('pangeo-hpc-name').fill(CLUSTER_NAME);
    await sidebar.getByTestId('pangeo-hpc-workers').fill('2');
    const posted = page.waitForRequest(
      r => r.method() === 'POST' && r.url().includes('/pangeo-hpc/api/clusters')
    );
    await sidebar.getByTestId('pangeo-hpc-start').click();
    expect((await posted).postDataJSON()).toMatchObject({
      profile: 'pbs',
      name: CLUSTER_NAME,
      workers: 2
    });

    const cluster = sidebar
      .getByTestId('pangeo-hpc-cluster-card')
      .filter({ hasText: CLUSTER_NAME });
    await expect(cluster).toBeVisible();
    // The job table shows PBS's own state letter for each job.
    await expect
      .poll(async () => (await jobStates(cluster).allTextContents()).sort(), {
        timeout: JOB_TIMEOUT,
        message: 'the two PBS jobs never both reached R'
      })
      .toEqual(['R', 'R']);
    await expect(
      cluster.getByTestId('pangeo-hpc-workers-connected')
    ).toHaveText('2', { timeout: JOB_TIMEOUT });
    await expect(cluster).toHaveAttribute('data-status', 'running');

    // Job ids and hosts as PBS reports them, through the REST API.
    const clusters = (
      await (await page.request.get('/pangeo-hpc/api/clusters')).json()
    ).clusters;
    const [ours] = clusters.filter(
      (c: { name: string }) => c.name === CLUSTER_NAME
    );
    await expect(cluster.getByTestId('pangeo-hpc-job')).toHaveCount(2);
    for (const job of ours.jobs) {
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
