/**
 * The start form's draft: what the user typed, the errors to show next to
 * each field, and submitting it. It lives outside the form component so that
 * the palette's "Start" command submits the same thing the form shows.
 */
import { type ISignal, Signal } from '@lumino/signaling';

import {
  APIError,
  type ICluster,
  type ICreateRequest,
  type IFieldError,
  type IProfile
} from '../api';
import { validateOptions } from '../validator';
import type { ClusterStore } from './store';
import type { ClusterSync } from './sync';

export interface IDraft {
  profile: string;
  name: string;
  workers: number;
  options: Record<string, unknown>;
  /** Keep the cluster running when JupyterLab stops. */
  keep: boolean;
}

/** Errors for the start form, split by where they are shown. */
export interface IDraftErrors {
  /** Option fields, keyed like the options form (`memory`, `job_extra_directives.0`). */
  options: IFieldError[];
  /** `workers`, `name`, `profile`, `keep`. */
  fields: Record<string, string[]>;
  /** Anything that names no field we show. */
  general: string[];
}

export const NO_ERRORS: IDraftErrors = { options: [], fields: {}, general: [] };

/** Fields of the create request itself rather than of the profile's options. */
const REQUEST_FIELDS = new Set(['workers', 'name', 'profile', 'keep']);

const MAX_NAME_LENGTH = 100;

export class StartDraft {
  constructor(options: StartDraft.IOptions) {
    this._store = options.store;
    this._sync = options.sync;
    this._defaultProfile = options.defaultProfile ?? '';
    this._store.changed.connect(this._onStore, this);
  }

  /** The draft, its errors or the submitting flag changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get value(): IDraft {
    return this._draft;
  }

  get errors(): IDraftErrors {
    return this._errors;
  }

  get submitting(): boolean {
    return this._submitting;
  }

  /** Whether the user changed the form (a profile chosen then is worth remembering). */
  get touched(): boolean {
    return this._touched;
  }

  /** The cluster the last submit started (null until one did); the view goes to its card. */
  get created(): ICluster | null {
    return this._created;
  }

  /** The profile the form starts on; applies until the user touches the form. */
  set defaultProfile(name: string) {
    this._defaultProfile = name;
    if (this._store.loaded && !this._touched && this._store.profile(name)) {
      this._reset(name);
      this._changed.emit();
    }
  }

  /** Update the draft; a new profile starts from that profile's defaults. */
  update(change: Partial<IDraft>): void {
    this._touched = true;
    if (
      change.profile !== undefined &&
      change.profile !== this._draft.profile
    ) {
      this._reset(change.profile);
    }
    const errors = { ...this._errors, fields: { ...this._errors.fields } };
    if (change.name !== undefined) {
      this._draft = { ...this._draft, name: change.name };
      delete errors.fields.name;
    }
    if (change.workers !== undefined) {
      this._draft = { ...this._draft, workers: change.workers };
      delete errors.fields.workers;
    }
    if (change.keep !== undefined) {
      this._draft = { ...this._draft, keep: change.keep };
    }
    if (change.options !== undefined) {
      const before = this._draft.options;
      const after = change.options;
      this._draft = { ...this._draft, options: after };
      // An edited field's server error no longer applies; the others still do.
      errors.options = errors.options.filter(
        e => !changedField(e.field, before, after)
      );
    }
    this._errors = errors;
    this._changed.emit();
  }

  /** Field errors in the draft, checked as the server will (nothing is sent while any remain). */
  validate(): IDraftErrors {
    const draft = this._draft;
    const profile = this._store.profile(draft.profile);
    if (!profile) {
      return {
        ...NO_ERRORS,
        fields: {
          profile: [`unknown profile ${JSON.stringify(draft.profile)}`]
        }
      };
    }
    const maxWorkers = this._store.maxWorkers;
    const fields: Record<string, string[]> = {};
    if (
      !Number.isInteger(draft.workers) ||
      draft.workers < 0 ||
      draft.workers > maxWorkers
    ) {
      fields.workers = [`must be a whole number from 0 to ${maxWorkers}`];
    }
    if (draft.name.length > MAX_NAME_LENGTH) {
      fields.name = [`must have at most ${MAX_NAME_LENGTH} characters`];
    }
    return {
      options: validateOptions(withoutEmpty(draft.options), profile.schema),
      fields,
      general: []
    };
  }

