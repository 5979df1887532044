"""One job at a time per run or sweep directory: a lease file with its owner and a heartbeat.

Ray Train continues whatever run it finds at its storage path and name, and Ray Tune whatever
sweep; two jobs given the same name (a second ``--resume`` while the first still runs, a job
submitted twice) would both write one directory and interleave their checkpoints. So the job's
driver holds a lease, ``_lease.json`` in the directory, from before anything expensive starts
until it ends: who holds it (host, pid, a random token, the command and the Ray job id) and when
it last said it was alive. A daemon thread refreshes that heartbeat every ``HEARTBEAT_S``.

Object storage has no file locks and pyarrow no create-if-absent, so the lease is a plain file
written whole (``write_atomic``, local disk and ``s3://`` alike) and read back after a pause:
the job whose token is there after both wrote is the owner. A job that dies without releasing
(SIGKILL, a lost head node) leaves a stale lease, which the next job takes over, saying whose it
was: at once when the owner's pid is gone on this host, else once its heartbeat is older than
``STALE_AFTER_S`` (hosts' clocks are assumed to agree to within seconds).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import pyarrow.fs as pafs

from lstmgan_ray.errors import ConfigError, RunInUse
from lstmgan_ray.storage.files import path_type, read_bytes, write_atomic
from lstmgan_ray.storage.paths import filesystem_for, is_uri, join

LEASE_FILE = "_lease.json"
HEARTBEAT_S = 5.0  # how often the holder refreshes its heartbeat
STALE_AFTER_S = 60.0  # a heartbeat this old means the holder is gone (a dozen missed refreshes)
SETTLE_S = 0.5  # wait between writing a new lease and reading it back: a racing writer shows by then

_HELD: set[str] = set()  # tokens of the leases this process holds: our own pid is alive only for them


def is_lease_entry(name: str) -> bool:
    """Whether a directory entry is the lease (or its temporary file while it is rewritten): not a
    result, so a directory holding only the lease holds no run."""
    return name == LEASE_FILE or name.startswith(f".{LEASE_FILE}.tmp-")


@dataclass
class Owner:
    """Who holds a lease and when it last refreshed it (Unix times)."""

    host: str
    pid: int
    token: str
    command: str
    job: str | None
    started: float
    heartbeat: float

    @classmethod
    def this_process(cls) -> Owner:
        now = time.time()
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex, command_line(), ray_job_id(), now, now)

    def describe(self, now: float | None = None) -> str:
        """Who, for a message: ``lstmgan-train --resume ... (Ray job raysubmit_1; pid 4242 on head-1,
        since ..., last heartbeat 3 s ago)``."""
        age = (now or time.time()) - self.heartbeat
        job = f"Ray job {self.job}; " if self.job else ""
        return (f"{self.command} ({job}pid {self.pid} on {self.host}, since {utc(self.started)}, "
                f"last heartbeat {age:.0f} s ago)")


def command_line() -> str:
    """This process's command as a user typed it: ``lstmgan-train --resume ...``, ``train.py ...``,
    ``pytest ...`` (for ``python -m pytest``)."""
    program = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    name = os.path.basename(program)
    if name == "__main__.py":
        name = os.path.basename(os.path.dirname(program))
    return " ".join([name, *sys.argv[1:]])[:300]


def utc(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


# Set by `ray job submit` on the job's entrypoint: the job's config (runtime env, metadata) as JSON.
JOB_CONFIG_VAR = "RAY_JOB_CONFIG_JSON_ENV_VAR"


def submitted_job_config() -> dict:
    """The config of the Ray job this process is the entrypoint of (``ray job submit``); {} if none:
    Ray's job supervisor hands the entrypoint its job config in the environment."""
    try:
        config = json.loads(os.environ.get(JOB_CONFIG_VAR) or "{}")
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def ray_job_id() -> str | None:
    """The submission id of the Ray job this process is the entrypoint of, if any."""
    metadata = submitted_job_config().get("metadata")
    return metadata.get("job_submission_id") if isinstance(metadata, dict) else None


def read_owner(path: str) -> Owner | None:
    """The lease at ``path``; None when there is none. One that cannot be parsed (edited by hand)
    reads as an owner unknown and long silent, so it counts as stale."""
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        return None
    try:
        fields = json.loads(data)
        return Owner(**{name: fields[name] for name in Owner.__dataclass_fields__})
    except (KeyError, TypeError, ValueError):
        return Owner("?", 0, "?", f"an unreadable lease ({data[:40]!r})", None, 0.0, 0.0)


def process_alive(pid: int, token: str) -> bool:
    """Whether ``pid`` runs on this host: our own pid only for a lease this process holds (an
    earlier process had our pid), a zombie (exited, not yet reaped) not at all."""
    if pid == os.getpid():
        return token in _HELD
    if pid <= 0 or os.name != "posix":
        return pid > 0  # os.kill(pid, 0) would signal a group (pid <= 0) or kill on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stale_reason(owner: Owner, timeout: float, now: float) -> str | None:
    """Why a lease no longer protects anyone, or None while its owner is alive."""
    if now - owner.heartbeat > timeout:
        return f"no heartbeat for over {timeout:g} s"
    if owner.host == socket.gethostname() and not process_alive(owner.pid, owner.token):
        return f"process {owner.pid} is no longer running on {owner.host}"
    return None


