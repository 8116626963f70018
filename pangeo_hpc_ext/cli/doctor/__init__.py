"""`pangeo-hpc doctor`: a pass/fail table of what an HPC user's setup needs, each fail with its fix.

Checks what breaks the seed's recipe in practice: the scheduler's commands missing on PATH or its
queues (partitions) not answering, missing or down, memory requests in the wrong unit
(dask-jobqueue writes LSF's `-M` in lsf.conf's LSF_UNIT_FOR_LIMITS, Slurm's --mem in MiB, Grid
Engine's resources per slot), a profile naming a network interface (ib0) this host lacks, no
dask jobqueue config, the proxy or our extension not enabled, and Jupyter security weakened by
hand (allow_origin='*', ip='0.0.0.0'). The scheduler is --scheduler, else the one on PATH.
"""

from .command import register

__all__ = ["register"]
