"""JupyterLab server for the Galata tests: our extension on, the LSF emulator on PATH
for this server only (2 job slots, so a third worker job stays PEND), profiles on real Slurm
and real OpenPBS when they are here, the `lsf` profile on volclava instead with
PANGEO_HPC_UI_LSF=volclava, loopback only."""

import os
import tempfile
from pathlib import Path

from jupyter_core.paths import jupyter_path
from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821 - `c` is the traitlets config of this file

c.ServerApp.ip = "127.0.0.1"  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821
c.ServerApp.open_browser = False  # noqa: F821
c.ServerApp.jpserver_extensions.update({"pangeo_hpc_ext": True})  # noqa: F821
c.LabApp.news_url = None  # noqa: F821
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"  # noqa: F821

# Each run starts with its own emulator state and job ledger, unless PANGEO_HPC_UI_RUN_DIR names
# one: servers started one after the other on it (tests/restart.spec.ts) share the emulator's jobs
# and the clusters' records, as a user's server restarted on the same host would.
_run_dir = os.environ.get("PANGEO_HPC_UI_RUN_DIR") or tempfile.mkdtemp(
    prefix="pangeo-hpc-ui-tests-"
)
c.PangeoHPC.state_dir = os.path.join(_run_dir, "server")  # noqa: F821
# Job states are read every half second so PEND -> RUN shows up quickly.
c.PangeoHPC.job_poll_interval = 0.5  # noqa: F821

from pangeo_hpc_ext.cli.demo import configure_demo_server  # noqa: E402

# Emulator state and shims under this run's directory, not the user's demo ones.
configure_demo_server(c, slots=2, home=Path(_run_dir) / "demo")  # noqa: F821

# PANGEO_HPC_UI_LSF=volclava (the second Galata pass of .ci/run, for volclava.spec.ts): the `lsf`
# profile is on volclava, the real LSF of .ci/volclava.sh, instead of the emulator. One server
# reaches one LSF, the one on its PATH: volclava's commands replace the emulator's shims there.
if os.environ.get("PANGEO_HPC_UI_LSF") == "volclava":
    from tests.support.volclava import LSF_DEFAULTS, lsf_environ, volclava_variables

    if volclava_variables() is not None:
        for _key in [k for k in os.environ if k.startswith("LSFSIM_")]:
            del os.environ[_key]
        os.environ.update(lsf_environ())
        c.PangeoHPC.profiles = {  # noqa: F821
            **c.PangeoHPC.profiles,  # noqa: F821
            "lsf": {
                "backend": "lsf",
                "label": "LSF (volclava): Dask workers as batch jobs",
                "defaults": {**LSF_DEFAULTS, "log_directory": os.path.join(_run_dir, "lsf-logs")},
            },
        }

from pangeo_hpc_ext.schedulers.registry import SCHEDULERS  # noqa: E402

# Where real Slurm is here (.ci/slurm.sh), a Slurm profile too, for slurm.spec.ts; that spec
# skips without it (fails under PANGEO_HPC_REQUIRE_SLURM=1). Last, so LSF stays the default.
if SCHEDULERS["slurm"].present():
    c.PangeoHPC.profiles = {  # noqa: F821
        **c.PangeoHPC.profiles,  # noqa: F821
        "slurm": {
            "backend": "slurm",
            "label": "Slurm: Dask workers as batch jobs",
            "defaults": {
                "queue": "debug",
                "cores": 1,
                "memory": "1GB",
                "walltime": "00:10:00",
                "interface": "lo",
                "log_directory": os.path.join(_run_dir, "slurm-logs"),
            },
        },
    }

# Real OpenPBS (.ci/openpbs.sh) keeps its commands off the global PATH, in $PANGEO_HPC_PBS_BIN
# (or /opt/pbs/bin): this server puts them first on its PATH when that qstat answers as PBS, and
# offers a PBS profile for pbs.spec.ts (which skips without it, fails under
# PANGEO_HPC_REQUIRE_PBS=1).
_pbs_bin = os.environ.get("PANGEO_HPC_PBS_BIN") or "/opt/pbs/bin"
_pbs_path = os.pathsep.join([_pbs_bin, os.environ.get("PATH", "")])
if SCHEDULERS["pbs"].present(_pbs_path):
    os.environ["PATH"] = _pbs_path
    c.PangeoHPC.profiles = {  # noqa: F821
        **c.PangeoHPC.profiles,  # noqa: F821
        "pbs": {
            "backend": "pbs",
            "label": "PBS: Dask workers as batch jobs",
            "defaults": {
                "queue": "workq",
                "cores": 1,
                "memory": "1GB",
                "walltime": "00:10:00",
                "interface": "lo",
                "log_directory": os.path.join(_run_dir, "pbs-logs"),
            },
        },
    }

# A checkout built with `jlpm build:prod` but not installed: show its labextension to this
# server only (no link in the system's share directory).
_built = Path(__file__).resolve().parent.parent / "pangeo_hpc_ext" / "labextension"
_installed = any(
    (Path(p) / "pangeo-hpc-ext" / "package.json").exists() for p in jupyter_path("labextensions")
)
if not _installed and (_built / "package.json").exists():
    _extensions = Path(_run_dir) / "labextensions"
    _extensions.mkdir(exist_ok=True)
    if not (_extensions / "pangeo-hpc-ext").is_symlink():
        (_extensions / "pangeo-hpc-ext").symlink_to(_built, target_is_directory=True)
    _galata = c.LabServerApp.extra_labextensions_path  # noqa: F821
    c.LabServerApp.extra_labextensions_path = [  # noqa: F821
        *([_galata] if isinstance(_galata, str) else list(_galata)),
        str(_extensions),
    ]
