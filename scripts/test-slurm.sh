#!/usr/bin/env bash
# End-to-end test of scripts/slurm/: brings up a throw-away single-node SLURM cluster on this
# machine, runs a 9-instance sweep (scripts/slurm/test_sweep.json: 3 learning lags x 3 seeds) as a
# 4-task job array plus the merge job (scripts/slurm/submit.sh), stops one task with the
# time-limit signal on the way (it must checkpoint, requeue itself and resume), and checks that
# the merged results equal an unsharded run of the same config: config.json, instances.csv,
# curves.csv and every weights/instance_<i>.npz byte for byte, summary.json "points" as JSON.
# Prints PASS or FAIL and exits 0 or 1 (2: cannot run here).
#
# usage: sudo scripts/test-slurm.sh
#
# Needs root (installs packages, runs munged, slurmctld and slurmd as root) and, unless PYRALNET
# names a built binary, a Rust toolchain (cargo >= 1.85) to build target/release/pyralnet.
# Works on a fresh Debian 12: installs what is missing with apt-get (packages slurmctld, slurmd,
# slurm-client, munge, jq; --no-install-recommends, and the packages' own services are not
# started). Needs neither systemd nor cgroups: everything runs from a private folder and private
# ports, so a SLURM or munge already on the machine is left alone.
#
# Environment: PYRALNET (use this binary, skip the build), SLURM_TEST_DIR (work folder, default
# /tmp/pyralnet-slurm-test; emptied at the start, left for inspection at the end),
# SLURM_TEST_PORT (slurmctld port, default 16817; slurmd uses the next one).
#
# Idempotent: a leftover cluster of an earlier, interrupted run is stopped first; the daemons
# are always stopped on exit (trap).
#
# Time, on the 2-core development machine while a long experiment shared it: 50-65 s with the
# packages installed and pyralnet built (of which ~12 s the requeued task waiting to restart,
# ~15-30 s the unsharded reference run); 75 s from a machine without the packages (apt-get
# ~10 s); a cold `cargo build --release` of pyralnet adds about 7 minutes.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${SLURM_TEST_DIR:-/tmp/pyralnet-slurm-test}
CTLD_PORT=${SLURM_TEST_PORT:-16817}
SLURMD_PORT=$((CTLD_PORT + 1))
CONFIG=$REPO/scripts/slurm/test_sweep.json
SHARDS=4
# The task stopped with the time-limit signal: the last one, so that no task of the array is
# pending then (slurm 22.05's `scancel --batch --signal` on an array task while others of the
# array are pending delivers the signal but answers "Job can not be altered now" and retries,
# signalling again every few seconds).
REQUEUE_TASK=3
T0=$SECONDS
JOBS=()

log() { echo "[test-slurm $((SECONDS - T0))s] $*"; }

