import React from 'react';

import type { ISample } from '../model/history';

export interface ITimelineProps {
  /** Changes, oldest first (the store keeps them). */
  samples: readonly ISample[];
  /** The right edge (ms): the last step runs on to here. */
  now: number;
}

type Series = 'requested' | 'connected' | 'pending' | 'running';

const WIDTH = 200;
const ROW = 24;
const GAP = 6;

/** "x,y x,y ..." of a step line through `series`, scaled into a row at `top`. */
export function stepPoints(
  samples: readonly ISample[],
  series: Series,
  now: number,
  top: number,
  max: number
): string {
  const start = samples[0].t;
  const span = Math.max(1, now - start);
  const x = (t: number) => ((Math.min(t, now) - start) / span) * WIDTH;
  const y = (v: number) => top + ROW - (v / Math.max(1, max)) * ROW;
  const points: string[] = [];
  samples.forEach((sample, i) => {
    const value = sample[series];
    if (i > 0) {
      points.push(`${x(sample.t).toFixed(1)},${y(samples[i - 1][series])}`);
    }
    points.push(`${x(sample.t).toFixed(1)},${y(value)}`);
  });
  points.push(`${WIDTH},${y(samples[samples.length - 1][series])}`);
  return points.join(' ');
}

function Row(props: {
  samples: readonly ISample[];
  now: number;
  top: number;
  series: [Series, Series];
}): JSX.Element {
  const { samples, now, top, series } = props;
  const max = Math.max(
    1,
    ...samples.flatMap(s => [s[series[0]], s[series[1]]])
  );
  return (
    <g>
      <line
        className="pangeo-hpc-Timeline-axis"
        x1={0}
        x2={WIDTH}
        y1={top + ROW}
        y2={top + ROW}
      />
      {series.map(name => (
        <polyline
          key={name}
          className={`pangeo-hpc-Timeline-${name}`}
          data-series={name}
          data-max={Math.max(...samples.map(s => s[name]))}
          points={stepPoints(samples, name, now, top, max)}
        />
      ))}
    </g>
  );
}

function last(samples: readonly ISample[]): ISample {
  return samples[samples.length - 1];
}

/**
 * The cluster's recent past: workers requested against connected (top), and
 * jobs pending against running (bottom), as step lines up to now.
 */
export function Timeline(props: ITimelineProps): JSX.Element | null {
  const { samples, now } = props;
  if (samples.length === 0) {
    return null;
  }
  const current = last(samples);
  const minutes = Math.max(0, Math.round((now - samples[0].t) / 60_000));
  const summary =
    `Over the last ${minutes} min: workers ${current.connected} of ` +
    `${current.requested} connected, jobs ${current.running} running and ` +
    `${current.pending} pending now; ${samples.length} change(s) seen.`;
  return (
    <figure
      className="pangeo-hpc-Timeline"
      data-testid="pangeo-hpc-timeline"
      data-samples={samples.length}
    >
      <svg
        viewBox={`0 0 ${WIDTH} ${2 * ROW + GAP + 1}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={summary}
      >
        <Row
          samples={samples}
          now={now}
          top={0}
          series={['requested', 'connected']}
        />
        <Row
          samples={samples}
          now={now}
          top={ROW + GAP}
          series={['pending', 'running']}
        />
      </svg>
      <figcaption className="pangeo-hpc-Timeline-legend" aria-hidden="true">
        <span className="pangeo-hpc-Timeline-key-requested">requested</span>
        <span className="pangeo-hpc-Timeline-key-connected">connected</span>
        <span className="pangeo-hpc-Timeline-key-pending">pending</span>
        <span className="pangeo-hpc-Timeline-key-running">running</span>
        <span>{minutes} min</span>
      </figcaption>
    </figure>
  );
}
