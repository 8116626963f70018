/**
 * The sidebar on volclava, a real LSF (.ci/volclava.sh): with
 * PANGEO_HPC_UI_LSF=volclava the server under test has its `lsf` profile on
 * volclava instead of the emulator (jupyter_server_test_config.py); .ci/run
 * runs this spec in a second Galata pass so. Elsewhere it skips, saying why; in
 * that pass under PANGEO_HPC_REQUIRE_LSF=1 a missing volclava fails it instead.
 */
import { realSchedulerFlow } from './realScheduler';

realSchedulerFlow({
  title: 'volclava (LSF)',
  profile: 'lsf',
  label: 'LSF (volclava): Dask workers as batch jobs',
  firstQueue: 'normal',
  runningWord: 'RUN',
  clusterName: 'volclava-ui',
  hostsPerJob: 1,
  missing:
    'no volclava profile on the server under test: it needs PANGEO_HPC_UI_LSF=volclava ' +
    'and `.ci/volclava.sh up` (as root)',
  required:
    process.env.PANGEO_HPC_UI_LSF === 'volclava' &&
    process.env.PANGEO_HPC_REQUIRE_LSF === '1'
});
