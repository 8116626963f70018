#!/usr/bin/env bash
# Record real volclava outputs: one stdout/stderr pair per command, the command line and exit
# code in README.md. Run as root with volclava up (.ci/volclava.sh up).
set -uo pipefail
OUT=${1:-/work/setup/volclava-recorded}
source /opt/volclava/ci-env.sh
export PATH=$PANGEO_HPC_VOLCLAVA_BIN:$PATH
J=$(mktemp -d /tmp/volclava-recorded-jobs.XXXXXX)
mkdir -p "$OUT"
cd "$OUT"
README=$OUT/README.md
{
  echo "# Outputs recorded from volclava 2.2.0-beta (b361f56) on host \`$(hostname)\`"
  echo
  echo "Recorded $(date -u '+%Y-%m-%d %H:%M UTC') as root by record.sh (in this folder), with .ci/volclava.sh's"
  echo "configuration (one host, MXJ 8, MBD/SBD_SLEEP_TIME 2, queues normal and short (RUNLIMIT 5))."
  echo "Each command's stdout is NAME.stdout, its stderr NAME.stderr (byte-exact), its exit code below."
  echo "Times are local time = UTC here (TZ unset)."
  echo
  echo "| name | exit | command |"
  echo "|---|---|---|"
} >"$README"

# rec NAME COMMAND-STRING: run it with bash -c, keep stdout, stderr, exit code.
rec() {
  local name=$1 cmd=$2 rc
  bash -c "$cmd" >"$name.stdout" 2>"$name.stderr"
  rc=$?
  printf '| %s | %s | `%s` |\n' "$name" "$rc" "${cmd//|/\\|}" >>"$README"
  echo "== $name (rc $rc): $cmd"; cat "$name.stdout" "$name.stderr" | head -n 15
}
jobid() { grep -o 'Job <[0-9]*>' "$1.stdout" | tr -dc 0-9; }
wait_stat() { # ID STAT
  for _ in $(seq 1 150); do
    bjobs -a -w "$1" 2>/dev/null | awk -v s="$2" 'NR > 1 && $3 == s' | grep -q . && return 0
    sleep 0.2
  done
  echo "job $1 did not reach $2" >&2; return 1
}

rec lsid "lsid"
rec lsid_V "lsid -V"
rec bqueues "bqueues"
rec bqueues_w "bqueues -w"
rec bqueues_l_normal "bqueues -l normal"
rec bqueues_l_short "bqueues -l short"
rec bqueues_unknown "bqueues nosuchqueue"
rec bhosts "bhosts"
rec bhosts_w "bhosts -w"
rec bhosts_l "bhosts -l"
rec lshosts "lshosts"
rec lsload "lsload"
rec bjobs_nojobs "bjobs"
rec bjobs_a_nojobs "bjobs -a"
rec bsub_V "bsub -V"


rec bsub_done "bsub -J done-job -o $J/done.%J.out true"
rec bsub_exit "bsub -J exit-job -o $J/exit.%J.out 'exit 3'"
rec bsub_killed "bsub -J killed-job -o $J/killed.%J.out sleep 600"
DONE=$(jobid bsub_done); EXITJ=$(jobid bsub_exit); KILLED=$(jobid bsub_killed)
wait_stat "$DONE" DONE; wait_stat "$EXITJ" EXIT; wait_stat "$KILLED" RUN
rec bkill_running "bkill $KILLED"
wait_stat "$KILLED" EXIT
rec bkill_finished "bkill $DONE"
rec bkill_unknown "bkill 99999"
rec bkill_killed_again "bkill $KILLED"

rec bsub_run "bsub -J running-job -o $J/run.%J.out sleep 600"
rec bsub_longname "bsub -J dask-worker-a-very-long-job-name-that-exceeds-the-column-0123456789 -o $J/long.%J.out sleep 600"
rec bsub_stdin "printf '#!/usr/bin/env bash\n#BSUB -J stdin-job\n#BSUB -o $J/stdin.%%J.out\n#BSUB -q normal\n#BSUB -n 1\n#BSUB -R \"span[hosts=1]\"\n#BSUB -M 1000000\n#BSUB -W 00:30\nsleep 600\n' | bsub"
RUN=$(jobid bsub_run); LONG=$(jobid bsub_longname); STDIN=$(jobid bsub_stdin)
wait_stat "$RUN" RUN; wait_stat "$LONG" RUN; wait_stat "$STDIN" RUN
# Fill the remaining slots (8 per host) so that the next job pends.
rec bsub_filler "bsub -n 5 -J filler-job -o $J/filler.%J.out sleep 600"
FILL=$(jobid bsub_filler); wait_stat "$FILL" RUN
rec bsub_pending "bsub -J pending-job -o $J/pend.%J.out sleep 600"
PEND=$(jobid bsub_pending)
sleep 5 # two scheduling rounds, so that the pending reason is set
rec bsub_badqueue "bsub -q nosuchqueue -o $J/x.out sleep 1"
rec bsub_above_runlimit "bsub -q short -W 10 -o $J/x.out sleep 1"
rec bsub_W_hhmm "bsub -q short -W 00:03 -J short-ok -o $J/short.%J.out sleep 1"
rec bsub_default_queue_named "bsub -q normal -o $J/y.%J.out true"

