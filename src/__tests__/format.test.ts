import { describe, expect, it } from 'vitest';

import {
  clientCode,
  endedMessage,
  formatBytes,
  formatDuration,
  shutdownQuestion,
  walltimeLeft
} from '../format';
import { optionsValidator, toErrorSchema, validateOptions } from '../validator';
import {
  makeCluster,
  makeJob,
  makeNotebookCluster,
  PROFILES
} from './fakeserver';

describe('format', () => {
  it('formats bytes in the decimal units the form takes: 1GB typed reads 1 GB', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1e9)).toBe('1 GB');
    expect(formatBytes(2.5e9)).toBe('2.5 GB');
    expect(formatBytes(2 * 1024 ** 3)).toBe('2.1 GB');
    expect(formatBytes(512e6)).toBe('512 MB');
    expect(formatBytes(null)).toBe('—');
  });

  it('formats walltime as h:mm:ss', () => {
    expect(formatDuration(0)).toBe('0:00:00');
    expect(formatDuration(1799.6)).toBe('0:29:59');
    expect(formatDuration(36000 + 61)).toBe('10:01:01');
    expect(formatDuration(-5)).toBe('0:00:00');
    expect(formatDuration(null)).toBe('—');
  });

  it('counts walltime down only for running jobs', () => {
    expect(walltimeLeft(100, 'running', 0, 30_000)).toBe(70);
    expect(walltimeLeft(100, 'pending', 0, 30_000)).toBe(100);
    expect(walltimeLeft(100, 'suspended', 0, 30_000)).toBe(100);
    expect(walltimeLeft(10, 'running', 0, 30_000)).toBe(0);
    expect(walltimeLeft(null, 'running', 0, 1)).toBeNull();
  });

  it('writes the client code with a quoted address', () => {
    expect(clientCode('tcp://127.0.0.1:8786')).toBe(
      'from dask.distributed import Client\nclient = Client("tcp://127.0.0.1:8786")'
    );
  });

  it('writes the client code with the cluster TLS credentials', () => {
    const code = clientCode('tls://127.0.0.1:8786', {
      ca_file: '/h/tls/ca.pem',
      cert_file: '/h/tls/cert.pem',
      key_file: '/h/tls/key.pem'
    });
    expect(code).toContain('tls_ca_file="/h/tls/ca.pem"');
    expect(code).toContain('tls_client_key="/h/tls/key.pem"');
    expect(code).toContain('Client("tls://127.0.0.1:8786", security=security)');
  });
});

describe('a dashboard tab whose cluster is gone', () => {
  it('names the cluster, and when and why it ended when the server says', () => {
    const ended = {
      name: 'lsf-big',
      ended: '2026-12-01T10:30:00+00:00',
      reason: 'idle for 3600 s with no client'
    };
    const message = endedMessage('old label', ended);
    expect(message.title).toBe('Cluster "lsf-big" is gone');
    expect(message.detail).toBe(
      `It ended ${new Date(ended.ended).toLocaleString()}: idle for 3600 s with no client`
    );
    expect(endedMessage('lsf-big', { ...ended, ended: 'soon' }).detail).toBe(
      'It ended soon: idle for 3600 s with no client'
    );
  });

  it("falls back to the tab's own name when the server says nothing more", () => {
    const message = endedMessage('lsf-big', null);
    expect(message.title).toBe('Cluster "lsf-big" is gone');
    expect(message.detail).toMatch(/no longer knows this cluster/);
  });
});

describe('options validator', () => {
  const schema = PROFILES.profiles[0].schema;

  it('accepts the defaults and a null optional field', () => {
    expect(
      validateOptions(
        { cores: 2, memory: '20GB', queue: 'bigmem', interface: null },
        schema
      )
    ).toEqual([]);
  });

  it('names each bad field with the schema hint', () => {
    expect(
      validateOptions(
        { cores: 0, memory: '20 parsecs', queue: 'fast', nope: 1 },
        schema
      )
    ).toEqual([
      { field: 'cores', message: 'must be at least 1' },
      {
        field: 'memory',
        message: 'must be a size such as 20GB, 512MiB or 1.5TB'
      },
      { field: 'queue', message: 'must be one of "normal", "bigmem"' },
      { field: 'nope', message: 'unknown option' }
    ]);
    expect(validateOptions({ cores: 1.5 }, schema)).toEqual([
      { field: 'cores', message: 'must be of type integer' }
    ]);
  });

  it('checks array items and required fields', () => {
    const s = {
      type: 'object',
      required: ['a'],
      properties: {
        b: { type: 'array', items: { type: 'string', pattern: '^-' } }
      }
    };
    expect(validateOptions({ b: ['-x', 'y'] }, s)).toEqual([
      { field: 'a', message: 'is required' },
      { field: 'b.1', message: 'must match ^-' }
    ]);
  });

  it('builds the error schema rjsf shows next to fields', () => {
    expect(
      toErrorSchema([
        { field: 'memory', message: 'bad' },
        { field: 'b.1', message: 'x' }
      ])
    ).toEqual({
      memory: { __errors: ['bad'] },
      b: { 1: { __errors: ['x'] } }
    });
    const { errorSchema, errors } = optionsValidator.validateFormData(
      { memory: '?' },
      schema as never
    );
    expect(errorSchema).toEqual({
      memory: { __errors: ['must be a size such as 20GB, 512MiB or 1.5TB'] }
    });
    expect(errors[0].property).toBe('.memory');
    expect(
      optionsValidator.isValid(schema as never, { cores: 3 }, schema as never)
    ).toBe(true);
  });
});

describe('the shut-down question', () => {
  it('counts live jobs, each array element as one job, not the ended ones', () => {
    const element = (index: number, extra = {}) =>
      makeJob(`123[${index}]`, { array: { parent: '123', index }, ...extra });
    const jobs = [
      element(1),
      element(2, { state: 'pending', native_state: 'PEND', hosts: [] }),
      element(3, {
        state: 'failed',
        native_state: 'EXIT',
        ended_by: 'scale-down'
      }),
      element(4, { state: 'finished', native_state: 'DONE' }),
      makeJob('130', { state: 'suspended', native_state: 'USUSP' }),
      makeJob('131', { state: 'failed', native_state: 'EXIT' })
    ];
    expect(shutdownQuestion(makeCluster('c1', { name: 'big', jobs }))).toBe(
      'Shut down "big" and cancel its 3 live batch job(s)?'
    );
    expect(
      shutdownQuestion(makeNotebookCluster('n1', { name: 'nb', jobs }))
    ).toBe(
      'Ask the scheduler of "nb" (started in analysis/seed.ipynb) to close? Its cluster closes in the kernel and cancels its 3 live batch job(s); the notebook\'s client loses it.'
    );
  });
});
