#!/usr/bin/env bash
# Real LSF-family scheduler on this one machine: volclava 2.2 (OpenLava's descendant), built from
# the vendored source tarball, for the real-LSF test suites and benchmarks.
#   .ci/volclava.sh up     as root: build and install under /opt/volclava (reused when its build
#                          stamp matches the tarball), configure one node, start lim, res and
#                          sbatchd (which starts mbatchd), wait until the host takes jobs.
#                          Writes the environment a caller needs to $ENV_FILE.
#   .ci/volclava.sh down   kill the jobs left, then stop the daemons an `up` started, by PID.
# Both are idempotent. No systemd, and never volclava's own etc/volclava script: it stops
# daemons with killall, which would hit every lim/res/sbatchd on the machine.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TARBALL=${VOLCLAVA_TARBALL:-$(ls "$HERE"/../../shared/vendor/volclava-*.tar.gz /work/shared/vendor/volclava-*.tar.gz 2>/dev/null | head -n1 || true)}
PREFIX=/opt/volclava
STAMP=$PREFIX/.ci-build-stamp
# The compiler flags are part of the stamp: a build made with others is rebuilt.
CFLAGS_BUILD="-O1 -fcommon -I/usr/include/tirpc -Wno-error"
LIBS_BUILD="-ltirpc"
ENV_FILE=$PREFIX/ci-env.sh
# "<name> <pid>" per daemon this script started: `down` stops exactly these.
STARTED=/run/pangeo-hpc-volclava.pids
HOST=$(hostname)
WAIT_S=${VOLCLAVA_WAIT_S:-90}

say() { echo "volclava.sh: $*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}

# wait_for SECONDS WHAT COMMAND...: run COMMAND until it succeeds, at most SECONDS.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not happen within ${seconds}s (logs: $PREFIX/log)"
    sleep 0.3
  done
}

stamp_wanted() {
  printf '%s\n%s\n%s\n' "$(sha256sum "$TARBALL" | cut -d' ' -f1)" "$CFLAGS_BUILD" "$LIBS_BUILD"
}

build() {
  [[ -n $TARBALL && -f $TARBALL ]] || die "volclava source tarball not found (set VOLCLAVA_TARBALL)"
  if [[ -x $PREFIX/sbin/lim && -x $PREFIX/bin/bsub && -f $STAMP ]] && [[ "$(cat "$STAMP")" == "$(stamp_wanted)" ]]; then
    say "reusing the build in $PREFIX ($(basename "$TARBALL"))"
    return
  fi
  local deps="build-essential automake autoconf libtool tcl-dev libncurses-dev libtirpc-dev libnsl-dev"
  # shellcheck disable=SC2086
  if ! dpkg-query -W -f '${Status}\n' $deps 2>/dev/null | grep -c "install ok installed" | grep -qx "$(wc -w <<<"$deps")"; then
    say "installing build dependencies: $deps"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 \
      $deps >/dev/null
  fi
  local src t0=$SECONDS
  src=$(mktemp -d /var/tmp/volclava-build.XXXXXX)
  say "building $(basename "$TARBALL") in $src"
  tar -xzf "$TARBALL" -C "$src" --strip-components=1
  (
    cd "$src"
    # glibc has no rpc/xdr.h any more: volclava's XDR code needs libtirpc.
    sh bootstrap.sh --prefix="$PREFIX" CFLAGS="$CFLAGS_BUILD" LIBS="$LIBS_BUILD" >"$src/build.log" 2>&1
    make -j"$(nproc)" >>"$src/build.log" 2>&1
    make install >>"$src/build.log" 2>&1
  ) || {
    tail -n 40 "$src/build.log" >&2
    die "build failed (full log: $src/build.log)"
  }
  stamp_wanted >"$STAMP"
  rm -rf "$src"
  say "built and installed in $((SECONDS - t0)) s"
}

# write_if_changed FILE: stdin becomes FILE unless FILE already says the same. Echoes 1 if changed.
# (Safe with FILE read earlier in the same pipe: stdin is read to its end before FILE is replaced.)
write_if_changed() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
    echo 0
  else
    mv "$tmp" "$1"
    chmod 644 "$1"
    echo 1
  fi
}

