#!/usr/bin/env bash
# Submit one Snakemake job script to PBS Pro / OpenPBS and print the job id (the cluster-generic submit command).
#
#   submit.sh --name NAME --threads T --gpus G --cpus-per-gpu C --mem-mb M --mem-mb-per-cpu P --runtime MINUTES \
#             --log FILE JOBSCRIPT
#
# One chunk on one node: CPUs = G x C when both are > 0, else T; memory = CPUs x P when P > 0, else M.
# A multi-GPU job is a single process tree (the rule's torchrun starts one process per GPU), so no MPI layout.
#
# Adapting to another scheduler: keep the arguments, replace the qsub call at the bottom, e.g.
#   Torque:  qsub -N "$name" -l "nodes=1:ppn=$cpus${gpus:+:gpus=$gpus}" -l "mem=${mem}mb" -l "walltime=$walltime" ...
#   SGE:     qsub -terse -cwd -V -N "$name" -pe smp "$cpus" -l "h_rt=$walltime,h_vmem=$((mem / cpus))M" \
#              -j y -o "$log" "$jobscript"   (+ -l gpu=$gpus when gpus > 0; that complex is site-specific)
#   LSF:     bsub -J "$name" -n "$cpus" -R "span[hosts=1] rusage[mem=$mem]" -gpu "num=$gpus" -W "$runtime" \
#              -o "$log" < "$jobscript"                        (print the id from "Job <id> is submitted")
# and status.sh's query to match (qstat -j / qacct for SGE, bjobs for LSF).
set -euo pipefail

# EDIT (or export): the queue and the project/account to charge; empty = the server's defaults.
queue=${BYOL_PBS_QUEUE:-}
account=${BYOL_PBS_ACCOUNT:-}

name=snakemake threads=1 gpus=0 cpus_per_gpu=0 mem_mb=4000 mem_mb_per_cpu=0 runtime=60 log=
while [[ $# -gt 1 ]]; do
    case $1 in
        --name) name=$2 ;;
        --threads) threads=$2 ;;
        --gpus) gpus=$2 ;;
        --cpus-per-gpu) cpus_per_gpu=$2 ;;
        --mem-mb) mem_mb=$2 ;;
        --mem-mb-per-cpu) mem_mb_per_cpu=$2 ;;
        --runtime) runtime=$2 ;;
        --log) log=$2 ;;
        *) echo "submit.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
[[ $# -eq 1 ]] || { echo "submit.sh: expected the job script as the last argument" >&2; exit 2; }
jobscript=$1

cpus=$threads
if (( gpus > 0 && cpus_per_gpu > 0 )); then cpus=$(( gpus * cpus_per_gpu )); fi
mem=$mem_mb
if (( mem_mb_per_cpu > 0 )); then mem=$(( cpus * mem_mb_per_cpu )); fi
walltime=$(printf '%d:%02d:00' $(( runtime / 60 )) $(( runtime % 60 )))

select="select=1:ncpus=$cpus:mem=${mem}mb"
if (( gpus > 0 )); then select+=":ngpus=$gpus"; fi

args=(-N "$name" -l "$select" -l "walltime=$walltime" -V -j oe)
if [[ -n $log ]]; then
    [[ $log == /* ]] || log=$PWD/$log   # PBS would read a relative path on the execution host
    mkdir -p "$(dirname "$log")"
    args+=(-o "$log")
fi
if [[ -n $queue ]]; then args+=(-q "$queue"); fi
if [[ -n $account ]]; then args+=(-A "$account"); fi

exec qsub "${args[@]}" "$jobscript"
