import { FormComponent } from '@jupyterlab/ui-components';
import type { IChangeEvent } from '@rjsf/core';
import type { RJSFSchema, UiSchema } from '@rjsf/utils';
import type { ReadonlyJSONObject } from '@lumino/coreutils';
import React from 'react';

import type { IProfile } from '../api';
import type { IDraft, IDraftErrors } from '../model';
import { optionsValidator, toErrorSchema } from '../validator';
import { type ILabelContext, submitsOnEnter } from '../forms';
import { KeepRunning } from './KeepRunning';
import { labelledWidgets } from './LabelledWidgets';

export interface IStartFormProps {
  profiles: IProfile[];
  draft: IDraft;
  errors: IDraftErrors;
  maxWorkers: number;
  submitting: boolean;
  onChange: (change: Partial<IDraft>) => void;
  onSubmit: () => void;
}

/**
 * Our own button starts the cluster (rjsf's would bypass the model). A choice
 * with nothing chosen leaves it to the scheduler, and says so rather than
 * showing a blank.
 */
function uiSchema(profile: IProfile): UiSchema<ReadonlyJSONObject> {
  const ui: UiSchema<ReadonlyJSONObject> = {
    'ui:submitButtonOptions': { norender: true }
  };
  for (const [name, property] of Object.entries(
    profile.schema.properties ?? {}
  )) {
    if (property.enum && property.default === undefined) {
      ui[name] = { 'ui:placeholder': "(the scheduler's default)" };
    }
    if (property.type === 'array') {
      // Not "job_extra_directives-0" above each item: the list's title says what they are.
      ui[name] = { items: { 'ui:label': false } };
    }
  }
  return ui;
}

/** Titles of the profile's list options, to name their items for assistive technology. */
function arrayTitles(profile: IProfile): Record<string, string> {
  const titles: Record<string, string> = {};
  for (const [name, property] of Object.entries(
    profile.schema.properties ?? {}
  )) {
    if (property.type === 'array') {
      titles[name] = property.title ?? name;
    }
  }
  return titles;
}

function FieldErrors(props: { messages?: string[]; testid: string }) {
  if (!props.messages?.length) {
    return null;
  }
  return (
    <ul className="pangeo-hpc-FieldErrors" data-testid={props.testid}>
      {props.messages.map((message, i) => (
        <li key={i} className="pangeo-hpc-FieldError">
          {message}
        </li>
      ))}
    </ul>
  );
}

/** A labelled control of the create request, with the server's complaints about it below. */
function FormRow(props: {
  label: string;
  field: 'name' | 'workers';
  errors: IDraftErrors;
  children: React.ReactNode;
}) {
  return (
    <>
      <label className="pangeo-hpc-StartForm-row">
        <span>{props.label}</span>
        {props.children}
      </label>
      <FieldErrors
        messages={props.errors.fields[props.field]}
        testid={`pangeo-hpc-${props.field}-error`}
      />
    </>
  );
}

/**
 * The profiles as a list of choices: their labels are sentences ("LSF:
 * Dask workers as batch jobs") that a select in a narrow sidebar would cut.
 */
function ProfileChoice(props: {
  profiles: IProfile[];
  value: string;
  errors: IDraftErrors;
  onChange: (profile: string) => void;
}) {
  return (
    <>
      <fieldset
        className="pangeo-hpc-ProfileChoice"
        data-testid="pangeo-hpc-profile"
      >
        <legend>Profile</legend>
        {props.profiles.map(p => (
          <label key={p.name} className="pangeo-hpc-ProfileChoice-option">
            <input
              type="radio"
              name="pangeo-hpc-profile"
              value={p.name}
              checked={props.value === p.name}
              onChange={() => props.onChange(p.name)}
            />
            <span>{p.label || p.name}</span>
          </label>
        ))}
      </fieldset>
      <FieldErrors
        messages={props.errors.fields.profile}
        testid="pangeo-hpc-profile-error"
      />
    </>
  );
}

function fieldErrorCount(errors: IDraftErrors): number {
  return (
    new Set(errors.options.map(e => e.field)).size +
    Object.keys(errors.fields).length
  );
}