rec bjobs "bjobs"
rec bjobs_w "bjobs -w"
rec bjobs_a_w "bjobs -a -w"
rec bjobs_noheader "bjobs -noheader"
rec bjobs_w_noheader "bjobs -w -noheader"
rec bjobs_a_w_ids "bjobs -a -w $RUN $PEND $DONE $EXITJ $KILLED"
rec bjobs_a_w_ids_one_unknown "bjobs -a -w $RUN 99999"
rec bjobs_unknown "bjobs 99999"
rec bjobs_p "bjobs -p"
rec bjobs_p_w "bjobs -p -w"
rec bjobs_l_run "bjobs -l $RUN"
rec bjobs_l_stdin "bjobs -l $STDIN"
rec bjobs_l_pend "bjobs -l $PEND"
rec bjobs_l_done "bjobs -l $DONE"
rec bjobs_l_exit "bjobs -l $EXITJ"
rec bjobs_l_killed "bjobs -l $KILLED"
rec bjobs_l_long "bjobs -l $LONG"
rec bjobs_o_json "bjobs -o \"jobid stat queue exec_host submit_time start_time job_name\" -json"
rec bjobs_a_o_json "bjobs -a -o \"jobid stat queue exec_host submit_time start_time job_name\" -json"
rec bjobs_o_delim "bjobs -o \"jobid stat queue exec_host submit_time start_time job_name delimiter='^'\""
rec bjobs_a_o_delim "bjobs -a -o \"jobid stat queue exec_host submit_time start_time finish_time job_name delimiter='^'\""
rec bjobs_o_delim_noheader "bjobs -a -noheader -o \"jobid stat queue exec_host submit_time start_time job_name delimiter='^'\""
rec bjobs_o_plain "bjobs -a -o \"jobid stat queue exec_host submit_time start_time finish_time job_name\""
rec bjobs_o_all15_json "bjobs -a -o \"jobid user stat queue from_host exec_host job_name submit_time proj_name cpu_used mem swap pids start_time finish_time\" -json"
rec bjobs_o_widths "bjobs -a -o \"jobid:8 stat:5 job_name:10 exec_host\""
rec bjobs_o_ids_json "bjobs -a -o \"jobid stat exec_host\" -json $RUN $DONE 99999"
rec bjobs_o_run_time "bjobs -o \"jobid stat run_time\" -json"
rec bjobs_o_run_time_nojson "bjobs -o \"jobid stat run_time\""
for f in run_time runtimelimit exit_code exit_reason pend_reason time_left nexec_host slots rusage_mem max_mem memlimit description command first_host; do
  rec "bjobs_o_field_$f" "bjobs -a -o \"jobid $f\" -json $RUN"
done
rec bjobs_json_no_o "bjobs -json"
rec bjobs_UF "bjobs -UF $RUN"
rec bjobs_X "bjobs -X -w $RUN"
rec bjobs_r "bjobs -r -w"
rec bjobs_d "bjobs -d -w"
rec bjobs_pend_reason_p_l "bjobs -p -l $PEND"


rec bkill_pending "bkill $PEND"
rec bkill_several "bkill $RUN $LONG $STDIN $FILL"
sleep 3
rec bjobs_after_kill_all "bjobs"
for _ in $(seq 1 100); do bjobs >/dev/null 2>&1 || break; sleep 0.3; done
# Interactive, with free slots: volclava's res runs the task.
rec bsub_I "timeout 60 bsub -I hostname"
rec bsub_Is_script "timeout 60 script -qec 'bsub -Is hostname' /dev/null"
rec bsub_Is_notty "timeout 60 bsub -Is hostname </dev/null"
# Memory limits: -M is in LSF_UNIT_FOR_LIMITS, whose default here is MB (IBM LSF: KB).
rec bsub_M_1024 "bsub -M 1024 -J mem-1024 -o $J/m.%J.out sleep 1"
rec bjobs_l_M_1024 "bjobs -l \$(grep -o '[0-9]*' bsub_M_1024.stdout | head -n1)"
rec bsub_M_4000000 "bsub -M 4000000 -J mem-4000000 -o $J/m.%J.out sleep 1"
rec bsub_M_1000000000 "bsub -M 1000000000 -J mem-huge -o $J/m.%J.out sleep 1"
rec bjobs_a_final "bjobs -a -w"
rec lsf_conf "cat \$LSF_ENVDIR/lsf.conf"
rec lsf_unit_for_limits "grep -c LSF_UNIT_FOR_LIMITS \$LSF_ENVDIR/lsf.conf /etc/lsf.conf"
for _ in $(seq 1 100); do bjobs >/dev/null 2>&1 || break; sleep 0.3; done
rec bjobs_o_json_nojobs "bjobs -o \"jobid stat\" -json"
rec bjobs_o_nojobs "bjobs -o \"jobid stat\""
rec bjobs_w_nojobs "bjobs -w"
rec bjobs_a_o_json_unknown_only "bjobs -a -o \"jobid stat\" -json 99999"
rec bjobs_u_all "bjobs -a -w -u all"
rec bjobs_a_o_json_final "bjobs -a -o \"jobid stat queue exec_host submit_time start_time finish_time job_name\" -json"
