import { describe, expect, it } from 'vitest';

import { APIError, type IProfile } from '../api';
import { initialOptions } from '../model';
import { PROFILES } from './fakeserver';
import { CountingAPI, makeModel } from './helpers';

describe('StartDraft', () => {
  it('starts on the first profile with its defaults', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.sync.ready;
    expect(model.draft.value.profile).toBe('lsf');
    // Admin defaults win over schema defaults; null ones are left to the server.
    expect(model.draft.value.options).toEqual({
      cores: 1,
      memory: '2GB',
      queue: 'normal',
      interface: 'lo'
    });
  });

  it('starts on the default profile from the settings', async () => {
    const api = new CountingAPI();
    const model = makeModel(api, { defaultProfile: 'local' });
    await model.sync.ready;
    expect(model.draft.value.profile).toBe('local');
    expect(model.draft.value.options).toEqual({ threads: 1 });
  });

  it('follows a changed default profile until the user touches the form', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.sync.ready;
    model.draft.defaultProfile = 'local';
    expect(model.draft.value.profile).toBe('local');
    model.draft.update({ name: 'mine' });
    model.draft.defaultProfile = 'lsf';
    expect(model.draft.value.profile).toBe('local');
  });

  it("shows the schema's default (the scheduler's default queue) when the profile sets none", () => {
    const lsf = structuredClone(PROFILES.profiles[0]);
    const profile: IProfile = {
      ...lsf,
      defaults: { ...lsf.defaults, queue: null }
    };
    expect(initialOptions(profile).queue).toBe('normal');
    delete profile.schema.properties!.queue.default;
    expect(initialOptions(profile)).not.toHaveProperty('queue');
  });

  it('submits nothing while an option is invalid and names the field', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.sync.ready;
    const { draft } = model;
    draft.update({ options: { ...draft.value.options, memory: 'lots' } });
    expect(await draft.submit()).toBeNull();
    expect(api.count('create')).toBe(0);
    expect(draft.errors.options).toEqual([
      {
        field: 'memory',
        message: 'must be a size such as 20GB, 512MiB or 1.5TB'
      }
    ]);
  });

  it('submits nothing when workers exceed the server maximum', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.sync.ready;
    model.draft.update({ workers: 9 });
    expect(await model.draft.submit()).toBeNull();
    expect(api.count('create')).toBe(0);
    expect(model.draft.errors.fields.workers?.[0]).toContain('0 to 8');
  });

  it('posts the draft and lists the new cluster', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.sync.ready;
    const { draft } = model;
    draft.update({
      name: ' opt ',
      workers: 2,
      options: { ...draft.value.options, memory: '' }
    });
    const cluster = await draft.submit();
    expect(cluster?.id).toBe('c1');
    // A cleared field means "the default": it is left out.
    expect(api.created[0]).toEqual({
      profile: 'lsf',
      name: 'opt',
      workers: 2,
      options: { cores: 1, queue: 'normal', interface: 'lo' }
    });
    expect(model.store.clusters.map(c => c.id)).toEqual(['c1']);
    expect(draft.value.name).toBe('');
  });

  it('puts server 422 errors next to the fields they name', async () => {
    const api = new CountingAPI();
    api.createError = new APIError(422, 'invalid options', [
      { field: 'memory', message: 'bigger than the queue allows' },
      { field: 'options.queue', message: 'no such queue' },
      { field: 'workers', message: 'must be between 0 and 8' },
      { field: 'body', message: 'odd' }
    ]);
    const failures: APIError[] = [];
    const model = makeModel(api);
    model.failed.connect((_, e) => failures.push(e));
    await model.sync.ready;
    const { draft } = model;
    expect(await draft.submit()).toBeNull();
    expect(draft.errors.options).toEqual([
      { field: 'memory', message: 'bigger than the queue allows' },
      { field: 'queue', message: 'no such queue' }
    ]);
    expect(draft.errors.fields).toEqual({
      workers: ['must be between 0 and 8']
    });
    expect(draft.errors.general).toEqual(['body: odd']);
    expect(failures).toHaveLength(1);

    // Editing a field clears its error and leaves the others.
    draft.update({ options: { ...draft.value.options, memory: '3GB' } });
    expect(draft.errors.options.map(e => e.field)).toEqual(['queue']);
  });

  it('switching profile starts from that profile and clears errors', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.sync.ready;
    const { draft } = model;
    draft.update({ options: { memory: 'x' } });
    await draft.submit();
    draft.update({ profile: 'local' });
    expect(draft.value.options).toEqual({ threads: 1 });
    expect(draft.errors.options).toEqual([]);
  });
});
