#!/usr/bin/env bash
# Real OpenPBS 23.06.06 on this one machine, for the PBS test suites and benchmarks.
#   .ci/openpbs.sh up     build (unless /opt/pbs was built from the same tarball and patches), start
#                         server, scheduler, comm and mom, wait for a free node; writes $ENV_FILE
#   .ci/openpbs.sh down   stop PBS (its init script; also stops PBS's own PostgreSQL)
# As root, without systemd. Both commands are idempotent. The source and patches are vendored next to the
# repository (../shared/vendor/openpbs, or $PANGEO_HPC_VENDOR_DIR/openpbs); the recipe is their README.
#
# PBS's commands stay in /opt/pbs/bin, OFF the global PATH: Grid Engine's qsub/qstat/qdel may be installed
# too, and the other suites must keep finding those. PBS suites source $ENV_FILE, which sets
# PANGEO_HPC_PBS_BIN (the tests put it first on PATH for PBS alone). PBS listens on 15001-15004, 15007
# (its PostgreSQL) and 17001.
set -euo pipefail

PREFIX=/opt/pbs
STAMP="$PREFIX/.pangeo-hpc-build-stamp"
ENV_FILE=/var/lib/pbs-ci-env.sh
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENDOR="${PANGEO_HPC_VENDOR_DIR:-$REPO/../shared/vendor}/openpbs"
TARBALL="$VENDOR/openpbs-23.06.06.tar.gz"
BUILD_DIR=${PBS_BUILD_DIR:-/var/tmp/pangeo-hpc-openpbs-build}
WAIT_S=${PBS_WAIT_S:-90}

say() { echo "openpbs.sh: $*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}

pbs() { "$PREFIX/bin/$1" "${@:2}"; }

# What was built from: the tarball and the patches, by content. A different tarball or patch rebuilds.
wanted_stamp() { cat "$TARBALL" "$VENDOR"/000*.patch | sha256sum | cut -d' ' -f1; }

install_packages() {
  local missing=() p
  for p in gcc g++ make libtool autoconf automake pkg-config perl libhwloc-dev libx11-dev libxt-dev \
    libxext-dev libxft-dev libedit-dev libical-dev libncurses-dev libpq-dev postgresql-server-dev-all \
    python3-dev tcl-dev tk-dev swig libexpat1-dev expat libssl-dev zlib1g-dev postgresql \
    postgresql-contrib sudo; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 \
    "${missing[@]}" >/dev/null
}

build() {
  local want
  want=$(wanted_stamp)
  if [ -x "$PREFIX/bin/qsub" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    say "reusing $PREFIX (built from the same tarball and patches)"
    return
  fi
  [ -f "$TARBALL" ] || die "no $TARBALL (set PANGEO_HPC_VENDOR_DIR to the folder holding openpbs/)"
  install_packages
  say "building OpenPBS in $BUILD_DIR (minutes)"
  rm -rf "$BUILD_DIR"
  mkdir -p "$BUILD_DIR"
  tar -xzf "$TARBALL" -C "$BUILD_DIR"
  (
    # Debian's python3 (PBS embeds it for hooks), not a venv's or pyenv's.
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin
    cd "$BUILD_DIR"/openpbs-23.06.06
    for p in "$VENDOR"/000*.patch; do patch -s -p1 <"$p"; done
    ./autogen.sh >"$BUILD_DIR/autogen.log" 2>&1
    ./configure --prefix="$PREFIX" --with-python=/usr >"$BUILD_DIR/configure.log" 2>&1
    make -j"$(nproc)" >"$BUILD_DIR/make.log" 2>&1
    make install >"$BUILD_DIR/install.log" 2>&1
  ) || die "build failed; logs in $BUILD_DIR"
  chmod 4755 "$PREFIX/sbin/pbs_iff" "$PREFIX/sbin/pbs_rcp"
  # Writes /etc/pbs.conf, /etc/init.d/pbs and /var/spool/pbs; its systemctl errors are harmless here.
  "$PREFIX/libexec/pbs_postinstall" >/dev/null 2>&1 || true
  echo "$want" >"$STAMP"
  rm -rf "$BUILD_DIR"
  say "built and installed in $PREFIX"
}

configure_conf() {
  [ -f /etc/pbs.conf ] || "$PREFIX/libexec/pbs_postinstall" >/dev/null 2>&1 || true
  [ -f /etc/pbs.conf ] || die "/etc/pbs.conf missing after pbs_postinstall"
  # One node: the mom runs beside the server.
  sed -i 's/^PBS_START_MOM=0/PBS_START_MOM=1/' /etc/pbs.conf
}

running() { pbs qstat -B >/dev/null 2>&1; }

node_free() { pbs pbsnodes -a 2>/dev/null | grep -Eq '^ *state = (free|job-busy|resv-exclusive)'; }

wait_for() { # SECONDS WHAT COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || die "$what did not happen within ${WAIT_S}s (see /var/spool/pbs/*_logs)"
    sleep 0.5
  done
}

up() {
  [ "$(id -u)" = 0 ] || die "run as root"
  build
  configure_conf
  if running; then
    say "PBS already running"
  else
    say "starting PBS"
    # Its own PostgreSQL (port 15007) is initialised on the first start.
    /etc/init.d/pbs start >/dev/null 2>&1 || die "/etc/init.d/pbs start failed (see /var/spool/pbs/*_logs)"
  fi
  wait_for "$WAIT_S" "pbs_server answering" running
  pbs pbsnodes -a >/dev/null 2>&1 || pbs qmgr -c "create node $(hostname -s)"
  # Root submits in CI ("Bad UID for job execution" otherwise); finished jobs stay in qstat -x; the server
  # schedules every 2 s rather than 10 min when nothing changes.
  pbs qmgr -c 'set server acl_roots = root'
  pbs qmgr -c 'set server job_history_enable = True'
  pbs qmgr -c 'set server scheduler_iteration = 2'
  # Up to 8 small jobs per core so that the tests' workers fit on a 2-core machine.
  pbs qmgr -c "set node $(hostname -s) resources_available.ncpus = $((8 * $(nproc)))"
  # A queue with a 5-minute limit, to check that a walltime above a queue's limit is refused.
  pbs qmgr -c 'list queue short' >/dev/null 2>&1 || pbs qmgr -c 'create queue short queue_type = execution'
  pbs qmgr -c 'set queue short resources_max.walltime = 00:05:00'
  pbs qmgr -c 'set queue short enabled = True'
  pbs qmgr -c 'set queue short started = True'
  wait_for "$WAIT_S" "node $(hostname -s) free" node_free
  printf 'export PANGEO_HPC_PBS_BIN=%s\n' "$PREFIX/bin" >"$ENV_FILE"
  say "ready: $(pbs qstat -Q | tail -n +3 | awk '{print $1}' | paste -sd ' ') ($(pbs qstat --version))"
  say "environment written to $ENV_FILE"
  cat "$ENV_FILE"
}

down() {
  if [ ! -x /etc/init.d/pbs ]; then
    say "PBS not installed; nothing to stop"
    return
  fi
  # Stops server, scheduler, mom, comm and PBS's PostgreSQL, each by its own pid file.
  /etc/init.d/pbs stop >/dev/null 2>&1 || true
  running && die "pbs_server still answers after /etc/init.d/pbs stop"
  say "down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
