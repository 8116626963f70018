/**
 * The sidebar on real Slurm (.ci/slurm.sh): the server under test has a `slurm`
 * profile when sbatch is on its PATH (jupyter_server_test_config.py). Without
 * it the test skips, saying why; under CI (PANGEO_HPC_REQUIRE_SLURM=1) it fails
 * instead.
 */
import { realSchedulerFlow } from './realScheduler';

realSchedulerFlow({
  title: 'Slurm',
  profile: 'slurm',
  label: 'Slurm: Dask workers as batch jobs',
  firstQueue: 'debug',
  runningWord: 'RUNNING',
  clusterName: 'slurm-ui',
  missing:
    'no Slurm profile on the server under test: sbatch is not on its PATH ' +
    '(`.ci/slurm.sh up` as root starts Slurm)',
  required: process.env.PANGEO_HPC_REQUIRE_SLURM === '1'
});
