#!/usr/bin/env bash
# Real Slurm (Debian 12's 22.05) on this one machine, for the Slurm test suites and benchmarks.
#   .ci/slurm.sh up     install, configure and start munged, slurmctld, slurmd; wait for the node
#   .ci/slurm.sh down   stop the daemons that `up` started (and only those)
# Runs as root without systemd (CI containers have none). Both commands are idempotent.
set -euo pipefail

# Daemons this script started, one "<name> <pid>" file each: `down` stops exactly these, never a
# munged or slurmd that was already running before `up`.
STARTED_DIR=/run/pangeo-hpc-slurm
CONF=/etc/slurm/slurm.conf
READY_TIMEOUT_S=60
CONF_CHANGED=0

say() { echo "slurm.sh: $*"; }
die() {
  say "ERROR: $*" >&2
  exit 1
}

# The pid in FILE if that process is alive and is the program NAME (pid files outlive daemons).
live_pid() {
  local file=$1 name=$2 pid
  [ -s "$file" ] || return 1
  pid=$(tr -dc 0-9 <"$file")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && echo "$pid"
}

# Not `sinfo --version`: before slurm.conf exists it looks the controller up in DNS (SRV records),
# and only loopback may be contacted here.
slurm_version() { dpkg-query -W -f '${Version}' slurm-client 2>/dev/null || echo unknown; }

install_packages() {
  if command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
    command -v munged >/dev/null; then
    say "packages already installed (slurm $(slurm_version))"
    return
  fi
  # Another installer (a second suite, unattended upgrades) may hold the dpkg lock: wait for it.
  say "installing slurmctld slurmd slurm-client munge"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
    slurmctld slurmd slurm-client munge >/dev/null
  say "installed slurm $(slurm_version)"
}

setup_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating the munge key"
    mungekey -c -k /etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
}

write_conf() {
  local host cpus mem_mb tmp
  host=$(hostname -s)
  cpus=$(nproc)
  # Leave 2 GiB to the OS, or slurmd drains the node for having less memory than configured.
  mem_mb=$(($(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) - 2048))
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
# Written by pangeo-hpc-ext's .ci/slurm.sh: one node that is controller and compute node.
# Daemons and commands talk over loopback whatever the host name resolves to.
ClusterName=ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
# Up to 8 jobs share each CPU, so the tests' small workers fit on a 2-core machine.
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
# A 5-minute limit, to check that a walltime above a partition's MaxTime is refused.
PartitionName=short Nodes=ALL MaxTime=5 State=UP OverSubscribe=FORCE:8
EOF
  if cmp -s "$tmp" "$CONF"; then
    rm -f "$tmp"
    say "$CONF unchanged"
    CONF_CHANGED=0
    return
  fi
  mv "$tmp" "$CONF"
  chmod 644 "$CONF"
  say "wrote $CONF (node $host, $cpus CPUs, ${mem_mb} MB)"
  CONF_CHANGED=1
}

# start NAME PIDFILE COMMAND...: run a daemon unless it already runs; record it when we start it.
start() {
  local name=$1 pidfile=$2 pid waited=0
  shift 2
  if pid=$(live_pid "$pidfile" "$name"); then
    say "$name already running (pid $pid)"
    return
  fi
  say "starting $name"
  "$@"
  until pid=$(live_pid "$pidfile" "$name"); do
    waited=$((waited + 1))
    [ "$waited" -le 100 ] || die "$name did not write $pidfile within 10 s (see /var/log/slurm, /var/log/munge)"
    sleep 0.1
  done
  mkdir -p "$STARTED_DIR"
  echo "$pidfile" >"$STARTED_DIR/$name"
  say "$name running (pid $pid)"
}

wait_until_idle() {
  local host deadline state
  host=$(hostname -s)
  deadline=$(($(date +%s) + READY_TIMEOUT_S))
  while :; do
    state=$(sinfo -h -n "$host" -p debug -o %T 2>/dev/null || true)
    case "$state" in
      idle | mixed | allocated)
        say "node $host is $state; partitions:"
        sinfo
        return
        ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
      sinfo -R || true
      die "node $host not idle within ${READY_TIMEOUT_S} s (state: '${state:-no answer}'); see /var/log/slurm/"
    fi
    # A node left DOWN by an earlier unclean stop comes back only when told to.
    case "$state" in down* | drain*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;; esac
    sleep 0.5
  done
}

up() {
  [ "$(id -u)" = 0 ] || die "run as root"
  install_packages
  setup_munge
  local decoded
  write_conf
  start munged /run/munge/munged.pid su -s /bin/sh munge -c /usr/sbin/munged
  # Captured first: `grep -q` in the pipe would end it early, and pipefail would fail on that.
  decoded=$(munge -n | unmunge 2>&1) || die "munge -n | unmunge failed: $decoded"
  grep -q "STATUS: *Success" <<<"$decoded" || die "munge -n | unmunge does not say Success: $decoded"
  say "munge works"
  if [ "$CONF_CHANGED" = 1 ] && live_pid /run/slurmctld.pid slurmctld >/dev/null; then
    say "configuration changed: scontrol reconfigure"
    scontrol reconfigure
  fi
  start slurmctld /run/slurmctld.pid slurmctld
  start slurmd /run/slurmd.pid slurmd
  wait_until_idle
}

down() {
  local name pidfile pid waited
  # Reverse order of start: slurmd, then slurmctld, then munged.
  for name in slurmd slurmctld munged; do
    [ -f "$STARTED_DIR/$name" ] || continue
    pidfile=$(cat "$STARTED_DIR/$name")
    if pid=$(live_pid "$pidfile" "$name"); then
      say "stopping $name (pid $pid)"
      kill -TERM "$pid"
      waited=0
      while kill -0 "$pid" 2>/dev/null; do
        waited=$((waited + 1))
        [ "$waited" -le 150 ] || die "$name (pid $pid) still running 15 s after SIGTERM"
        sleep 0.1
      done
    else
      say "$name already stopped"
    fi
    rm -f "$STARTED_DIR/$name"
  done
  say "down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
