/**
 * A real HTTP server on 127.0.0.1 speaking the REST contract from DESIGN.md,
 * with an in-memory cluster list: the API client is tested over the wire.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ServerConnection } from '@jupyterlab/services';
import { afterEach, beforeEach } from 'vitest';

import {
  ClusterAPI,
  type ICluster,
  type IEndedCluster,
  type IJob,
  type IProfiles
} from '../api';

export interface IRecordedRequest {
  method: string;
  path: string;
  body: unknown;
  headers: IncomingMessage['headers'];
}

export const PROFILES: IProfiles = {
  profiles: [
    {
      name: 'lsf',
      label: 'LSF (emulated)',
      backend: 'lsf',
      schema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          cores: { type: 'integer', minimum: 1, maximum: 4096, default: 1 },
          memory: {
            type: 'string',
            pattern: '^\\s*[0-9]+(\\.[0-9]+)?\\s*([kKmMgGtTpP]i?)?[bB]?\\s*$',
            errorMessage: 'must be a size such as 20GB, 512MiB or 1.5TB',
            default: '1GB'
          },
          queue: {
            type: 'string',
            enum: ['normal', 'bigmem'],
            default: 'normal'
          },
          interface: { type: ['string', 'null'], default: null }
        }
      },
      defaults: { cores: 1, memory: '2GB', queue: 'normal', interface: 'lo' }
    },
    {
      name: 'local',
      label: 'This machine',
      backend: 'local',
      schema: {
        type: 'object',
        properties: { threads: { type: 'integer', minimum: 1, default: 1 } }
      },
      defaults: {}
    }
  ],
  max_workers: 8,
  max_clusters: 4
};

export function makeCluster(
  id: string,
  extra: Partial<ICluster> = {}
): ICluster {
  return {
    id,
    name: `cluster-${id}`,
    profile: 'lsf',
    origin: 'jupyterlab',
    keep: false,
    status: 'running',
    scheduler_address: 'tcp://127.0.0.1:8786',
    tls: null,
    dashboard_url: `/pangeo-hpc/clusters/${id}/dashboard/status`,
    workers: { requested: 1, connected: 1 },
    adapt: null,
    cores: 1,
    memory: 2 * 1024 ** 3,
    options: {},
    created: '2026-12-01T09:00:00+00:00',
    error: null,
    warning: null,
    jobs: [],
    ...extra
  };
}

/** A cluster a notebook's kernel started, as the server lists it beside ours. */
export function makeNotebookCluster(
  id: string,
  extra: Partial<ICluster> = {}
): ICluster {
  return makeCluster(id, {
    name: `LocalCluster-${id}`,
    profile: null,
    origin: 'notebook',
    dashboard_url: `/pangeo-hpc/dashboards/4${id.length}87/status`,
    notebook: {
      cluster_class: 'LocalCluster',
      kernel_id: 'k-1',
      path: 'analysis/seed.ipynb',
      pid: 4242
    },
    ...extra
  });
}

/** A job as the server describes it; running on one host unless told otherwise. */
export function makeJob(jobId: string, extra: Partial<IJob> = {}): IJob {
  return {
    job_id: jobId,
    state: 'running',
    native_state: 'RUN',
    reason: null,
    hosts: ['node01'],
    submitted: '2026-12-01T09:00:00+00:00',
    started: '2026-12-01T09:00:05+00:00',
    walltime_left_s: 1800,
    ...extra
  };
}

