import React from 'react';

/** The start form's choice to leave a cluster running when JupyterLab stops. */
export function KeepRunning(props: {
  checked: boolean;
  onChange: (keep: boolean) => void;
}): JSX.Element {
  return (
    <label className="pangeo-hpc-StartForm-keep">
      <input
        type="checkbox"
        data-testid="pangeo-hpc-keep"
        checked={props.checked}
        onChange={event => props.onChange(event.target.checked)}
      />
      <span>Keep running when JupyterLab stops</span>
    </label>
  );
}