def refusal(directory: str, owner: Owner, timeout: float) -> RunInUse:
    return RunInUse(f"{directory} is in use by another job: {owner.describe()}. Wait for it to end or stop it; "
                    f"its lease ({join(directory, LEASE_FILE)}) is taken over once that process has ended "
                    f"(on the same host) or its heartbeat is more than {timeout:g} s old")


class Lease:
    """A lease this process holds, refreshed by a daemon thread until ``release``."""

    def __init__(self, directory: str, owner: Owner, interval: float, created: str | None):
        self.directory = directory
        self.path = join(directory, LEASE_FILE)
        self.owner = owner
        self.interval = interval
        # The outermost local folder that did not exist before the lease made it (the run directory,
        # or the storage path above it too): whatever of it is left empty is removed again.
        self.created = created
        self.guard = threading.Lock()  # held by each refresh, and while the directory is moved
        self.lost_to: Owner | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease {directory}", daemon=True)

    def write(self) -> None:
        self.owner.heartbeat = time.time()
        write_atomic(self.path, json.dumps(asdict(self.owner), indent=1))

    def _beat(self) -> None:
        """Refresh until stopped; a failed refresh (object storage briefly unreachable) is retried next time."""
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except OSError as err:
                print(f"warning: could not refresh the lease {self.path}: {err}", file=sys.stderr, flush=True)

    def refresh(self) -> bool:
        """Renew the heartbeat (rewriting a lease someone deleted); False, with one warning, when
        another job has taken the lease over: this one has then been silent too long."""
        with self.guard:
            if self.lost_to is not None:
                return False
            current = read_owner(self.path)
            if current is not None and current.token != self.owner.token:
                print(f"warning: the lease on {self.directory} was taken over by {current.describe()}; "
                      f"two jobs may now write it", file=sys.stderr, flush=True)
                self.lost_to = current
                return False
            self.write()
            return True

    def start(self) -> None:
        """Count the lease as this process's and start the heartbeat."""
        _HELD.add(self.owner.token)
        self._thread.start()

    @contextlib.contextmanager
    def moving(self) -> Iterator[None]:
        """Hold off the heartbeat while the directory is moved (set aside, put back), then write the
        lease where the directory now is: a refresh in between would recreate what is being moved."""
        with self.guard:
            yield
            if self.lost_to is None:
                self.write()

    def release(self) -> None:
        """Stop the heartbeat and delete the lease if it is still ours (never another job's)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 30)
        with self.guard:
            current = read_owner(self.path)
            if current is not None and current.token == self.owner.token:
                fs, inner = filesystem_for(self.path)
                fs.delete_file(inner)
            _HELD.discard(self.owner.token)
        if self.created:
            remove_empty(self.directory, self.created)


def first_missing(directory: str) -> str | None:
    """The outermost folder of local ``directory`` that does not exist yet (None: all exist, or a URI)."""
    if is_uri(directory) or os.path.exists(directory):
        return None
    missing = os.path.abspath(directory)
    while not os.path.exists(os.path.dirname(missing)):
        missing = os.path.dirname(missing)
    return missing


def remove_empty(directory: str, outermost: str) -> None:
    """Remove ``directory`` and its parents up to ``outermost`` while they are empty (the job wrote
    nothing there): a refused or failed job leaves no folders behind."""
    folder = os.path.abspath(directory)
    while True:
        try:
            os.rmdir(folder)
        except OSError:  # not empty: the job wrote results there
            return
        if folder == outermost:
            return
        folder = os.path.dirname(folder)


def acquire_lease(directory: str, *, timeout: float = STALE_AFTER_S, interval: float = HEARTBEAT_S,
                  settle: float = SETTLE_S) -> Lease:
    """Take the lease on ``directory`` (a local path or URI) and start its heartbeat.

    Raises RunInUse naming the owner when another live job holds it; takes a stale one over with a
    message naming whose it was.
    """
    kind = path_type(directory)
    if kind == pafs.FileType.File:
        raise ConfigError(f"{directory}: is a file; give a directory")
    previous = read_lease_or_refuse(directory, timeout)
    lease = Lease(directory, Owner.this_process(), interval, created=first_missing(directory))
    try:
        lease.write()
    except OSError as err:
        raise ConfigError(f"{directory}: cannot write the run's lease there ({str(err).splitlines()[0]})") from None
    try:
        time.sleep(settle)  # a job that wrote at the same time has written by now: whose token is left?
        current = read_owner(lease.path)
    except BaseException:  # interrupted here: leave no lease of ours behind
        lease.release()
        raise
    if current is None:
        raise RunInUse(f"{directory}: its lease vanished as this job took it; another job may be starting "
                       f"there, try again")
    if current.token != lease.owner.token:
        raise refusal(directory, current, timeout)
    if previous is not None:
        print(f"taking over the lease on {directory} from {previous[0].describe()}: {previous[1]}",
              file=sys.stderr, flush=True)
    lease.start()
    return lease


def read_lease_or_refuse(directory: str, timeout: float) -> tuple[Owner, str] | None:
    """The stale lease at ``directory`` and why it is stale (None when there is none); RunInUse
    when it is held."""
    owner = read_owner(join(directory, LEASE_FILE))
    if owner is None:
        return None
    reason = stale_reason(owner, timeout, time.time())
    if reason is None:
        raise refusal(directory, owner, timeout)
    return owner, reason


@contextlib.contextmanager
def held_lease(directory: str, **options) -> Iterator[Lease]:
    """``acquire_lease`` for the block; released when it ends, however it ends."""
    lease = acquire_lease(directory, **options)
    try:
        yield lease
    finally:
        lease.release()
