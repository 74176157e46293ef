#!/usr/bin/env bash
# cluster-generic status command for PBS Pro / OpenPBS: print running, success or failed for one job id.
# `qstat -x` also lists finished jobs (kept for the server's job_history_duration, two weeks by default).
set -uo pipefail

jobid=$1
if ! info=$(qstat -x -f "$jobid" 2>&1); then
    case $info in
        *"Unknown Job Id"*) echo failed ;;   # gone from the server's history: treat as lost
        *) echo running ;;                   # the server did not answer: ask again at the next check
    esac
    exit 0
fi

state=$(sed -n 's/^ *job_state = //p' <<< "$info")
if [[ $state != F ]]; then   # Q, H, W, R, E (exiting), B, S, ...
    echo running
    exit 0
fi
code=$(sed -n 's/^ *Exit_status = //p' <<< "$info")
if [[ $code == 0 ]]; then echo success; else echo failed; fi
