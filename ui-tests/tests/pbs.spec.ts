/**
 * The sidebar on real OpenPBS (.ci/openpbs.sh): the server under test has a
 * `pbs` profile when PBS's qstat answers from $PANGEO_HPC_PBS_BIN or
 * /opt/pbs/bin (jupyter_server_test_config.py). Without it the test skips,
 * saying why; under CI (PANGEO_HPC_REQUIRE_PBS=1) it fails instead.
 */
import { realSchedulerFlow } from './realScheduler';

realSchedulerFlow({
  title: 'PBS',
  profile: 'pbs',
  label: 'PBS: Dask workers as batch jobs',
  firstQueue: 'workq',
  runningWord: 'R',
  clusterName: 'pbs-ui',
  missing:
    'no PBS profile on the server under test: no PBS qstat in ' +
    '$PANGEO_HPC_PBS_BIN or /opt/pbs/bin (`.ci/openpbs.sh up` as root starts it)',
  required: process.env.PANGEO_HPC_REQUIRE_PBS === '1'
});
