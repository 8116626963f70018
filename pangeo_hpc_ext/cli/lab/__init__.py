"""`pangeo-hpc lab`, `status` and `stop`: JupyterLab itself as a batch job on a compute node."""
