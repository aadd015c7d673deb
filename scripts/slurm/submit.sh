#!/usr/bin/env bash
# Submits a pyralnet sweep to SLURM: a job array of N shards (scripts/slurm/array.sbatch) and a
# merge job (scripts/slurm/merge.sbatch) that runs once all of them have succeeded.
#
# usage: scripts/slurm/submit.sh CONFIG OUT N [extra sbatch args...]
#   CONFIG  experiment config (JSON)
#   OUT     output folder on a file system the compute nodes share; shard i writes OUT/shard_<i>,
#           the merge OUT/merged, the logs OUT/logs/
#   N       number of shards (array tasks 0..N-1); a config's instances are split evenly
#   extra sbatch args go to both jobs, e.g. --partition=cpu --time=04:00:00 --cpus-per-task=8
#
# Environment: PYRALNET (binary; default `pyralnet` on PATH, else target/release/pyralnet of
# this checkout), MAX_PARALLEL (at most this many tasks at once: --array=0-(N-1)%M),
# PYRALNET_ARGS (extra words for `pyralnet run`).
#
# Prints both job ids. Submitting again with the same CONFIG, OUT and N continues: finished
# shards are skipped and interrupted ones resume from their checkpoints.
set -euo pipefail

die() { echo "submit.sh: $*" >&2; exit 2; }
(( $# >= 3 )) || die "usage: submit.sh CONFIG OUT N [extra sbatch args...]"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
config=$1 out=$2 n=$3
shift 3
[[ -f $config ]] || die "config $config not found"
[[ $n =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$n'"
command -v sbatch >/dev/null || die "sbatch not found (is this a SLURM login node?)"
config=$(realpath "$config")
out=$(realpath -m "$out")

if [[ -z ${PYRALNET:-} ]]; then
    PYRALNET=$(command -v pyralnet || echo "$here/../../target/release/pyralnet")
fi
[[ -x $PYRALNET ]] || die "pyralnet binary $PYRALNET not found; build it (cargo build --release) or set PYRALNET"
PYRALNET=$(realpath "$PYRALNET")
"$PYRALNET" run "$config" --help >/dev/null 2>&1 || die "$PYRALNET does not run"

# Shard folders of another N would make the merge refuse; say so now rather than after the run.
shopt -s nullglob
for d in "$out"/shard_*; do
    i=${d##*/shard_}
    if [[ ! $i =~ ^[0-9]+$ ]] || (( i >= n )); then
        die "$d is not one of the $n shards; remove it or choose another OUT"
    fi
done
[[ ! -e $out/merged/summary.json ]] || die "$out/merged already holds merged results"
# Two arrays on the same OUT would run the same shard twice at once. Our jobs carry OUT in
# their comment.
tag="pyralnet:$out"
active=$(squeue -h -u "$(id -un)" -o '%i|%k' 2>/dev/null | awk -F'|' -v t="$tag" '$2 == t {print $1}' | tr '\n' ' ')
[[ -z $active ]] || die "jobs ${active% } of an earlier submission for $out are still queued or running; wait for them or scancel them"

mkdir -p "$out/logs"
array_spec="0-$((n - 1))"
[[ -z ${MAX_PARALLEL:-} ]] || array_spec+="%${MAX_PARALLEL}"

export CONFIG="$config" OUT="$out" PYRALNET SHARDS="$n" PYRALNET_ARGS="${PYRALNET_ARGS:-}"
array=$(sbatch --parsable --export=ALL --comment="$tag" --array="$array_spec" \
    --output="$out/logs/shard_%a.out" "$@" "$here/array.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --export=ALL --comment="$tag" --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    --output="$out/logs/merge_%j.out" "$@" "$here/merge.sbatch")
merge=${merge%%;*}
echo "array job $array: $n tasks writing $out/shard_<i> (logs in $out/logs)"
echo "merge job $merge: runs after all of $array succeed, writes $out/merged"
