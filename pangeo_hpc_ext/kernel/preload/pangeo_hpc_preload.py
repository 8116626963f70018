"""The file the server names in its kernels' `distributed.scheduler.preload`.

Named by path, not by module, and alone in its directory: dask imports a preload module name
eagerly, so a kernel of another environment (without pangeo-hpc-ext) would fail to start any
scheduler; a file is imported with its directory briefly first on sys.path, and this directory
holds nothing else that could shadow a module.
"""

try:
    from pangeo_hpc_ext.kernel.scheduler_preload import dask_setup
except ImportError:  # an environment without pangeo-hpc-ext: its schedulers are not registered

    def dask_setup(scheduler: object) -> None:
        return None


__all__ = ["dask_setup"]
