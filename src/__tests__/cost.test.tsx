/** What a cluster costs and when it goes (#22): core-hours, cores held, the idle countdown, the expected start. */
import React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { ClusterCard } from '../components/ClusterCard';
import {
  formatCoreHours,
  idleCountdown,
  IDLE_COUNTDOWN_S,
  totalCoreHours,
  waitingText
} from '../format';
import { makeCluster, makeJob } from './fakeserver';
import { CARD } from './helpers';

const NOW = Date.parse('2026-12-06T14:00:00Z');

describe('what a cluster costs', () => {
  it('reads core-hours as people say them, and adds up the session', () => {
    expect(formatCoreHours(3.24)).toBe('3.2 core-hours');
    expect(formatCoreHours(0.01)).toBe('< 0.1 core-hours');
    expect(formatCoreHours(0)).toBe('0.0 core-hours');
    expect(formatCoreHours(null)).toBeNull();
    expect(formatCoreHours(undefined)).toBeNull();
    const clusters = [
      makeCluster('a', { core_hours: 1.5 }),
      makeCluster('b', { core_hours: 2 }),
      makeCluster('c', { core_hours: null })
    ];
    expect(totalCoreHours(clusters)).toBe(3.5);
    expect(totalCoreHours([makeCluster('d')])).toBeNull();
  });

  it('shows core-hours and the cores held on the card', () => {
    const html = renderToStaticMarkup(
      <ClusterCard
        {...CARD}
        cluster={makeCluster('a', { core_hours: 3.24, cores_held: 16 })}
        receivedAt={NOW}
      />
    );
    expect(html).toMatch(
      /data-testid="pangeo-hpc-cluster-core-hours"[^>]*>3.2 core-hours \(16 cores held now\)</
    );
    const older = renderToStaticMarkup(
      <ClusterCard {...CARD} cluster={makeCluster('b')} receivedAt={NOW} />
    );
    expect(older).not.toContain('pangeo-hpc-cluster-core-hours');
  });
});

describe('an idle cluster', () => {
  const closingIn = (seconds: number) =>
    makeCluster('a', {
      idle: {
        timeout_s: 1800,
        closes_at: new Date(NOW + seconds * 1000).toISOString()
      }
    });

  it('counts down only in its last minutes', () => {
    expect(idleCountdown(closingIn(130), NOW)).toBe(
      'Closes in 2:10 if still idle (no client, no task)'
    );
    expect(idleCountdown(closingIn(IDLE_COUNTDOWN_S + 1), NOW)).toBeNull();
    expect(idleCountdown(closingIn(-5), NOW)).toBe(
      'Closes in 0:00 if still idle (no client, no task)'
    );
  });

  it('does not count down while used, or when it never closes', () => {
    const used = makeCluster('a', {
      idle: { timeout_s: 1800, closes_at: null }
    });
    expect(idleCountdown(used, NOW)).toBeNull();
    expect(idleCountdown(makeCluster('b', { idle: null }), NOW)).toBeNull();
    expect(idleCountdown(makeCluster('c'), NOW)).toBeNull();
  });
});

describe('a pending job', () => {
  it('says when the scheduler expects it to start, where it says', () => {
    const submitted = new Date(NOW - 4 * 60 * 1000).toISOString();
    const expected = new Date(2026, 11, 6, 14, 32).toISOString();
    const job = makeJob('7', {
      state: 'pending',
      native_state: 'PENDING',
      reason: 'Resources',
      submitted,
      expected_start: expected
    });
    expect(waitingText(job, NOW)).toMatch(/^Waiting 4 min, expected 14:32: /);
    expect(waitingText({ ...job, expected_start: null }, NOW)).toMatch(
      /^Waiting 4 min: /
    );
  });
});
