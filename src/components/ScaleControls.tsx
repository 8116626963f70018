import React from 'react';

import type { IAdaptBounds } from '../api';

/** Wait this long after the slider last moved before asking the server to scale. */
const SLIDER_SETTLE_MS = 400;

export interface IScaleControlProps {
  /** Said by assistive technology with each control. */
  clusterName: string;
  requested: number;
  max: number;
  disabled: boolean;
  onScale: (workers: number) => void;
}

function clamp(value: number, max: number): number {
  return Math.min(max, Math.max(0, Math.round(value)));
}

/** The slider's top: twice the current size, at least 10, at most the server's limit. */
export function sliderRange(requested: number, max: number): number {
  return Math.min(max, Math.max(10, 2 * requested));
}

/** A slider and a number box bounded by `max`; one request per settled value. */
export function ScaleControl(props: IScaleControlProps): JSX.Element {
  const { clusterName, requested, max, disabled, onScale } = props;
  const [value, setValue] = React.useState(requested);
  const [editing, setEditing] = React.useState(false);
  const timer = React.useRef<ReturnType<typeof setTimeout> | null>(null);

  // Follow the server while the user is not moving the controls.
  React.useEffect(() => {
    if (!editing) {
      setValue(requested);
    }
  }, [requested, editing]);
  React.useEffect(
    () => () => {
      if (timer.current) {
        clearTimeout(timer.current);
      }
    },
    []
  );

  const commit = (workers: number) => {
    if (timer.current) {
      clearTimeout(timer.current);
      timer.current = null;
    }
    setEditing(false);
    if (Number.isFinite(workers) && workers !== requested) {
      onScale(clamp(workers, max));
    }
  };

  // The box takes any count up to the server's limit; the slider spans a
  // range that fits the cluster (grown as it grows), so one step is not a
  // pixel in a narrow sidebar.
  const range = { min: 0, max, step: 1, disabled };
  const sliderMax = sliderRange(requested, max);

  return (
    <div className="pangeo-hpc-Scale">
      <label>
        <span>Workers</span>
        <input
          type="range"
          className="pangeo-hpc-Scale-slider"
          data-testid="pangeo-hpc-scale-slider"
          aria-label={`Workers of ${clusterName}`}
          {...range}
          max={sliderMax}
          value={Number.isFinite(value) ? Math.min(value, sliderMax) : 0}
          onChange={event => {
            const next = clamp(event.target.valueAsNumber, max);
            setValue(next);
            setEditing(true);
            if (timer.current) {
              clearTimeout(timer.current);
            }
            timer.current = setTimeout(() => commit(next), SLIDER_SETTLE_MS);
          }}
        />
      </label>
      <input
        type="number"
        className="jp-mod-styled pangeo-hpc-Scale-input"
        data-testid="pangeo-hpc-scale-input"
        aria-label={`Number of workers of ${clusterName} (Enter applies)`}
        title="Number of workers (Enter applies)"
        {...range}
        value={Number.isFinite(value) ? value : ''}
        onChange={event => {
          setValue(event.target.valueAsNumber);
          setEditing(true);
        }}
        onBlur={() => editing && commit(value)}
        onKeyDown={event => {
          if (event.key === 'Enter') {
            commit(value);
          } else if (event.key === 'Escape') {
            setEditing(false);
            setValue(requested);
          }
        }}
      />
    </div>
  );
}

export interface IAdaptControlProps {
  clusterName: string;
  adapt: IAdaptBounds | null;
  requested: number;
  max: number;
  disabled: boolean;
  /** Settles when the server answered (either way). */
  onAdapt: (bounds: IAdaptBounds | null) => Promise<unknown>;
}

/** Adaptive scaling on or off, with its bounds. */
export function AdaptControl(props: IAdaptControlProps): JSX.Element {
  const { clusterName, adapt, requested, max, disabled, onAdapt } = props;
  const [minimum, setMinimum] = React.useState(adapt?.minimum ?? 0);
  const [maximum, setMaximum] = React.useState(
    adapt?.maximum ?? Math.min(max, Math.max(requested, 4))
  );
  React.useEffect(() => {
    if (adapt) {
      setMinimum(adapt.minimum);
      setMaximum(adapt.maximum);
    }
  }, [adapt?.minimum, adapt?.maximum]);

  // The box follows the click at once; the server's answer then decides.
  const [pending, setPending] = React.useState<boolean | null>(null);
  const toggle = (on: boolean) => {
    setPending(on);
    void onAdapt(on ? { minimum, maximum } : null).finally(() =>
      setPending(null)
    );
  };

  const valid =
    Number.isInteger(minimum) &&
    Number.isInteger(maximum) &&
    minimum >= 0 &&
    minimum <= maximum &&
    maximum <= max;
  const apply = () => {
    if (
      valid &&
      adapt &&
      (adapt.minimum !== minimum || adapt.maximum !== maximum)
    ) {
      void onAdapt({ minimum, maximum });
    }
  };

  return (
    <div className="pangeo-hpc-Adapt">
      <div className="pangeo-hpc-Adapt-row">
        <label className="pangeo-hpc-Adapt-toggle">
          <input
            type="checkbox"
            data-testid="pangeo-hpc-adapt-toggle"
            aria-label={`Adaptive scaling of ${clusterName}`}
            checked={pending ?? adapt !== null}
            disabled={disabled || pending !== null || (!adapt && !valid)}
            onChange={event => toggle(event.target.checked)}
          />
          <span>Adaptive</span>
        </label>
        <BoundInput
          bound="minimum"
          value={minimum}
          onChange={setMinimum}
          {...{ clusterName, max, disabled, onApply: apply }}
        />
        <span className="pangeo-hpc-Adapt-to">to</span>
        <BoundInput
          bound="maximum"
          value={maximum}
          onChange={setMaximum}
          {...{ clusterName, max, disabled, onApply: apply }}
        />
      </div>
      {!valid && (
        <span
          className="pangeo-hpc-FieldError"
          data-testid="pangeo-hpc-adapt-error"
        >
          need 0 ≤ minimum ≤ maximum ≤ {max}
        </span>
      )}
    </div>
  );
}

interface IBoundInputProps {
  clusterName: string;
  bound: 'minimum' | 'maximum';
  value: number;
  max: number;
  disabled: boolean;
  onChange: (value: number) => void;
  /** Sends the bounds to the server; called on blur and on Enter. */
  onApply: () => void;
}

/** One adaptive bound: a number box, empty while its text is not a number. */
function BoundInput(props: IBoundInputProps): JSX.Element {
  const { clusterName, bound, value, max, disabled, onChange, onApply } = props;
  return (
    <input
      type="number"
      className="jp-mod-styled"
      data-testid={`pangeo-hpc-adapt-${bound}`}
      aria-label={`Adaptive ${bound} workers of ${clusterName}`}
      title={`${bound} workers`}
      min={0}
      max={max}
      value={Number.isFinite(value) ? value : ''}
      disabled={disabled}
      onChange={event => onChange(event.target.valueAsNumber)}
      onBlur={onApply}
      onKeyDown={event => event.key === 'Enter' && onApply()}
    />
  );
}