configure() {
  local etc=$PREFIX/etc changed=0
  groupadd -f volclava
  id volclava >/dev/null 2>&1 || useradd -r -g volclava -d "$PREFIX" -s /usr/sbin/nologin volclava
  # `make install` writes the sample files only when absent; ours are rewritten from them each time.
  # Root's jobs are refused ("User permission denied") unless root may run them locally.
  changed=$((changed + $(
    sed -e '/^LSF_ROOT_REX=/d' "$etc/lsf.conf" | {
      cat
      echo "LSF_ROOT_REX=local"
    } | write_if_changed "$etc/lsf.conf"
  )))
  # One host: controller and compute node. Its name must resolve (here to 127.0.0.1).
  changed=$((changed + $(
    awk -v h="$HOST" '
      /^Begin[ \t]+Host/ {inhost=1; print; next}
      inhost && /^HOSTNAME/ {print; printf "%-17s IntelI5   linux   1   3.5   (cs)\n", h; next}
      inhost && /^End/ {inhost=0}
      inhost && $1 == h {next}
      {print}' "$etc/lsf.cluster.volclava" | write_if_changed "$etc/lsf.cluster.volclava"
  )))
  # Schedule every 2 s (default 10/7), and 8 job slots on the host (default `!`: one per core),
  # so that a few small workers fit on a 2-core machine.
  changed=$((changed + $(
    sed -E -e 's/^(MBD_SLEEP_TIME[ \t]*=[ \t]*)[0-9]+/\12/' -e 's/^(SBD_SLEEP_TIME[ \t]*=[ \t]*)[0-9]+/\12/' \
      "$etc/lsb.params" | write_if_changed "$etc/lsb.params"
  )))
  changed=$((changed + $(
    sed -E 's/^default([ \t]+)![ \t]/default\18 /' "$etc/lsb.hosts" | write_if_changed "$etc/lsb.hosts"
  )))
  # A second queue with a 5-minute run limit, to check that a walltime above a queue's limit is
  # refused (as Slurm's `short` partition and Grid Engine's short.q do).
  if ! grep -q '^QUEUE_NAME *= *short' "$etc/lsb.queues"; then
    cat >>"$etc/lsb.queues" <<'EOF'

Begin Queue
QUEUE_NAME   = short
PRIORITY     = 30
RUNLIMIT     = 5
DESCRIPTION  = pangeo-hpc-ext CI: a queue with a 5-minute run limit.
End Queue
EOF
    changed=$((changed + 1))
  fi
  chown -R volclava:volclava "$PREFIX"
  CONF_CHANGED=$changed
  ((changed == 0)) || say "configuration written ($changed file(s) changed)"
}

# our_pid NAME [PARENT]: pid of a running NAME (a child of PARENT if given); fails if none.
our_pid() {
  local pids
  if [[ -n ${2:-} ]]; then pids=$(pgrep -x -P "$2" "$1" || true); else pids=$(pgrep -x "$1" || true); fi
  [[ -n $pids ]] || return 1
  head -n1 <<<"$pids"
}

recorded_pid() { [[ -s $STARTED ]] && awk -v n="$1" '$1 == n {print $2}' "$STARTED" | tail -n1; }

# start NAME: start a volclava daemon unless one already runs (then it is not ours to stop).
start() {
  local name=$1 pid
  if pid=$(our_pid "$name"); then
    say "$name already running (pid $pid), not started here"
    return
  fi
  say "starting $name"
  "$PREFIX/sbin/$name" # daemonizes itself
  wait_for "$WAIT_S" "$name starting" our_pid "$name"
  pid=$(our_pid "$name")
  echo "$name $pid" >>"$STARTED"
  say "$name running (pid $pid)"
  STARTED_NOW=$((STARTED_NOW + 1))
}

host_ok() { bhosts -w "$HOST" 2>/dev/null | awk -v h="$HOST" '$1 == h && $2 == "ok"' | grep -q .; }

write_env() {
  # Not PATH: the emulator-based suites must not see volclava's commands. The real-LSF suite
  # puts $PANGEO_HPC_VOLCLAVA_BIN first on its own PATH.
  cat >"$ENV_FILE" <<EOF
export LSF_ENVDIR=$PREFIX/etc LSF_SERVERDIR=$PREFIX/sbin LSF_BINDIR=$PREFIX/bin LSF_LIBDIR=$PREFIX/lib
export PANGEO_HPC_VOLCLAVA_BIN=$PREFIX/bin
EOF
  chmod 644 "$ENV_FILE"
}

