#!/usr/bin/env bash
# What tests/test_jupyterhub.py needs to run JupyterHub with batchspawner on the real Slurm of
# .ci/slurm.sh (the test starts and stops the hub itself, with its own config):
#   .ci/jupyterhub.sh up     two Unix users, the users' venv (JupyterHub 6.1.1, batchspawner 1.3.0,
#                            jupyterhub-idle-culler, JupyterLab and this package with its built
#                            labextension), configurable-http-proxy from npm
#   .ci/jupyterhub.sh down   cancel the Slurm jobs the test users may have left
# Reused when present: a second `up` only reinstalls this package, and only if its files changed.
# Runs as root (users, sudo, /opt); run `pip install .` (or .ci/run) first: it builds the
# labextension that the venv's install takes as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

# The users' single-user servers run this Python as the users: it must be executable by every user,
# so not a pyenv or any Python under a private (0700) home, and not this script's Python.
VENV=${PANGEO_HPC_HUB_VENV:-/opt/pangeo-hpc-hub-venv}
CHP_DIR=${PANGEO_HPC_HUB_CHP:-/opt/pangeo-hpc-hub-chp}
USERS="hubalice hubbob"
STAMP=$VENV/.pangeo-hpc-ext-source

say() { echo "jupyterhub.sh: $*"; }
die() {
  say "ERROR: $*" >&2
  exit 1
}

# A digest of this package's files, to reinstall it into the venv only when they changed.
source_digest() {
  find pangeo_hpc_ext jupyter-config pyproject.toml package.json install.json -type f \
    -not -path '*/__pycache__/*' -not -name '_version.py' -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

users() {
  local user
  for user in $USERS; do
    if ! id "$user" >/dev/null 2>&1; then
      useradd --create-home --shell /bin/bash "$user"
      say "created user $user"
    fi
  done
}

venv() {
  command -v sudo >/dev/null || apt-get install -y -q --no-install-recommends sudo >/dev/null
  [ -x /usr/bin/python3 ] || die "/usr/bin/python3 (Debian's python3) is missing"
  /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null ||
    apt-get install -y -q --no-install-recommends python3-venv >/dev/null
  [ -f pangeo_hpc_ext/labextension/static/style.js ] ||
    die "the labextension is not built: run 'pip install .' in $(pwd) first"
  if [ ! -x "$VENV/bin/jupyterhub-singleuser" ] || [ ! -x "$VENV/bin/batchspawner-singleuser" ]; then
    say "creating $VENV (a few minutes the first time)"
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "jupyterhub==6.1.1" "batchspawner==1.3.0" "jupyterhub-idle-culler>=1.4" \
      "jupyterlab>=4.6,<5" .
    source_digest >"$STAMP"
  elif [ "$(cat "$STAMP" 2>/dev/null)" != "$(source_digest)" ]; then
    say "reinstalling pangeo-hpc-ext into $VENV (its files changed)"
    "$VENV/bin/pip" install -q --no-deps --force-reinstall .
    source_digest >"$STAMP"
  else
    say "$VENV is up to date"
  fi
  chmod -R a+rX "$VENV"
  local listed
  # Captured first: grep -q would end the pipe early, and pipefail would fail on that.
  listed=$("$VENV/bin/jupyter" server extension list 2>&1)
  grep -q "pangeo_hpc_ext.*OK" <<<"$listed" || die "pangeo_hpc_ext is not enabled in $VENV: $listed"
}

# The site's cluster profiles, where a site puts them: the Jupyter config of the users' environment
# (docs/jupyterhub.md). Not in jupyter_server_config.d/: jupyter_server reads only the extensions'
# enabling from there. Loopback-only workers, small enough for 2 cores.
site_profiles() {
  local file=$VENV/etc/jupyter/jupyter_server_config.json
  mkdir -p "$(dirname "$file")"
  cat >"$file" <<'JSON'
{
  "PangeoHPC": {
    "profiles": {
      "slurm": {
        "backend": "slurm",
        "label": "Slurm (debug partition)",
        "defaults": {"queue": "debug", "cores": 1, "memory": "1GB", "walltime": "00:20:00", "interface": "lo"}
      }
    }
  }
}
JSON
  chmod a+r "$file"
}

chp() {
  if [ ! -x "$CHP_DIR/node_modules/.bin/configurable-http-proxy" ]; then
    say "installing configurable-http-proxy 5 into $CHP_DIR"
    mkdir -p "$CHP_DIR"
    npm install --silent --no-audit --no-fund --prefix "$CHP_DIR" "configurable-http-proxy@5" >/dev/null
  fi
  say "configurable-http-proxy $("$CHP_DIR/node_modules/.bin/configurable-http-proxy" --version)"
}

up() {
  [ "$(id -u)" = 0 ] || die "run as root (users, sudo, $VENV)"
  sinfo -h >/dev/null 2>&1 || die "Slurm does not answer: run .ci/slurm.sh up first"
  users
  venv
  site_profiles
  chp
  say "ready: users $USERS, $VENV, $CHP_DIR"
}

down() {
  local user
  for user in $USERS; do
    if id "$user" >/dev/null 2>&1 && command -v scancel >/dev/null; then
      scancel -u "$user" 2>/dev/null || true
    fi
  done
  say "down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
