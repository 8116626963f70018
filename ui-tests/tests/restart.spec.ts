/**
 * A cluster outlives a JupyterLab restart (on_server_stop = keep): after the
 * restart and a reload, its card and its dashboard tab are back.
 *
 * Playwright's webServer cannot be restarted within a test, so this spec
 * runs its own JupyterLab (same config file) twice on one run directory:
 * same emulator home, same state_dir, same workspaces and settings.
 */
import { expect, test } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { openSidebarIn } from './helpers';

const CLUSTER_NAME = 'kept-ui';
const WORKSPACE = 'restart';
const TOKEN = 'pangeo-hpc-restart-test';
/** Worker jobs start Python processes: allow for a loaded 2-core machine. */
const JOB_TIMEOUT = 60_000;
/** JupyterLab's start-up (and, after the restart, the reattach) on 2 cores. */
const SERVER_TIMEOUT = 120_000;
const UI_TESTS = path.resolve(__dirname, '..');

/** One JupyterLab of ours, and what it printed (shown when it fails). */
interface ILab {
  process: ChildProcess;
  exited: Promise<number | null>;
  output: string[];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function api(base: string, route: string, init: RequestInit = {}) {
  return fetch(`${base}${route}`, {
    ...init,
    headers: { Authorization: `token ${TOKEN}`, ...init.headers }
  });
}

function startLab(port: number, runDir: string): ILab {
  const notebooks = path.join(runDir, 'notebooks');
  fs.mkdirSync(notebooks, { recursive: true });
  const child = spawn(
    'jupyter',
    [
      'lab',
      '--config',
      path.join(UI_TESTS, 'jupyter_server_test_config.py'),
      `--port=${port}`,
      `--IdentityProvider.token=${TOKEN}`,
      '--PangeoHPC.on_server_stop=keep',
      // Should the test fail between the two servers, the kept cluster ends itself.
      '--PangeoHPC.idle_timeout=600',
      `--PangeoHPC.state_dir=${path.join(runDir, 'server')}`,
      // The restored dashboard tab comes from the workspace the first server saved.
      `--LabApp.workspaces_dir=${path.join(runDir, 'workspaces')}`,
      `--LabApp.user_settings_dir=${path.join(runDir, 'settings')}`,
      `--ServerApp.root_dir=${notebooks}`
    ],
    {
      cwd: UI_TESTS,
      env: { ...process.env, PANGEO_HPC_UI_RUN_DIR: runDir },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  const output: string[] = [];
  child.stdout!.on('data', data => output.push(String(data)));
  child.stderr!.on('data', data => output.push(String(data)));
  const exited = new Promise<number | null>(resolve =>
    child.once('exit', code => resolve(code))
  );
  return { process: child, exited, output };
}

/** Until it answers our API; fails at once, with what it printed, if it exits. */
async function waitUntilServing(lab: ILab, base: string): Promise<void> {
  const deadline = Date.now() + SERVER_TIMEOUT;
  while (Date.now() < deadline) {
    if (!running(lab)) {
      throw new Error(
        `JupyterLab exited (${lab.process.exitCode ?? lab.process.signalCode}):\n${lab.output.join('')}`
      );
    }
    try {
      if ((await api(base, '/pangeo-hpc/api/clusters')).ok) {
        return;
      }
    } catch {
      // Not listening yet.
    }
    // The next try, or sooner if it exits meanwhile.
    await Promise.race([lab.exited, new Promise(r => setTimeout(r, 250))]);
  }
  throw new Error(
    `JupyterLab at ${base} did not answer within ${SERVER_TIMEOUT} ms:\n${lab.output.join('')}`
  );
}

function running(lab: ILab): boolean {
  return lab.process.exitCode === null && lab.process.signalCode === null;
}

/** SIGTERM to its PID (never by name), then wait for it to exit, bounded. */
async function stopLab(lab: ILab): Promise<void> {
  if (!running(lab)) {
    return;
  }
  lab.process.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>(resolve => {
    timer = setTimeout(() => resolve('timeout'), SERVER_TIMEOUT);
  });
  const result = await Promise.race([lab.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    lab.process.kill('SIGKILL');
    throw new Error(
      `JupyterLab (pid ${lab.process.pid}) did not exit within ${SERVER_TIMEOUT} ms of SIGTERM:\n${lab.output.join('')}`
    );
  }
}

/** The same workspace URL on both servers: the second restores the first's layout. */
async function openLab(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/lab/workspaces/${WORKSPACE}?token=${TOKEN}`);
  await page.waitForSelector('#jupyterlab-splash', {
    state: 'detached',
    timeout: SERVER_TIMEOUT
  });
}

function card(sidebar: Locator): Locator {
  return sidebar
    .getByTestId('pangeo-hpc-cluster-card')
    .filter({ hasText: CLUSTER_NAME });
}

function dashboardCanvas(page: Page, clusterId: string): Locator {
  return page
    .frameLocator(
      `.pangeo-hpc-Dashboard[data-cluster-id="${clusterId}"] iframe`
    )
    .locator('canvas')
    .first();
}

/** The card is running with one connected worker on one RUN job; its job ids. */
async function expectOneWorker(cluster: Locator): Promise<string[]> {
  await expect(cluster).toHaveAttribute('data-status', 'running', {
    timeout: JOB_TIMEOUT
  });
  await expect(cluster.getByTestId('pangeo-hpc-workers-connected')).toHaveText(
    '1',
    { timeout: JOB_TIMEOUT }
  );
  await expect(cluster.getByTestId('pangeo-hpc-job-state')).toHaveText(
    ['RUN'],
    { timeout: JOB_TIMEOUT }
  );
  return cluster
    .getByTestId('pangeo-hpc-job')
    .evaluateAll(rows => rows.map(r => r.getAttribute('data-job-id') ?? ''));
}

test.describe('a kept cluster across a JupyterLab restart', () => {
  test('start a cluster, restart JupyterLab with keep, reload: the card and its dashboard tab are back', async ({
    browser
  }, testInfo) => {
    test.setTimeout(6 * 60_000);
    const runDir = fs.mkdtempSync(
      path.join(os.tmpdir(), 'pangeo-hpc-ui-restart-')
    );
    // One port for both servers, so the second load is the same URL: a reload.
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const context = await browser.newContext();
    const page = await context.newPage();
    const labs = [startLab(port, runDir)];
    let lab = labs[0];
    let passed = false;
    try {
      await waitUntilServing(lab, base);
      await openLab(page, base);
      const sidebar = await openSidebarIn(page, SERVER_TIMEOUT);
      await sidebar.getByTestId('pangeo-hpc-name').fill(CLUSTER_NAME);
      await sidebar.getByTestId('pangeo-hpc-workers').fill('1');
      await sidebar.getByTestId('pangeo-hpc-start').click();
      const cluster = card(sidebar);
      const jobIds = await expectOneWorker(cluster);
      const clusterId = (await cluster.getAttribute('data-cluster-id'))!;

      await cluster.getByTestId('pangeo-hpc-dashboard-button').click();
      await expect(dashboardCanvas(page, clusterId)).toBeVisible({
        timeout: JOB_TIMEOUT
      });
      // JupyterLab saves the layout a moment after it changes: wait until the
      // server holds the workspace with the dashboard tab before stopping it.
      const tabKey = `pangeo-hpc-dashboard:pangeo-hpc-dashboard-${clusterId}`;
      await expect
        .poll(
          async () => {
            const { data } = await (
              await api(base, `/lab/api/workspaces/${WORKSPACE}`)
            ).json();
            return (
              tabKey in data &&
              JSON.stringify(data['layout-restorer:data']?.main ?? {}).includes(
                tabKey
              )
            );
          },
          {
            timeout: JOB_TIMEOUT,
            message: 'the workspace was not saved with the dashboard tab'
          }
        )
        .toBe(true);
      await page.screenshot({
        path: testInfo.outputPath('before-restart.png')
      });

      // Figures for the report only, never asserted.
      const t0 = Date.now();
      await stopLab(lab);
      const t1 = Date.now();
      lab = startLab(port, runDir);
      labs.push(lab);
      await waitUntilServing(lab, base);
      const t2 = Date.now();
      const answer = await api(base, `/pangeo-hpc/api/clusters/${clusterId}`);
      expect(answer.status, 'the kept cluster was not reattached').toBe(200);
      const reattached = await answer.json();
      expect(
        reattached.jobs.map((j: { job_id: string }) => j.job_id).sort()
      ).toEqual([...jobIds].sort());

      await openLab(page, base);
      const after = card(await openSidebarIn(page, SERVER_TIMEOUT));
      await expect(after).toHaveAttribute('data-cluster-id', clusterId, {
        timeout: JOB_TIMEOUT
      });
      expect((await expectOneWorker(after)).sort()).toEqual([...jobIds].sort());
      await expect(
        page.locator('#jp-main-dock-panel .lm-TabBar-tab', {
          hasText: `Dask dashboard — ${CLUSTER_NAME}`
        })
      ).toBeVisible();
      await expect(dashboardCanvas(page, clusterId)).toBeVisible({
        timeout: JOB_TIMEOUT
      });
      console.log(
        `restart: stop ${t1 - t0} ms, start to cluster listed ${t2 - t1} ms, ` +
          `reload to card and dashboard back ${Date.now() - t2} ms`
      );
      const shot = testInfo.outputPath('after-restart.png');
      await page.screenshot({ path: shot });
      await testInfo.attach('after-restart', {
        path: shot,
        contentType: 'image/png'
      });

      // Shut it down from the card: no job may remain.
      await after.getByTestId('pangeo-hpc-shutdown-button').click();
      await page.locator('.jp-Dialog .jp-mod-warn').click();
      await expect(after).toHaveCount(0, { timeout: JOB_TIMEOUT });
      const listed = await (await api(base, '/pangeo-hpc/api/clusters')).json();
      expect(listed.clusters).toEqual([]);
      // Ask the emulator itself, as a user would with bjobs.
      const demo = path.join(runDir, 'demo');
      const bjobs = execFileSync(
        path.join(demo, 'bin', 'bjobs'),
        ['-a', '-noheader', '-o', 'jobid stat', ...jobIds],
        {
          encoding: 'utf-8',
          env: {
            ...process.env,
            LSFSIM_HOME: path.join(demo, 'lsfsim'),
            LSF_ENVDIR: path.join(demo, 'lsfsim', 'conf')
          }
        }
      );
      const states = bjobs
        .split('\n')
        .filter(line => line.trim())
        .map(line => line.split(/\s+/)[1]);
      expect(states, `bjobs -a said:\n${bjobs}`).toHaveLength(jobIds.length);
      for (const state of states) {
        expect(['DONE', 'EXIT'], `bjobs -a said:\n${bjobs}`).toContain(state);
      }
      passed = true;
    } finally {
      await context.close();
      // Whatever failed, leave no cluster running: close them all, then the server.
      if (running(lab)) {
        try {
          const { clusters } = await (
            await api(base, '/pangeo-hpc/api/clusters')
          ).json();
          for (const { id, origin } of clusters) {
            if (origin !== 'notebook') {
              await api(base, `/pangeo-hpc/api/clusters/${id}`, {
                method: 'DELETE'
              });
            }
          }
        } finally {
          await stopLab(lab);
        }
      }
      for (const [i, { output }] of labs.entries()) {
        await testInfo.attach(`server-${i + 1}.log`, {
          body: output.join(''),
          contentType: 'text/plain'
        });
      }
      // A failed run keeps its directory (emulator, records, supervisor logs) to look into.
      if (passed) {
        fs.rmSync(runDir, { recursive: true, force: true });
      }
    }
  });
});