up() {
  [[ $(id -u) -eq 0 ]] || die "run as root (it installs, and starts daemons that run jobs as their users)"
  local t0=$SECONDS t1
  build
  configure
  export LSF_ENVDIR=$PREFIX/etc LSF_SERVERDIR=$PREFIX/sbin LSF_BINDIR=$PREFIX/bin LSF_LIBDIR=$PREFIX/lib
  export PATH=$PREFIX/bin:$PATH
  if ((CONF_CHANGED > 0)) && [[ -s $STARTED ]]; then
    # Ours: restart them. Not `lsadmin reconfig`: it replaces lim by a new process that this
    # script would not know and leaves the old lim's pim running.
    say "configuration changed: restarting the daemons started here"
    down
  fi
  t1=$SECONDS
  STARTED_NOW=0
  start lim
  wait_for "$WAIT_S" "lim answering lsid" lsid
  start res
  # sbatchd starts mbatchd on the master host and restarts it when it dies.
  start sbatchd
  if ((CONF_CHANGED > 0 && STARTED_NOW < 3)); then
    # Someone else's daemons: they read the changed files only when told to.
    say "configuration changed under daemons not started here: lsadmin reconfig, badmin reconfig"
    lsadmin reconfig -f >/dev/null 2>&1 || true
    badmin reconfig >/dev/null 2>&1 || true
  fi
  wait_for "$WAIT_S" "host $HOST ok in bhosts" host_ok
  wait_for "$WAIT_S" "queue normal listed by bqueues" bqueues normal
  write_env
  say "ready in $((SECONDS - t0)) s (daemons $((SECONDS - t1)) s): $(lsid | tail -n2 | paste -sd ';')"
  say "environment written to $ENV_FILE"
  cat "$ENV_FILE"
}

# stop NAME PID: SIGTERM, bounded wait, then SIGKILL; only if PID still is NAME.
stop() {
  local name=$1 pid=$2 deadline
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$name" ]]; then
    say "$name (pid $pid) already stopped"
    return
  fi
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 15))
  while [[ -e /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.1; done
  if [[ -e /proc/$pid ]]; then
    say "$name (pid $pid) still running 15 s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

# Processes of a session SID named lim, pim, res, sbatchd or mbatchd, most dependent first.
# A volclava daemon makes itself a session leader, and the daemons it starts (pim from lim,
# mbatchd from sbatchd) stay in its session: these are ours when SID is a pid `up` recorded.
session_daemons() {
  local sid=$1 name
  for name in sbatchd mbatchd res lim pim; do
    ps -eo pid=,sid=,comm= | awk -v s="$sid" -v n="$name" '$2 == s && $3 == n {print n, $1}'
  done
}

down() {
  [[ -s $STARTED ]] || {
    say "no daemons started by this script; nothing to stop"
    return 0
  }
  export LSF_ENVDIR=$PREFIX/etc
  local name pid sid victims=""
  while read -r name sid; do
    [[ -n $sid ]] || continue
    victims+=$(session_daemons "$sid")$'\n'
  done <"$STARTED"
  # Jobs first, while mbatchd can still pass the order on: a dask worker left running would keep
  # trying to reach its scheduler. Bounded: an unanswering mbatchd must not hang CI.
  if grep -q '^mbatchd ' <<<"$victims"; then
    timeout 20 "$PREFIX/bin/bkill" -u all 0 >/dev/null 2>&1 || true
  fi
  # sbatchd before mbatchd (or it starts a new one), lim before pim (likewise).
  for name in sbatchd mbatchd res lim pim; do
    for pid in $(awk -v n="$name" '$1 == n {print $2}' <<<"$victims"); do
      stop "$name" "$pid"
    done
  done
  # What remains in those sessions are their helpers (an sbatchd or res forked per job, finishing
  # the killed job): give them a moment, then stop them too.
  local sids deadline left
  sids=$(awk '{print $2}' "$STARTED" | paste -sd,)
  deadline=$((SECONDS + 15))
  while left=$(ps -eo pid=,sid= | awk -v s=",$sids," 'index(s, "," $2 ",") {print $1}') && [[ -n $left ]]; do
    if ((SECONDS >= deadline)); then
      say "still running in the daemons' sessions after 15 s, SIGKILL: $(paste -sd' ' <<<"$left")"
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$STARTED"
  say "down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