export class FakeServer {
  clusters = new Map<string, ICluster>();
  /** Clusters deleted here, as the 404 for their id describes them. */
  ended = new Map<string, IEndedCluster>();
  requests: IRecordedRequest[] = [];
  /** Answer the next request with this status and body instead. */
  nextAnswer: { status: number; body: string; type?: string } | null = null;
  private server: Server;
  private counter = 0;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', c => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        const body = text ? JSON.parse(text) : null;
        const path = (req.url ?? '').split('?')[0];
        this.requests.push({
          method: req.method ?? '',
          path,
          body,
          headers: req.headers
        });
        const send = (
          status: number,
          payload?: unknown,
          type = 'application/json'
        ) => {
          res.writeHead(status, { 'Content-Type': type });
          res.end(
            payload === undefined
              ? undefined
              : typeof payload === 'string'
                ? payload
                : JSON.stringify(payload)
          );
        };
        if (this.nextAnswer) {
          const answer = this.nextAnswer;
          this.nextAnswer = null;
          return send(answer.status, answer.body, answer.type);
        }
        this.route(req.method ?? 'GET', path, body, send);
      });
    });
  }

  private route(
    method: string,
    path: string,
    body: any, // eslint-disable-line @typescript-eslint/no-explicit-any
    send: (status: number, payload?: unknown, type?: string) => void
  ): void {
    const api = '/lab/pangeo-hpc/api/';
    if (path === `${api}profiles` && method === 'GET') {
      return send(200, PROFILES);
    }
    if (path === `${api}clusters` && method === 'GET') {
      return send(200, { clusters: [...this.clusters.values()] });
    }
    if (path === `${api}clusters` && method === 'POST') {
      if (body.workers > PROFILES.max_workers!) {
        return send(422, {
          message: 'workers must be between 0 and 8',
          errors: [{ field: 'workers', message: 'must be between 0 and 8' }]
        });
      }
      const id = `c${++this.counter}`;
      const cluster = makeCluster(id, {
        name: body.name ?? id,
        profile: body.profile,
        status: 'starting',
        keep: body.keep === true,
        options: body.options,
        workers: { requested: body.workers, connected: 0 },
        jobs: Array.from({ length: body.workers }, (_, i) =>
          makeJob(`${this.counter}0${i}`, {
            state: 'pending',
            native_state: 'PEND',
            reason: 'New job is waiting for scheduling;',
            hosts: [],
            started: null,
            walltime_left_s: null
          })
        )
      });
      this.clusters.set(id, cluster);
      return send(201, cluster);
    }
    const match = path.match(/^\/lab\/pangeo-hpc\/api\/clusters\/([^/]+)$/);
    if (match) {
      const cluster = this.clusters.get(decodeURIComponent(match[1]));
      if (!cluster) {
        const ended = this.ended.get(decodeURIComponent(match[1]));
        return send(404, {
          message: 'no such cluster',
          ...(ended ? { ended } : {})
        });
      }
      if (method === 'GET') {
        return send(200, cluster);
      }
      if (method === 'PATCH') {
        if ('workers' in body) {
          cluster.workers = { ...cluster.workers, requested: body.workers };
        } else {
          cluster.adapt = body.adapt;
        }
        return send(200, cluster);
      }
      if (method === 'DELETE') {
        this.clusters.delete(cluster.id);
        this.ended.set(cluster.id, {
          name: cluster.name,
          ended: '2026-12-01T10:30:00+00:00',
          reason: 'shut down from JupyterLab'
        });
        return send(204);
      }
    }
    const plots = path.match(
      /^\/lab\/pangeo-hpc\/clusters\/([^/]+)\/dashboard\/individual-plots\.json$/
    );
    if (plots && this.clusters.has(plots[1])) {
      return send(200, {
        'Task Stream': '/individual-task-stream',
        'Workers Memory': '/individual-workers-memory'
      });
    }
    send(404, '<html>not found</html>', 'text/html');
  }

  async start(): Promise<string> {
    await new Promise<void>(resolve =>
      this.server.listen(0, '127.0.0.1', resolve)
    );
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/lab/`;
  }

  stop(): Promise<void> {
    return new Promise(resolve => this.server.close(() => resolve()));
  }
}

/** A fake server started before each test of the calling suite and stopped after it, with a client. */
export function serveFake(): { server: FakeServer; api: ClusterAPI } {
  const http = {} as { server: FakeServer; api: ClusterAPI };
  beforeEach(async () => {
    http.server = new FakeServer();
    const baseUrl = await http.server.start();
    http.api = new ClusterAPI(ServerConnection.makeSettings({ baseUrl }));
  });
  afterEach(() => http.server.stop());
  return http;
}