  /** Start a cluster from the draft; null (and errors on the draft) when it was refused. */
  async submit(): Promise<ICluster | null> {
    if (this._submitting) {
      return null;
    }
    const errors = this.validate();
    if (hasErrors(errors)) {
      this._errors = errors;
      this._changed.emit();
      return null;
    }
    const draft = this._draft;
    const request: ICreateRequest = {
      profile: draft.profile,
      options: withoutEmpty(draft.options),
      workers: draft.workers
    };
    if (draft.name.trim()) {
      request.name = draft.name.trim();
    }
    // Only when asked for: a server without `keep` refuses the field, and false is its default.
    if (draft.keep) {
      request.keep = true;
    }
    this._submitting = true;
    this._errors = NO_ERRORS;
    this._changed.emit();
    try {
      const cluster = await this._sync.create(request);
      this._draft = { ...this._draft, name: '' };
      this._created = cluster;
      return cluster;
    } catch (error) {
      this._errors = this._splitErrors(APIError.from(error));
      return null;
    } finally {
      this._submitting = false;
      this._changed.emit();
    }
  }

  dispose(): void {
    this._store.changed.disconnect(this._onStore, this);
    Signal.clearData(this);
  }

  /** The first profiles to arrive decide the profile the form starts on. */
  private _onStore(): void {
    if (this._profilesSeen || !this._store.loaded) {
      return;
    }
    this._profilesSeen = true;
    const wanted = this._draft.profile || this._defaultProfile;
    this._reset(
      this._store.profile(wanted)
        ? wanted
        : (this._store.profiles[0]?.name ?? '')
    );
    this._changed.emit();
  }

  private _reset(profileName: string): void {
    const profile = this._store.profile(profileName);
    this._draft = {
      profile: profileName,
      name: this._draft.name,
      workers: this._draft.workers,
      options: profile ? initialOptions(profile) : {},
      keep: this._draft.keep
    };
    this._errors = NO_ERRORS;
  }

  private _splitErrors(error: APIError): IDraftErrors {
    const profile = this._store.profile(this._draft.profile);
    const optionNames = new Set(Object.keys(profile?.schema.properties ?? {}));
    const result: IDraftErrors = { options: [], fields: {}, general: [] };
    for (const { field, message } of error.errors) {
      const option = field.startsWith('options.')
        ? field.slice('options.'.length)
        : field;
      if (REQUEST_FIELDS.has(field)) {
        (result.fields[field] ??= []).push(message);
      } else if (
        field.startsWith('options.') ||
        optionNames.has(option.split('.')[0])
      ) {
        result.options.push({ field: option, message });
      } else {
        result.general.push(field ? `${field}: ${message}` : message);
      }
    }
    if (!hasErrors(result)) {
      result.general.push(error.message);
    }
    return result;
  }

  private _store: ClusterStore;
  private _sync: Pick<ClusterSync, 'create'>;
  private _defaultProfile: string;
  private _draft: IDraft = {
    profile: '',
    name: '',
    workers: 1,
    options: {},
    keep: false
  };
  private _errors: IDraftErrors = NO_ERRORS;
  private _touched = false;
  private _profilesSeen = false;
  private _submitting = false;
  private _created: ICluster | null = null;
  private _changed = new Signal<this, void>(this);
}

export namespace StartDraft {
  export interface IOptions {
    store: ClusterStore;
    /** Where the draft is sent. */
    sync: Pick<ClusterSync, 'create'>;
    /** Profile name to start on; empty (or unknown) means the first. */
    defaultProfile?: string;
  }
}

export function hasErrors(errors: IDraftErrors): boolean {
  return (
    errors.options.length > 0 ||
    errors.general.length > 0 ||
    Object.keys(errors.fields).length > 0
  );
}

/**
 * The profile's defaults for the fields its schema shows: the admin's value,
 * else the schema's (a scheduler's default queue, say); unset ones are left to
 * the server.
 */
export function initialOptions(profile: IProfile): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(
    profile.schema.properties ?? {}
  )) {
    const value = profile.defaults[name] ?? property.default;
    if (value !== undefined && value !== null) {
      options[name] = JSON.parse(JSON.stringify(value));
    }
  }
  return options;
}

/** Cleared form fields mean "use the default": leave them out of the request. */
function withoutEmpty(
  options: Record<string, unknown>
): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && value !== null && value !== '') {
      result[name] = value;
    }
  }
  return result;
}

function changedField(
  field: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>
): boolean {
  const top = field.split('.')[0];
  return JSON.stringify(before[top]) !== JSON.stringify(after[top]);
}
