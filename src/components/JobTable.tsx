import React from 'react';

import type { IJob } from '../api';
import {
  arrayElementLabel,
  arraySummary,
  endedByLabel,
  formatDuration,
  jobEnded,
  routineEnd,
  waitingText,
  walltimeLeft
} from '../format';
import { useNow } from './useNow';

export interface IJobTableProps {
  jobs: IJob[];
  /** When the server described these jobs (ms), to count walltime down. */
  receivedAt: number;
  /** Open an ended job's output (in a main-area tab). */
  onOpenLog?: (jobId: string) => void;
  /** Show the routine ended jobs at first (they are folded away otherwise). */
  endedExpanded?: boolean;
}

/**
 * One job: the scheduler's own word for its state (the one users know from
 * bjobs, squeue or qstat) coloured by our state, its hosts, the walltime
 * left, and below them why it waits or why it ended.
 */
function JobRows(props: {
  job: IJob;
  receivedAt: number;
  now: number;
  onOpenLog?: (jobId: string) => void;
}): JSX.Element {
  const { job, receivedAt, now, onOpenLog } = props;
  const ended = jobEnded(job);
  const hosts = job.hosts.join(' ');
  // Ended on purpose: said in words, in a neutral colour, not as a red EXIT.
  const endedBy = endedByLabel(job);
  const waiting = waitingText(job, now);
  const reason = endedBy ? null : (waiting ?? job.reason);
  const native = job.reason
    ? `${job.native_state}: ${job.reason}`
    : job.native_state;
  // The cell shows the native id (what bkill or scancel takes); the array it
  // belongs to is in its tooltip and what a screen reader says.
  const element = arrayElementLabel(job);
  return (
    <tbody
      className={`pangeo-hpc-Job pangeo-hpc-mod-${endedBy ? 'retired' : job.state}`}
      data-testid="pangeo-hpc-job"
      data-job-id={job.job_id}
      data-state={job.state}
      data-native-state={job.native_state}
      data-ended-by={job.ended_by ?? undefined}
      data-array-parent={job.array?.parent}
      data-array-index={job.array?.index}
    >
      <tr>
        <td
          className="pangeo-hpc-Job-id"
          data-testid="pangeo-hpc-job-id"
          title={element ?? undefined}
          aria-label={element ? `${job.job_id}, ${element}` : undefined}
        >
          {job.job_id}
        </td>
        <td>
          <span
            className={`pangeo-hpc-JobState pangeo-hpc-JobState-${endedBy ? 'retired' : job.state}`}
            data-testid="pangeo-hpc-job-state"
            title={endedBy ? native : job.state}
          >
            {endedBy ?? job.native_state}
          </span>
        </td>
        <td
          className="pangeo-hpc-Job-hosts"
          data-testid="pangeo-hpc-job-hosts"
          title={hosts || undefined}
        >
          {hosts || '—'}
        </td>
        <td className="pangeo-hpc-Job-walltime">
          {formatDuration(
            walltimeLeft(job.walltime_left_s, job.state, receivedAt, now)
          )}
        </td>
      </tr>
      {reason && (
        <tr>
          <td />
          <td colSpan={3} className="pangeo-hpc-Job-reasonCell">
            <div
              className="pangeo-hpc-Job-reason"
              data-testid="pangeo-hpc-job-reason"
              title={job.reason ? native : reason}
            >
              {reason}
            </div>
          </td>
        </tr>
      )}
      {ended && onOpenLog && (
        <tr>
          <td />
          <td colSpan={3}>
            <button
              type="button"
              className="pangeo-hpc-JobLog-button"
              data-testid="pangeo-hpc-job-log-button"
              aria-label={`Show the log of job ${job.job_id} in a tab`}
              onClick={() => onOpenLog(job.job_id)}
            >
              Show log
            </button>
          </td>
        </tr>
      )}
    </tbody>
  );
}

/** "4 finished ▸": the routine ends, folded away so live jobs stay in view. */
function EndedToggle(props: {
  count: number;
  open: boolean;
  onToggle: () => void;
}): JSX.Element {
  return (
    <tbody className="pangeo-hpc-Job-endedToggle">
      <tr>
        <td colSpan={4}>
          <button
            type="button"
            className="pangeo-hpc-LinkButton"
            data-testid="pangeo-hpc-ended-toggle"
            aria-expanded={props.open}
            onClick={props.onToggle}
          >
            {props.count} finished {props.open ? '▾' : '▸'}
          </button>
        </td>
      </tr>
    </tbody>
  );
}

export function JobTable(props: IJobTableProps): JSX.Element {
  const { jobs, receivedAt, onOpenLog } = props;
  const [endedOpen, setEndedOpen] = React.useState(!!props.endedExpanded);
  // Walltime counts down, and pending jobs' waits count up.
  const ticking = jobs.some(
    job =>
      (job.walltime_left_s !== null && job.state === 'running') ||
      job.state === 'pending'
  );
  const now = useNow(ticking);
  if (jobs.length === 0) {
    return (
      <div className="pangeo-hpc-JobTable pangeo-hpc-mod-empty">
        No batch jobs
      </div>
    );
  }
  const routine = jobs.filter(routineEnd);
  const arrays = arraySummary(jobs);
  const shown = endedOpen ? jobs : jobs.filter(job => !routineEnd(job));
  const rows = (list: IJob[]) =>
    list.map(job => (
      <JobRows
        key={job.job_id}
        job={job}
        receivedAt={receivedAt}
        now={now}
        onOpenLog={onOpenLog}
      />
    ));
  return (
    <table className="pangeo-hpc-JobTable" data-testid="pangeo-hpc-jobs">
      {arrays && (
        <caption
          className="pangeo-hpc-JobTable-arrays"
          data-testid="pangeo-hpc-job-arrays"
        >
          {arrays}
        </caption>
      )}
      <thead>
        <tr>
          <th>Job</th>
          <th>State</th>
          <th>Hosts</th>
          <th title="Walltime left">Left</th>
        </tr>
      </thead>
      {rows(shown)}
      {routine.length > 0 && (
        <EndedToggle
          count={routine.length}
          open={endedOpen}
          onToggle={() => setEndedOpen(!endedOpen)}
        />
      )}
    </table>
  );
}
