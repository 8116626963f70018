/**
 * A cluster's recent past, for the card's timeline: workers requested and
 * connected, jobs pending and running, sampled from every description the
 * server sends (poll answers, pushed events, peers' answers). Pure, so the
 * store keeps it and the timeline only draws it.
 */
import type { ICluster } from '../api';

/** What the timeline draws at one moment. */
export interface ISample {
  /** When the description arrived (ms). */
  t: number;
  requested: number;
  connected: number;
  pending: number;
  running: number;
}

/** How far back the timeline looks (ms). */
export const HISTORY_SPAN_MS = 30 * 60 * 1000;
/** At most this many changes are kept per cluster, whatever the span. */
export const HISTORY_LIMIT = 200;

export function sampleOf(cluster: ICluster, t: number): ISample {
  let pending = 0;
  let running = 0;
  for (const job of cluster.jobs) {
    if (job.state === 'pending') {
      pending++;
    } else if (job.state === 'running') {
      running++;
    }
  }
  return {
    t,
    requested: cluster.workers.requested,
    connected: cluster.workers.connected,
    pending,
    running
  };
}

function sameCounts(a: ISample, b: ISample): boolean {
  return (
    a.requested === b.requested &&
    a.connected === b.connected &&
    a.pending === b.pending &&
    a.running === b.running
  );
}

/**
 * The history with `sample` added. The timeline is a step chart, so only
 * changes are kept: a sample equal to the last adds nothing (the chart runs
 * the last step on to now). Samples older than `span` go, except the last of
 * them, which says where the window starts; a sample older than the last
 * kept (a late answer) is dropped, since what came after it is newer news.
 */
export function addSample(
  history: readonly ISample[],
  sample: ISample,
  span = HISTORY_SPAN_MS,
  limit = HISTORY_LIMIT
): readonly ISample[] {
  const last = history[history.length - 1];
  if (last && (sample.t < last.t || sameCounts(last, sample))) {
    return history;
  }
  const next = [...history, sample];
  const cutoff = sample.t - span;
  let first = 0;
  while (first + 1 < next.length && next[first + 1].t <= cutoff) {
    first++;
  }
  first = Math.max(first, next.length - limit);
  return first > 0 ? next.slice(first) : next;
}
