# Snakemake locks the files a run will read and write (.snakemake/locks/) and releases them when it exits, unless
# it is killed (SIGKILL, the OOM killer, a closed terminal's hang-up after a crash): then every later `snakemake
# --cores all` refuses to start ("Directory cannot be locked") until someone runs `snakemake --unlock`. So each run
# records its process (host, pid and start time) beside the locks when its jobs start, and forgets it when it
# ends; when every recorded owner of the locks left behind is a process of this machine that no longer exists,
# the next run releases them before Snakemake checks them, and the default profile's rerun-incomplete reruns the
# jobs the killed run left unfinished. Locks of a live run, of another machine (shared file systems) or with no
# record (a run of another Snakefile, or with --no-hooks) are left alone. Linux only (/proc); elsewhere nothing
# changes.
import json
import os
import socket
from pathlib import Path

from snakemake.logging import logger

LOCK_DIR = Path(".snakemake/locks")
LOCK_OWNERS = Path(
    ".snakemake/lock_owners"
)  # one <host>_<pid>.json per running snakemake of this workflow


def _process_start(pid):
    """A process's start time (clock ticks after boot: /proc/<pid>/stat field 22), or None when it is gone."""
    try:
        # (a system file, not a path of the workflow)
        stat = Path(os.sep, "proc", str(pid), "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _owner_file():
    return LOCK_OWNERS / f"{socket.gethostname()}_{os.getpid()}.json"


def _is_gone(owner):
    """True only for a process of this machine that has exited (a reused pid has another start time)."""
    return owner.get("host") == socket.gethostname() and _process_start(
        owner.get("pid")
    ) != owner.get("start")


def record_lock_owner():
    """onstart (the locks are held): this snakemake process owns them."""
    if _process_start(os.getpid()) is None:
        return
    LOCK_OWNERS.mkdir(parents=True, exist_ok=True)
    owner = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "start": _process_start(os.getpid()),
    }
    _owner_file().write_text(json.dumps(owner))


def forget_lock_owner():
    """onsuccess / onerror: Snakemake releases the locks next."""
    _owner_file().unlink(missing_ok=True)


def release_stale_locks():
    """Remove the locks left by killed runs of this workflow (see the top of this file); returns their pids."""
    if (
        not workflow.is_main_process
        or _process_start(os.getpid()) is None
        or not LOCK_OWNERS.is_dir()
    ):
        return []
    owners = {}
    for path in LOCK_OWNERS.glob("*.json"):
        try:
            owners[path] = json.loads(path.read_text())
        except (OSError, ValueError):
            owners[path] = (
                {}
            )  # half written: its process is still starting, or was killed writing it
    gone = {path: owner for path, owner in owners.items() if owner and _is_gone(owner)}
    locks = sorted(LOCK_DIR.glob("*.lock")) if LOCK_DIR.is_dir() else []
    released = []
    if locks and gone and len(gone) == len(owners):
        for lock in locks:
            lock.unlink(missing_ok=True)
        released = sorted(owner["pid"] for owner in gone.values())
        logger.warning(
            f"Released the locks of snakemake process(es) {', '.join(map(str, released))}, which no longer run "
            "(killed); their unfinished jobs are rerun (rerun-incomplete)."
        )
    if not locks or released:
        for path in gone:
            path.unlink(missing_ok=True)
    return released


release_stale_locks()


onstart:
    record_lock_owner()


onsuccess:
    forget_lock_owner()


onerror:
    forget_lock_owner()
