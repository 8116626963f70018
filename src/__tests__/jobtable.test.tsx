import React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { JobTable } from '../components/JobTable';
import { jobLogText } from '../format';
import { makeJob } from './fakeserver';

/** The table as the browser gets it, parsed just enough to ask about one job. */
function render(jobs: Parameters<typeof JobTable>[0]['jobs']): string {
  return renderToStaticMarkup(<JobTable jobs={jobs} receivedAt={Date.now()} />);
}

function jobMarkup(html: string, jobId: string): string {
  const start = html.indexOf(`data-job-id="${jobId}"`);
  expect(start, `job ${jobId} is not in the table`).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf('</tbody>', start));
}

describe('JobTable', () => {
  it("shows the scheduler's word coloured by our state, hosts and walltime left", () => {
    const html = render([
      makeJob('11', { hosts: ['node01', 'node02'], walltime_left_s: 3600 })
    ]);
    const job = jobMarkup(html, '11');
    expect(job).toContain('data-state="running"');
    expect(job).toMatch(
      /class="pangeo-hpc-JobState pangeo-hpc-JobState-running"[^>]*>RUN</
    );
    expect(job).toContain('>node01 node02<');
    expect(job).toMatch(/>(1:00:00|0:59:59)</);
    expect(job).not.toContain('pangeo-hpc-job-reason');
  });

  it('shows why a job ended, whole in its tooltip', () => {
    const reason =
      'TERM_RUNLIMIT: job killed after reaching LSF run time limit. Exited with exit code 140.';
    const job = jobMarkup(
      render([
        makeJob('12', {
          state: 'failed',
          native_state: 'EXIT',
          reason,
          walltime_left_s: 0
        })
      ]),
      '12'
    );
    expect(job).toContain('pangeo-hpc-JobState-failed');
    expect(job).toContain('>EXIT<');
    expect(job).toContain(`title="EXIT: ${reason}"`);
    expect(job).toContain(`>${reason}</div>`);
  });

  it('shows why a job waits, and no host before it runs', () => {
    const job = jobMarkup(
      render([
        makeJob('13', {
          state: 'pending',
          native_state: 'qw',
          reason: 'All queues dropped because of overload or full',
          hosts: [],
          started: null,
          walltime_left_s: null
        })
      ]),
      '13'
    );
    expect(job).toContain('pangeo-hpc-JobState-pending');
    expect(job).toContain('>qw<');
    expect(job).toMatch(/pangeo-hpc-Job-hosts"[^>]*>—</);
    expect(job).toContain('All queues dropped because of overload or full');
  });

  it("says in words why a job waits and since when, the scheduler's text in its tooltip", () => {
    const submitted = new Date(Date.now() - 4 * 60_000 - 5_000).toISOString();
    const job = jobMarkup(
      render([
        makeJob('14', {
          state: 'pending',
          native_state: 'PEND',
          reason: 'Job slot limit reached',
          hosts: [],
          submitted,
          started: null,
          walltime_left_s: null
        })
      ]),
      '14'
    );
    expect(job).toContain('>Waiting 4 min: all job slots are busy</div>');
    expect(job).toContain('title="PEND: Job slot limit reached"');
  });

  it('shows jobs we ended on purpose as routine, folded under "N finished"', () => {
    const html = render([
      makeJob('31', {
        state: 'failed',
        native_state: 'EXIT',
        reason: 'TERM_OWNER: job killed by owner',
        ended_by: 'scale-down'
      }),
      makeJob('32', {
        state: 'finished',
        native_state: 'DONE',
        ended_by: 'walltime-replacement'
      }),
      makeJob('33', {
        state: 'failed',
        native_state: 'EXIT',
        reason: 'TERM_EXTERNAL_SIGNAL: node lost'
      }),
      makeJob('34')
    ]);
    // Folded away: the two routine ends; the failure nobody asked for and the live job stay.
    expect(html).not.toContain('data-job-id="31"');
    expect(html).not.toContain('data-job-id="32"');
    expect(jobMarkup(html, '33')).toContain('pangeo-hpc-JobState-failed');
    expect(html).toContain('data-job-id="34"');
    expect(html).toMatch(/pangeo-hpc-ended-toggle"[^>]*>2 finished ▸</);

    const open = renderToStaticMarkup(
      <JobTable
        jobs={[
          makeJob('31', {
            state: 'failed',
            native_state: 'EXIT',
            reason: 'TERM_OWNER: job killed by owner',
            ended_by: 'scale-down'
          }),
          makeJob('32', {
            state: 'finished',
            native_state: 'DONE',
            ended_by: 'walltime-replacement'
          })
        ]}
        receivedAt={Date.now()}
        endedExpanded
      />
    );
    const retired = jobMarkup(open, '31');
    expect(retired).toMatch(
      /pangeo-hpc-JobState-retired"[^>]*>retired \(scaled down\)</
    );
    expect(retired).not.toContain('pangeo-hpc-JobState-failed');
    expect(retired).not.toContain('pangeo-hpc-job-reason');
    expect(jobMarkup(open, '32')).toContain('>replaced before walltime<');
  });

  it('says so when a cluster has no batch jobs', () => {
    expect(render([])).toContain('No batch jobs');
  });
});

describe('JobTable logs', () => {
  it('offers the log of ended jobs only, when the card can load it', () => {
    const jobs = [
      makeJob('21'),
      makeJob('22', { state: 'failed', native_state: 'EXIT' }),
      makeJob('23', { state: 'finished', native_state: 'DONE' })
    ];
    const onOpenLog = () => undefined;
    const html = renderToStaticMarkup(
      <JobTable
        jobs={jobs}
        receivedAt={Date.now()}
        onOpenLog={onOpenLog}
        endedExpanded
      />
    );
    expect(jobMarkup(html, '21')).not.toContain('pangeo-hpc-job-log-button');
    expect(jobMarkup(html, '22')).toContain('pangeo-hpc-job-log-button');
    expect(jobMarkup(html, '23')).toContain('pangeo-hpc-job-log-button');
    expect(render(jobs)).not.toContain('pangeo-hpc-job-log-button');
  });
});

describe('a job log in its tab', () => {
  it('shows each file whole under its path, "…" where its start was cut', () => {
    const text = jobLogText({
      job_id: '22',
      files: [
        { path: '/logs/w-22.out', lines: ['a', 'b'], truncated: false },
        { path: '/logs/w-22.err', lines: ['c'], truncated: true }
      ]
    });
    expect(text).toBe(
      '==> /logs/w-22.out <==\na\nb\n\n==> /logs/w-22.err <==\n…\nc'
    );
    expect(jobLogText({ job_id: '9', files: [] })).toBe(
      'No output files of job 9 were found.'
    );
  });
});

/** An LSF array element as the server lists it: its own id, and its array. */
function element(parent: string, index: number, extra = {}) {
  return makeJob(`${parent}[${index}]`, {
    array: { parent, index },
    ...extra
  });
}

function arrayLine(html: string): string | null {
  const match = html.match(
    /<caption[^>]*data-testid="pangeo-hpc-job-arrays"[^>]*>([^<]*)<\/caption>/
  );
  return match ? match[1] : null;
}

describe('JobTable with job arrays', () => {
  it('says the workers are one job array; each row keeps its native id, its array in the tooltip', () => {
    const html = render([
      element('123', 1),
      element('123', 2),
      element('123', 3)
    ]);
    expect(arrayLine(html)).toBe(
      'Workers submitted as one job array 123 (3 elements)'
    );
    const row = jobMarkup(html, '123[2]');
    expect(row).toContain('data-array-parent="123"');
    expect(row).toContain('data-array-index="2"');
    // What the user types into bkill is what the cell shows.
    expect(row).toMatch(/pangeo-hpc-job-id"[^>]*>123\[2\]<\/td>/);
    expect(row).toContain('title="element 2 of array 123"');
    expect(row).toContain('aria-label="123[2], element 2 of array 123"');
  });

  it('reads a Slurm array with its own ids the same way', () => {
    const html = render([
      makeJob('77_4', { array: { parent: '77', index: 4 } })
    ]);
    expect(arrayLine(html)).toBe(
      'Workers submitted as one job array 77 (1 element)'
    );
    expect(jobMarkup(html, '77_4')).toContain('title="element 4 of array 77"');
  });

  it('names every array of a mixed cluster and counts its single jobs', () => {
    const html = render([
      element('123', 1),
      element('123', 2),
      makeJob('130'),
      element('131', 1, { state: 'pending', native_state: 'PEND', hosts: [] })
    ]);
    expect(arrayLine(html)).toBe(
      'Workers submitted as 2 job arrays (123: 2 elements, 131: 1 element) and 1 single job'
    );
    const single = jobMarkup(html, '130');
    expect(single).not.toContain('data-array-parent');
    expect(single).not.toContain('title="element');
    expect(single).not.toContain('aria-label');
    expect(single).toMatch(/pangeo-hpc-job-id"[^>]*>130<\/td>/);

    expect(
      arrayLine(render([element('123', 1), makeJob('130'), makeJob('140')]))
    ).toBe(
      'Workers submitted as one job array 123 (1 element) and 2 single jobs'
    );
  });

  it('counts live elements only, and has no array line without live elements', () => {
    const retired = {
      state: 'failed',
      native_state: 'EXIT',
      ended_by: 'scale-down'
    } as const;
    const html = render([
      element('123', 1),
      element('123', 2, retired),
      element('123', 3, retired)
    ]);
    expect(arrayLine(html)).toBe(
      'Workers submitted as one job array 123 (1 element)'
    );
    expect(arrayLine(render([element('123', 2, retired)]))).toBeNull();
    expect(arrayLine(render([makeJob('11'), makeJob('12')]))).toBeNull();
  });

  it('folds ended elements one by one under "N finished"', () => {
    const html = render([
      element('123', 1, {
        state: 'failed',
        native_state: 'EXIT',
        reason: 'TERM_OWNER: job killed by owner',
        ended_by: 'scale-down'
      }),
      element('123', 2, {
        state: 'finished',
        native_state: 'DONE',
        ended_by: 'walltime-replacement'
      }),
      element('123', 3, { state: 'finished', native_state: 'DONE' }),
      element('123', 4)
    ]);
    expect(html).toMatch(/pangeo-hpc-ended-toggle"[^>]*>3 finished ▸</);
    expect(html).not.toContain('data-job-id="123[1]"');
    expect(html).toContain('data-job-id="123[4]"');
  });
});
