#!/usr/bin/env bash
# Real Son of Grid Engine (Debian 12: 8.1.9) on this one machine, for the Grid Engine tests.
#
#   .ci/gridengine.sh up     as root: install (apt-get update must have run), configure, start
#                            sge_qmaster + sge_execd, wait until the queue takes jobs; idempotent.
#                            Prints the export lines a caller needs and writes them to $ENV_FILE.
#   .ci/gridengine.sh down   stops only the daemons an `up` of this script started.
#
# No systemd: the daemons are started directly, as Debian's init scripts would. Configuration goes
# through qconf's file forms (-A*/-M*): the bare forms open an editor and would hang CI.
set -euo pipefail

export SGE_ROOT=/var/lib/gridengine
export SGE_CELL=default
COMMON="$SGE_ROOT/$SGE_CELL/common"
ENV_FILE="$SGE_ROOT/ci-env.sh"
# Pids of the daemons this script started, so that `down` stops those and nothing else.
STARTED="$SGE_ROOT/ci-started.pids"
QMASTER_PIDFILE=/var/spool/gridengine/qmaster/qmaster.pid
HOST="$(hostname)"
# execd names its spool directory after what it resolves itself to (here "localhost").
EXECD_PIDFILE="/var/spool/gridengine/execd/*/execd.pid"
WAIT_S="${GRIDENGINE_WAIT_S:-90}"

say() { echo "gridengine: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# wait_for SECONDS WHAT COMMAND...: run COMMAND until it succeeds, at most SECONDS.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what did not happen within ${seconds}s"
    fi
    sleep 0.5
  done
}

install_packages() {
  if [[ -x /usr/lib/gridengine/sge_qmaster && -x /usr/lib/gridengine/sge_execd ]] &&
    command -v qsub >/dev/null; then
    return
  fi
  local package
  for package in gridengine-master gridengine-common gridengine-client; do
    printf '%s shared/gridenginemaster string %s\n' "$package" "$HOST"
    printf '%s shared/gridenginecell string %s\n' "$package" "$SGE_CELL"
    printf '%s shared/gridengineconfig boolean true\n' "$package"
  done | debconf-set-selections
  say "installing gridengine-master gridengine-exec gridengine-client"
  # Another job (e.g. the Slurm setup) may hold the dpkg lock: wait for it rather than fail.
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    -o DPkg::Lock::Timeout=600 gridengine-master gridengine-exec gridengine-client >&2
}

fix_host_names() {
  # 127.0.0.1 resolves back to "localhost" while the host calls itself $HOST: without the alias
  # qmaster refuses the execd and the commands as coming from an unknown host.
  echo "$HOST" >"$COMMON/act_qmaster"
  echo "$HOST localhost" >"$COMMON/host_aliases"
}