dump_logs() {
    local f
    for f in "$WORK"/log/slurmctld.log "$WORK"/log/slurmd.log "$WORK"/munge/munged.log \
        "$WORK"/out/logs/*.out; do
        [[ -f $f ]] || continue
        echo "----- $f (last 40 lines)"
        tail -n 40 "$f"
    done
}

fail() {
    echo "FAIL: $*"
    dump_logs
    echo "FAIL: $* ($((SECONDS - T0)) s; work folder $WORK)"
    exit 1
}

# The pid in a pid file, if that process is still alive and has the expected name.
live_pid() {
    local file=$1 name=$2 pid
    [[ -f $file ]] || return 1
    pid=$(cat "$file" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 1
    echo "$pid"
}

stop_daemons() {
    local pids=() names=() pid name i k shutdown=0
    for name in slurmd slurmctld munged; do
        local file=$WORK/run/$name.pid
        [[ $name == munged ]] && file=$WORK/munge/munged.pid
        pid=$(live_pid "$file" "$name") && pids+=("$pid") && names+=("$name")
    done
    ((${#pids[@]} > 0)) || return 0
    if [[ " ${names[*]} " == *" slurmctld "* ]]; then
        export SLURM_CONF=$WORK/slurm.conf
        ((${#JOBS[@]} == 0)) || scancel "${JOBS[@]}" 2>/dev/null
        # Stops slurmctld and slurmd after they have saved their state.
        timeout 20 scontrol shutdown >/dev/null 2>&1 && shutdown=1
    fi
    # The pid files go before the processes do: wait for the processes.
    for k in "${!pids[@]}"; do
        pid=${pids[k]} name=${names[k]}
        for i in $(seq 100); do
            [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || break
            # munged at once, slurmctld and slurmd when `scontrol shutdown` failed or is slow.
            if { ((i == 1)) && [[ $name == munged || $shutdown == 0 ]]; } || ((i == 50)); then
                kill -TERM "$pid" 2>/dev/null
            fi
            ((i == 90)) && kill -KILL "$pid" 2>/dev/null
            sleep 0.2
        done
    done
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_daemons
    exit "$rc"
}

if ((EUID != 0)); then
    echo "FAIL: scripts/test-slurm.sh needs root (it installs packages and runs munged, slurmctld and slurmd as root); run it with sudo"
    exit 2
fi

# One test at a time (fd 9 holds the lock; the daemons are started without it).
exec 9>"$WORK.lock"
flock -n 9 || { echo "FAIL: another test-slurm.sh is running (lock $WORK.lock)"; exit 2; }

# Leftovers of an interrupted earlier run.
stop_daemons
trap cleanup EXIT
trap 'exit 1' INT TERM
rm -rf "$WORK"
mkdir -p "$WORK"/{run,log,state,spool,munge,out}
# munged wants its socket folder reachable by all (execute bit); 0711 keeps it unlistable.
chmod 711 "$WORK" "$WORK/munge"

# --- packages -------------------------------------------------------------------------------
if ! command -v munged >/dev/null || ! command -v slurmctld >/dev/null \
    || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v jq >/dev/null; then
    log "installing slurmctld slurmd slurm-client munge jq"
    # Keep the packages' services from starting (no systemd in containers, and we run our own).
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge jq >"$WORK/log/apt.log" 2>&1
    apt_rc=$?
    ((own_policy)) && rm -f "$policy"
    ((apt_rc == 0)) || { tail -n 20 "$WORK/log/apt.log"; fail "apt-get install failed"; }
fi
log "$(slurmctld -V), $(munged -V 2>&1 | head -n 1)"

# --- pyralnet -------------------------------------------------------------------------------
if [[ -n ${PYRALNET:-} ]]; then
    [[ -x $PYRALNET ]] || fail "PYRALNET=$PYRALNET is not an executable"
    PYRALNET=$(realpath "$PYRALNET")
else
    command -v cargo >/dev/null \
        || fail "cargo not found: install Rust >= 1.85 (rustup) or set PYRALNET to a built pyralnet"
    log "building pyralnet (cargo build --release --locked)"
    (cd "$REPO" && cargo build --release --locked --quiet) || fail "cargo build failed"
    PYRALNET=$REPO/target/release/pyralnet
fi
export PYRALNET

# --- munge ----------------------------------------------------------------------------------
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$WORK/munge/munge.key"
MUNGE_SOCKET=$WORK/munge/munge.socket
munged --force --socket="$MUNGE_SOCKET" --key-file="$WORK/munge/munge.key" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" \
    --seed-file="$WORK/munge/munged.seed" 9>&- || fail "munged did not start"
munge -n --socket="$MUNGE_SOCKET" | unmunge --socket="$MUNGE_SOCKET" >/dev/null \
    || fail "munge round trip failed"

# --- slurm.conf -----------------------------------------------------------------------------
HOST=$(uname -n)
HOST=${HOST%%.*}
CPUS=$(nproc)
# The hardware as slurmd sees it (sockets, cores, threads), so it does not complain; CPUs alone
# also works (SlurmdParameters=config_overrides).
TOPOLOGY=$(slurmd -C 2>/dev/null | head -n 1 | grep -o 'CPUs=[0-9]* Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*')
[[ -n $TOPOLOGY ]] || TOPOLOGY="CPUs=$CPUS"
MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
cat >"$WORK/slurm.conf" <<EOF
# Single-node test cluster of scripts/test-slurm.sh (no systemd, no cgroups, no accounting).
ClusterName=pyraltest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job may start again only cred_expire + 1 s later (default 120).
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=10
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/log/jobcomp.txt
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
KillWait=30
InactiveLimit=0
NodeName=$HOST NodeAddr=127.0.0.1 $TOPOLOGY RealMemory=$MEM_MB State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$WORK/slurm.conf

# --- daemons --------------------------------------------------------------------------------
log "starting slurmctld and slurmd ($HOST, $CPUS CPUs, ${MEM_MB} MB, ports $CTLD_PORT/$SLURMD_PORT)"
slurmctld -f "$SLURM_CONF" 9>&- || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" 9>&- || fail "slurmd did not start"
state=
for _ in $(seq 120); do
    state=$(sinfo -h -N -n "$HOST" -o %T 2>/dev/null)
    [[ $state == idle ]] && break
    sleep 0.5
done
[[ $state == idle ]] || fail "node $HOST is '${state:-not reported}', not idle, after 60 s"
log "node $HOST is idle"

# --- the array and the merge ----------------------------------------------------------------
OUT=$WORK/out
submitted=$("$REPO/scripts/slurm/submit.sh" "$CONFIG" "$OUT" "$SHARDS" \
    --cpus-per-task=1 --mem=256M --time=00:20:00) || fail "submit.sh failed"
echo "$submitted"
ARRAY=$(awk '$1 == "array" {sub(":", "", $3); print $3}' <<<"$submitted")
MERGE=$(awk '$1 == "merge" {sub(":", "", $3); print $3}' <<<"$submitted")
[[ $ARRAY =~ ^[0-9]+$ && $MERGE =~ ^[0-9]+$ ]] || fail "no job ids in submit.sh's output"
JOBS=("$ARRAY" "$MERGE")

# Stop one task the way the time limit does (USR1 to the batch script, --signal=B:USR1@120):
# pyralnet must checkpoint and the task requeue itself and resume.
task=${ARRAY}_$REQUEUE_TASK
ckpt=$OUT/shard_$REQUEUE_TASK/checkpoint
for _ in $(seq 600); do
    [[ -e $ckpt ]] && break
    sleep 0.1
done
[[ -e $ckpt ]] || fail "task $task wrote no checkpoint within 60 s"
log "sending the time-limit signal (USR1) to task $task"
timeout 20 scancel --batch --signal=USR1 "$task" || fail "scancel --batch --signal=USR1 $task failed"

log "waiting for jobs $ARRAY (array) and $MERGE (merge)"
for _ in $(seq 600); do
    [[ -z $(squeue -h -j "$ARRAY,$MERGE" -o %i 2>/dev/null) ]] && break
    sleep 1
done
[[ -z $(squeue -h -j "$ARRAY,$MERGE" -o %i) ]] || fail "jobs still queued after 10 minutes"
scontrol -o show job "$ARRAY" >"$WORK/log/array.jobs"
scontrol -o show job "$MERGE" >"$WORK/log/merge.jobs"
awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(JobId|ArrayTaskId|JobState|Restarts|ExitCode)=/) printf "%s ", $i; print "" }' \
    "$WORK/log/array.jobs" "$WORK/log/merge.jobs" >"$WORK/log/states"
cat "$WORK/log/states"
n_done=$(grep -c 'JobState=COMPLETED' "$WORK/log/array.jobs")
((n_done == SHARDS)) || fail "$n_done of $SHARDS array tasks COMPLETED"
grep -q 'JobState=COMPLETED' "$WORK/log/merge.jobs" || fail "the merge job did not complete"
grep "ArrayTaskId=$REQUEUE_TASK " "$WORK/log/array.jobs" | grep -q 'Restarts=[1-9]' \
    || fail "task $task was not requeued after the time-limit signal (if it had finished before the signal arrived, make scripts/slurm/test_sweep.json longer)"
grep -q 'requeueing' "$OUT/logs/shard_$REQUEUE_TASK.out" \
    || fail "task $task did not requeue itself (see its log)"
stopped=$(grep -o 'interrupted after [0-9]* training patterns' "$OUT/logs/shard_$REQUEUE_TASK.out")
[[ -n $stopped ]] || fail "pyralnet in task $task did not checkpoint on the signal"
log "task $task: $stopped, requeued, resumed, completed"
[[ -f $OUT/merged/summary.json ]] || fail "no merged summary.json"

# --- the same config unsharded, and the comparison -------------------------------------------
log "running the config unsharded"
env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_COUNT -u SLURM_ARRAY_TASK_MIN \
    "$PYRALNET" run "$CONFIG" --out "$WORK/unsharded" --quiet 2>"$WORK/log/unsharded.log" \
    || { cat "$WORK/log/unsharded.log"; fail "the unsharded run failed"; }

for f in config.json instances.csv curves.csv; do
    cmp "$WORK/unsharded/$f" "$OUT/merged/$f" || fail "merged $f differs from the unsharded run's"
done
n_inst=$(($(wc -l <"$WORK/unsharded/instances.csv") - 1))
n_w=0
for w in "$WORK"/unsharded/weights/*.npz; do
    cmp "$w" "$OUT/merged/weights/${w##*/}" || fail "merged weights/${w##*/} differs"
    n_w=$((n_w + 1))
done
((n_w == n_inst)) || fail "$n_w weight files for $n_inst instances"
[[ $(find "$OUT/merged/weights" -name '*.npz' | wc -l) == "$n_w" ]] || fail "the merge holds extra weight files"
diff <(jq -S .points "$WORK/unsharded/summary.json") <(jq -S .points "$OUT/merged/summary.json") \
    || fail "summary.json points differ"
[[ $(jq .shards "$OUT/merged/summary.json") == "$SHARDS" ]] || fail "merged summary.json: shards != $SHARDS"

log "merged = unsharded: config.json, instances.csv, curves.csv, $n_w weight files, summary points"
echo "PASS ($((SECONDS - T0)) s)"
exit 0
