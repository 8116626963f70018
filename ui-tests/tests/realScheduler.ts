/**
 * The sidebar flow on a real batch scheduler, shared by slurm.spec.ts,
 * pbs.spec.ts and volclava.spec.ts: start a 2-worker cluster from the form,
 * see both jobs in the scheduler's own running word with its hosts, open the
 * dashboard tab. Without the scheduler's profile on the server under test the
 * tests skip, saying why; when the scheduler is required they fail instead.
 */
import { expect, test } from '@jupyterlab/galata';
import {
  dashboardPlot,
  deleteEveryCluster,
  JOB_TIMEOUT,
  jobStates,
  openSidebar
} from './helpers';

export interface IRealScheduler {
  /** Who is tested, for titles and messages ("Slurm", "PBS", "volclava"). */
  title: string;
  /** The profile's name and its label in the form. */
  profile: string;
  label: string;
  /** The queue (partition) the form offers first. */
  firstQueue: string;
  /** The scheduler's word for a running job. */
  runningWord: string;
  clusterName: string;
  /** Hosts each job runs on, where the test machine fixes it (one node). */
  hostsPerJob?: number;
  /** Why the profile is missing, and whether that fails the run. */
  missing: string;
  required: boolean;
}

export function realSchedulerFlow(s: IRealScheduler): void {
  test.describe.serial(`a ${s.title} cluster from the sidebar`, () => {
    test.beforeEach(async ({ request }) => {
      const answer = await request.get('/pangeo-hpc/api/profiles');
      expect(answer.status()).toBe(200);
      const profiles: { name: string; label: string }[] = (await answer.json())
        .profiles;
      if (profiles.some(p => p.name === s.profile && p.label === s.label)) {
        return;
      }
      const seen = profiles.map(p => `${p.name} (${p.label})`).join(', ');
      if (s.required) {
        throw new Error(`required but ${s.missing}; profiles: ${seen}`);
      }
      // The list reporter prints no skip reasons: say it where a run is read.
      console.warn(`skipped: ${s.missing}`);
      test.skip(true, s.missing);
    });

    test.afterAll(async ({ request }) => deleteEveryCluster(request));

    test(`form -> ${s.runningWord} jobs in the table -> dashboard tab`, async ({
      page
    }) => {
      const sidebar = await openSidebar(page);
      await sidebar.getByRole('radio', { name: s.label }).check();
      await expect(sidebar.locator('#root_queue option:checked')).toHaveText(
        s.firstQueue
      );
      await sidebar.getByTestId('pangeo-hpc-name').fill(s.clusterName);
      await sidebar.getByTestId('pangeo-hpc-workers').fill('2');
      const posted = page.waitForRequest(
        r =>
          r.method() === 'POST' && r.url().includes('/pangeo-hpc/api/clusters')
      );
      await sidebar.getByTestId('pangeo-hpc-start').click();
      expect((await posted).postDataJSON()).toMatchObject({
        profile: s.profile,
        name: s.clusterName,
        workers: 2
      });

      const cluster = sidebar
        .getByTestId('pangeo-hpc-cluster-card')
        .filter({ hasText: s.clusterName });
      await expect(cluster).toBeVisible();
      // The job table shows the scheduler's own word for each job.
      await expect
        .poll(async () => (await jobStates(cluster).allTextContents()).sort(), {
          timeout: JOB_TIMEOUT,
          message: `the two ${s.title} jobs never both reached ${s.runningWord}`
        })
        .toEqual([s.runningWord, s.runningWord]);
      await expect(
        cluster.getByTestId('pangeo-hpc-workers-connected')
      ).toHaveText('2', { timeout: JOB_TIMEOUT });
      await expect(cluster).toHaveAttribute('data-status', 'running');

      // Job ids and hosts as the scheduler reports them, through the REST API.
      const clusters = (
        await (await page.request.get('/pangeo-hpc/api/clusters')).json()
      ).clusters;
      const [ours] = clusters.filter(
        (c: { name: string }) => c.name === s.clusterName
      );
      expect(ours.warning).toBeNull();
      await expect(cluster.getByTestId('pangeo-hpc-job')).toHaveCount(2);
      for (const job of ours.jobs) {
        expect(job.hosts.length).toBeGreaterThan(0);
        if (s.hostsPerJob !== undefined) {
          expect(job.hosts).toHaveLength(s.hostsPerJob);
        }
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
}