daemon_pid() { # NAME PIDFILE_GLOB: the pid of the running daemon that wrote one of these files
  local file pid
  for file in $2; do
    pid="$(cat "$file" 2>/dev/null)" || continue
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$1" ]]; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

start_daemon() { # NAME PIDFILE_GLOB
  if pgrep -x "$1" >/dev/null; then
    return # someone else's (or an earlier up's): use it, never record it as ours
  fi
  say "starting $1"
  "/usr/lib/gridengine/$1" # daemonizes itself
  wait_for "$WAIT_S" "$1 writing its pid file $2" daemon_pid "$1" "$2"
  echo "$1 $(daemon_pid "$1" "$2")" >>"$STARTED"
}

# add_or_modify KIND NAME FILE: qconf -A<kind> for a new object, -M<kind> for an existing one.
add_or_modify() {
  local kind=$1 name=$2 file=$3
  if qconf "-s$kind" "$name" >/dev/null 2>&1; then
    qconf "-M$kind" "$file" >&2
  else
    qconf "-A$kind" "$file" >&2
  fi
}

configure() {
  local dir
  dir="$(mktemp -d)"
  # Root may submit (tests and CI run as root); accounting is flushed every second so that
  # qacct knows a job right after it ends.
  qconf -sconf global |
    sed -E -e 's/^(min_uid|min_gid)( +).*/\1\20/' \
      -e 's/flush_time=[0-9:]+/flush_time=00:00:01/' \
      -e 's/^load_report_time( +).*/load_report_time\100:00:05/' >"$dir/global"
  qconf -Mconf "$dir/global" >&2 # the file's name must be the configuration's name

  # Schedule every second (default 15 s). No load adjustment: on a small shared machine the
  # load average alone would mark the queues overloaded ("alarm") and hold every job.
  qconf -ssconf | sed -E -e 's/^schedule_interval( +).*/schedule_interval\10:0:1/' \
    -e 's/^job_load_adjustments( +).*/job_load_adjustments\1NONE/' >"$dir/sconf"
  qconf -Msconf "$dir/sconf" >&2

  qconf -ss 2>/dev/null | grep -qx "$HOST" || qconf -as "$HOST" >&2

  cat >"$dir/exechost" <<EOF
hostname              $HOST
load_scaling          NONE
complex_values        NONE
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
EOF
  add_or_modify e "$HOST" "$dir/exechost"

  printf 'group_name @allhosts\nhostlist %s\n' "$HOST" >"$dir/allhosts"
  add_or_modify hgrp @allhosts "$dir/allhosts"

  cat >"$dir/smp" <<'EOF'
pe_name            smp
slots              999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    $pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
EOF
  add_or_modify p smp "$dir/smp"

  # Queues from the built-in template; short.q has a walltime limit so that "above the queue's
  # limit" can be tested.
  write_queue "$dir" all.q INFINITY
  write_queue "$dir" short.q 0:5:0
  add_or_modify q all.q "$dir/all.q"
  add_or_modify q short.q "$dir/short.q"
  # A job that failed before the configuration was complete leaves a queue in error state E.
  qmod -c all.q short.q >/dev/null 2>&1 || true
  rm -r "$dir"
}

write_queue() { # DIR NAME H_RT
  qconf -sq | sed -E \
    -e "s/^qname( +).*/qname\\1$2/" \
    -e 's/^hostlist( +).*/hostlist\1@allhosts/' \
    -e 's/^slots( +).*/slots\18/' \
    -e 's/^load_thresholds( +).*/load_thresholds\1NONE/' \
    -e 's/^pe_list( +).*/pe_list\1smp/' \
    -e 's/^qtype( +).*/qtype\1BATCH INTERACTIVE/' \
    -e "s/^h_rt( +).*/h_rt\\1$3/" >"$1/$2"
}

queue_ready() { # QUEUE: listed for this host, with no state letters (a: alarm, u: unknown, E, d)
  local line
  line="$(qstat -f -q "$1@$HOST" 2>/dev/null | awk -v q="$1@$HOST" '$1 == q')"
  [[ -n $line ]] && [[ $(awk '{print NF}' <<<"$line") -eq 5 ]]
}

host_reports() { qhost -h "$HOST" 2>/dev/null | awk -v h="$HOST" '$1 == h && $4 != "-"' | grep -q .; }

up() {
  [[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts daemons)"
  install_packages
  fix_host_names
  start_daemon sge_qmaster "$QMASTER_PIDFILE"
  wait_for "$WAIT_S" "sge_qmaster answering qconf" qconf -sh
  configure
  start_daemon sge_execd "$EXECD_PIDFILE"
  wait_for "$WAIT_S" "qhost showing $HOST with a load" host_reports
  wait_for "$WAIT_S" "queue all.q@$HOST leaving state 'au' (is sge_execd up?)" queue_ready all.q
  wait_for "$WAIT_S" "queue short.q@$HOST leaving state 'au'" queue_ready short.q
  printf 'export SGE_ROOT=%s SGE_CELL=%s\n' "$SGE_ROOT" "$SGE_CELL" >"$ENV_FILE"
  say "ready: $(qstat -f | awk -v h="$HOST" '$1 ~ "@" h' | tr -s ' ' | paste -sd ';')"
  say "environment written to $ENV_FILE"
  cat "$ENV_FILE"
}

stop_started() { # NAME QCONF_KILL_FLAG...
  local name=$1 pid
  shift
  pid="$(awk -v n="$name" '$1 == n {print $2}' "$STARTED" | tail -n1)"
  [[ -n $pid ]] || return 0
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]; then
    say "stopping $name (pid $pid)"
    qconf "$@" >&2 || kill -TERM "$pid" || true
    local deadline=$((SECONDS + WAIT_S))
    while [[ -e /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.5; done
    if [[ -e /proc/$pid ]]; then
      say "$name (pid $pid) still running after ${WAIT_S}s; sending TERM"
      kill -TERM "$pid" || true
    fi
  fi
}

down() {
  [[ -s $STARTED ]] || {
    say "no daemons started by this script; nothing to stop"
    return 0
  }
  # execd first, with its jobs (-kej), while qmaster can still pass the order on.
  stop_started sge_execd -kej "$HOST"
  stop_started sge_qmaster -km
  rm -f "$STARTED"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