export function StartForm(props: IStartFormProps): JSX.Element {
  const { profiles, draft, errors, maxWorkers, submitting } = props;
  const profile = profiles.find(p => p.name === draft.profile);
  const extraErrors = React.useMemo(
    () => toErrorSchema(errors.options),
    [errors.options]
  );
  const formContext = React.useMemo(
    (): ILabelContext & { defaultFormData: Record<string, unknown> } => ({
      defaultFormData: profile?.defaults ?? {},
      arrayTitles: profile ? arrayTitles(profile) : {}
    }),
    [profile]
  );
  const ui = React.useMemo(() => (profile ? uiSchema(profile) : {}), [profile]);

  if (profiles.length === 0) {
    return (
      <div className="pangeo-hpc-StartForm pangeo-hpc-mod-empty">
        No cluster profiles are configured on this server.
      </div>
    );
  }

  const onOptionsChange = (event: IChangeEvent) => {
    props.onChange({
      options: (event.formData ?? {}) as Record<string, unknown>
    });
  };

  return (
    <div
      className="pangeo-hpc-StartForm"
      data-testid="pangeo-hpc-start-form"
      onKeyDown={event => {
        if (submitsOnEnter(event.nativeEvent)) {
          event.preventDefault();
          // The field's last keystrokes reach the draft before it is sent.
          (event.target as HTMLElement).blur?.();
          props.onSubmit();
        }
      }}
    >
      <ProfileChoice
        profiles={profiles}
        value={draft.profile}
        errors={errors}
        onChange={profile => props.onChange({ profile })}
      />
      <FormRow label="Name" field="name" errors={errors}>
        <input
          className="jp-mod-styled"
          data-testid="pangeo-hpc-name"
          type="text"
          placeholder="optional"
          maxLength={100}
          value={draft.name}
          onChange={event => props.onChange({ name: event.target.value })}
        />
      </FormRow>
      <FormRow label="Workers" field="workers" errors={errors}>
        <input
          className="jp-mod-styled"
          data-testid="pangeo-hpc-workers"
          type="number"
          min={0}
          max={maxWorkers}
          step={1}
          value={Number.isFinite(draft.workers) ? draft.workers : ''}
          onChange={event =>
            props.onChange({ workers: event.target.valueAsNumber })
          }
        />
      </FormRow>
      <KeepRunning
        checked={draft.keep}
        onChange={keep => props.onChange({ keep })}
      />
      <FieldErrors
        messages={errors.fields.keep}
        testid="pangeo-hpc-keep-error"
      />
      {profile && (
        <details className="pangeo-hpc-OptionsDetails" open>
          <summary>Options</summary>
          <div
            className="pangeo-hpc-OptionsForm"
            data-testid="pangeo-hpc-options-form"
          >
            <FormComponent
              key={profile.name}
              schema={profile.schema as RJSFSchema}
              formData={draft.options as ReadonlyJSONObject}
              uiSchema={ui}
              validator={optionsValidator}
              widgets={labelledWidgets}
              extraErrors={extraErrors}
              formContext={formContext}
              onChange={onOptionsChange}
              onSubmit={() => props.onSubmit()}
              showErrorList={false}
              noHtml5Validate
              liveValidate={false}
              compact
            />
          </div>
        </details>
      )}
      <div className="pangeo-hpc-StartForm-errors" role="alert">
        {errors.general.length > 0 && (
          <FieldErrors
            messages={errors.general}
            testid="pangeo-hpc-form-error"
          />
        )}
        {fieldErrorCount(errors) > 0 && (
          <div
            className="pangeo-hpc-FieldError"
            data-testid="pangeo-hpc-fix-fields"
          >
            Not started: fix the {fieldErrorCount(errors)} field(s) marked
            above.
          </div>
        )}
      </div>
      <button
        type="button"
        className="jp-mod-styled jp-mod-accept pangeo-hpc-StartButton"
        data-testid="pangeo-hpc-start"
        aria-busy={submitting}
        disabled={submitting || !profile}
        onClick={() => props.onSubmit()}
      >
        {submitting ? 'Starting…' : 'Start cluster'}
      </button>
    </div>
  );
}
