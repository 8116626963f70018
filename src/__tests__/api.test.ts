import { beforeEach, describe, expect, it } from 'vitest';

import {
  APIError,
  ClusterAPI,
  clusterPresence,
  dashboardRoot,
  serverURL
} from '../api';
import { FakeServer, makeCluster, serveFake } from './fakeserver';

describe('ClusterAPI over HTTP', () => {
  const http = serveFake();
  let server: FakeServer;
  let api: ClusterAPI;

  beforeEach(() => {
    ({ server, api } = http);
  });

  it('lists profiles with the server limits', async () => {
    const answer = await api.profiles();
    expect(answer.profiles.map(p => p.name)).toEqual(['lsf', 'local']);
    expect(answer.max_workers).toBe(8);
    expect(server.requests[0]).toMatchObject({
      method: 'GET',
      path: '/lab/pangeo-hpc/api/profiles'
    });
  });

  it('creates, reads, scales, adapts and deletes a cluster', async () => {
    const created = await api.create({
      profile: 'lsf',
      options: { memory: '4GB' },
      workers: 2,
      name: 'opt'
    });
    expect(created).toMatchObject({ name: 'opt', status: 'starting' });
    // Each job in our state words, with the scheduler's own word beside them.
    expect(created.jobs).toHaveLength(2);
    expect(created.jobs[0]).toMatchObject({
      state: 'pending',
      native_state: 'PEND',
      reason: 'New job is waiting for scheduling;',
      hosts: []
    });
    expect(server.requests[0].body).toEqual({
      profile: 'lsf',
      options: { memory: '4GB' },
      workers: 2,
      name: 'opt'
    });
    expect(String(server.requests[0].headers['content-type'])).toContain(
      'application/json'
    );

    expect((await api.cluster(created.id)).id).toBe(created.id);
    expect((await api.scale(created.id, 3)).workers.requested).toBe(3);
    expect(server.requests.at(-1)).toMatchObject({
      method: 'PATCH',
      body: { workers: 3 }
    });
    expect(
      (await api.adapt(created.id, { minimum: 1, maximum: 4 })).adapt
    ).toEqual({
      minimum: 1,
      maximum: 4
    });
    await api.adapt(created.id, null);
    expect(server.requests.at(-1)!.body).toEqual({ adapt: null });

    expect(await api.clusters()).toHaveLength(1);
    await api.close(created.id);
    expect(server.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: `/lab/pangeo-hpc/api/clusters/${created.id}`
    });
    expect(await api.clusters()).toHaveLength(0);
  });

  it('turns a 422 into an APIError with field errors', async () => {
    const error = await api
      .create({ profile: 'lsf', options: {}, workers: 50 })
      .catch(e => e);
    expect(error).toBeInstanceOf(APIError);
    expect(error.status).toBe(422);
    expect(error.message).toBe('workers must be between 0 and 8');
    expect(error.byField()).toEqual({ workers: ['must be between 0 and 8'] });
  });

  it('keeps the status line when the error body is not JSON', async () => {
    server.nextAnswer = {
      status: 502,
      body: '<html>Bad gateway</html>',
      type: 'text/html'
    };
    const error = await api.clusters().catch(e => e);
    expect(error).toBeInstanceOf(APIError);
    expect(error.status).toBe(502);
    expect(error.errors).toEqual([]);
  });

  it('reports 404 for an unknown cluster', async () => {
    const error = await api.cluster('nope').catch(e => e);
    expect(error.status).toBe(404);
    expect(error.message).toBe('no such cluster');
  });

  it('reports an unreachable server as status 0', async () => {
    await server.stop();
    const error = await api.clusters().catch(e => e);
    expect(error).toBeInstanceOf(APIError);
    expect(error.status).toBe(0);
    http.server = new FakeServer(); // afterEach stops something
    await http.server.start();
  });

  it('lists individual plots as absolute URLs under the dashboard root', async () => {
    server.clusters.set('c9', makeCluster('c9'));
    const base = api.serverSettings.baseUrl;
    const plots = await api.individualPlots(
      '/lab/pangeo-hpc/clusters/c9/dashboard/status'
    );
    expect(plots).toEqual({
      'Task Stream': `${base}pangeo-hpc/clusters/c9/dashboard/individual-task-stream`,
      'Workers Memory': `${base}pangeo-hpc/clusters/c9/dashboard/individual-workers-memory`
    });
  });

  it("a dashboard tab's cluster: live, gone with how it ended, or gone unknown", async () => {
    const created = await api.create({
      profile: 'lsf',
      options: {},
      workers: 0,
      name: 'kept-tab'
    });
    expect(await clusterPresence(api, created.id)).toEqual({ kind: 'live' });
    await api.close(created.id);
    expect(await clusterPresence(api, created.id)).toEqual({
      kind: 'gone',
      ended: {
        name: 'kept-tab',
        ended: '2026-12-01T10:30:00+00:00',
        reason: 'shut down from JupyterLab'
      }
    });
    // A server without the `ended` contract, or an id it never had.
    expect(await clusterPresence(api, 'never')).toEqual({
      kind: 'gone',
      ended: null
    });
    // Anything but a 404 does not declare the cluster gone: the page loads.
    server.nextAnswer = { status: 502, body: '{"message": "bad gateway"}' };
    expect(await clusterPresence(api, created.id)).toEqual({ kind: 'live' });
    // A malformed `ended` is ignored rather than shown.
    server.nextAnswer = {
      status: 404,
      body: '{"message": "gone", "ended": {"name": 3}}'
    };
    expect(await clusterPresence(api, created.id)).toEqual({
      kind: 'gone',
      ended: null
    });
  });

  it('rejects with the status when the plot list is missing', async () => {
    const error = await api
      .individualPlots('/lab/pangeo-hpc/clusters/gone/dashboard/status')
      .catch(e => e);
    expect(error).toBeInstanceOf(APIError);
    expect(error.status).toBe(404);
  });
});

describe('server URLs', () => {
  it('resolves server-absolute and base-relative paths', () => {
    const base = 'http://h:8888/base/';
    expect(
      serverURL('/base/pangeo-hpc/clusters/a/dashboard/status', base)
    ).toBe('http://h:8888/base/pangeo-hpc/clusters/a/dashboard/status');
    expect(serverURL('pangeo-hpc/x', base)).toBe(
      'http://h:8888/base/pangeo-hpc/x'
    );
  });

  it('finds the dashboard root from the status page', () => {
    const base = 'http://h/';
    expect(dashboardRoot('/pangeo-hpc/clusters/a/dashboard/status', base)).toBe(
      'http://h/pangeo-hpc/clusters/a/dashboard/'
    );
    expect(dashboardRoot('/pangeo-hpc/clusters/a/dashboard', base)).toBe(
      'http://h/pangeo-hpc/clusters/a/dashboard/'
    );
  });
});
