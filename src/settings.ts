/**
 * The user's settings (schema/plugin.json): read into one plain object the
 * commands and the notebook hook consult, and the settings schema's profile
 * list filled in from the server's profiles by a settings transform.
 */
import type { ISettingRegistry } from '@jupyterlab/settingregistry';
import type {
  PromiseDelegate,
  ReadonlyPartialJSONObject
} from '@lumino/coreutils';

import type { ClustersModel } from './model';

export const PLUGIN_ID = 'pangeo-hpc-ext:plugin';

export interface IUserSettings {
  defaultProfile: string;
  /** Seconds. */
  refreshInterval: number;
  /** Plot names "Open Default Dashboard Plots" opens. */
  defaultLayout: string[];
  /** A cluster's name or id that every new notebook gets a client of; '' for none. */
  autoStartClient: string;
}

export const DEFAULT_SETTINGS: IUserSettings = {
  defaultProfile: '',
  refreshInterval: 5,
  defaultLayout: [
    'Task Stream',
    'Progress',
    'Worker Memory',
    'Tasks Processing'
  ],
  autoStartClient: ''
};

/** The settings from their composite, each falling back to its default when mistyped. */
export function readSettings(
  composite: ReadonlyPartialJSONObject
): IUserSettings {
  const text = (key: keyof IUserSettings): string | undefined =>
    typeof composite[key] === 'string' ? (composite[key] as string) : undefined;
  const layout = composite.defaultLayout;
  const interval = composite.refreshInterval;
  return {
    defaultProfile: text('defaultProfile') ?? DEFAULT_SETTINGS.defaultProfile,
    refreshInterval:
      typeof interval === 'number' && interval > 0
        ? interval
        : DEFAULT_SETTINGS.refreshInterval,
    defaultLayout: Array.isArray(layout)
      ? layout.filter((name): name is string => typeof name === 'string')
      : DEFAULT_SETTINGS.defaultLayout,
    autoStartClient: (text('autoStartClient') ?? '').trim()
  };
}

/**
 * The plugin with "Default profile" as a list of the server's profiles. The
 * schema file cannot list them (they are the server's), so a fetch transform
 * adds the `enum` once they are known; '' (the first profile) and the value
 * saved now stay valid, so a profile the server dropped does not make the
 * settings unreadable.
 */
export function withProfileChoices(
  plugin: ISettingRegistry.IPlugin,
  names: string[]
): ISettingRegistry.IPlugin {
  const properties = plugin.schema.properties ?? {};
  const property = properties.defaultProfile;
  if (!property || names.length === 0) {
    return plugin;
  }
  const saved = plugin.data?.user?.defaultProfile;
  const choices = ['', ...names];
  if (typeof saved === 'string' && !choices.includes(saved)) {
    choices.push(saved);
  }
  return {
    ...plugin,
    schema: {
      ...plugin.schema,
      properties: {
        ...properties,
        defaultProfile: { ...property, enum: choices }
      }
    }
  };
}

/**
 * Apply the user's settings to `target` and the model now and whenever they
 * change; once the profiles are loaded, list them in the settings schema.
 */
export async function followSettings(
  registry: ISettingRegistry,
  model: ClustersModel,
  target: IUserSettings,
  applied: PromiseDelegate<void>
): Promise<void> {
  registry.transform(PLUGIN_ID, {
    fetch: plugin =>
      withProfileChoices(
        plugin,
        model.store.profiles.map(p => p.name)
      )
  });
  const settings = await registry.load(PLUGIN_ID);
  const apply = (): void => {
    Object.assign(target, readSettings(settings.composite));
    model.sync.refreshInterval = Math.max(1, target.refreshInterval) * 1000;
    model.draft.defaultProfile = target.defaultProfile;
  };
  apply();
  applied.resolve();
  settings.changed.connect(apply);
  // The profile chosen in the form is remembered, for the next session.
  model.draft.changed.connect(() => {
    const chosen = model.draft.value.profile;
    if (
      chosen &&
      model.draft.touched &&
      chosen !== settings.get('defaultProfile').composite
    ) {
      void settings.set('defaultProfile', chosen).catch(() => undefined);
    }
  });
  await model.sync.ready;
  if (model.store.profiles.length > 0) {
    // Replays the transform: the settings editor now lists the profiles.
    await registry.load(PLUGIN_ID, true);
  }
}
