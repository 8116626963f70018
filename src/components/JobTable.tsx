import React from 'react';

import type { IJob } from '../api';
import { formatDuration, jobStateKind, walltimeLeft } from '../format';

export interface IJobTableProps {
  jobs: IJob[];
  /** When the server described these jobs (ms), to count walltime down. */
  fetchedAt: number;
}

/** Re-renders every second while some job has walltime running down. */
function useNow(active: boolean): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    if (!active) {
      return undefined;
    }
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function JobTable(props: IJobTableProps): JSX.Element {
  const { jobs, fetchedAt } = props;
  const ticking = jobs.some(
    job => job.walltime_left_s !== null && jobStateKind(job.state) === 'running'
  );
  const now = useNow(ticking);
  if (jobs.length === 0) {
    return (
      <div className="pangeo-hpc-JobTable pangeo-hpc-mod-empty">
        No batch jobs
      </div>
    );
  }
  return (
    <table className="pangeo-hpc-JobTable" data-testid="pangeo-hpc-jobs">
      <thead>
        <tr>
          <th>Job</th>
          <th>State</th>
          <th>Host</th>
          <th title="Walltime left">Left</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map(job => {
          const kind = jobStateKind(job.state);
          return (
            <tr
              key={job.job_id}
              className="pangeo-hpc-Job"
              data-testid="pangeo-hpc-job"
              data-job-id={job.job_id}
              data-state={job.state}
            >
              <td className="pangeo-hpc-Job-id">{job.job_id}</td>
              <td>
                <span
                  className={`pangeo-hpc-JobState pangeo-hpc-JobState-${kind}`}
                  data-testid="pangeo-hpc-job-state"
                >
                  {job.state}
                </span>
              </td>
              <td className="pangeo-hpc-Job-host">{job.host ?? '—'}</td>
              <td className="pangeo-hpc-Job-walltime">
                {formatDuration(
                  walltimeLeft(job.walltime_left_s, job.state, fetchedAt, now)
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
