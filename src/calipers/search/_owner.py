"""Which process owns a RUNNING trial, and whether that process still lives.

A trial turned RUNNING records its owner: the process that writes the trial's result
and heartbeats it (the study's process; objectives run by workers report through it).
A storage looking for stale trials can then tell at once that an owner on *this*
machine died (``kill -9``, a crash), instead of waiting for its heartbeat to age past
the grace period. Owners on other machines, or whose liveness cannot be read, are left
to the heartbeat.

An owner is identified by its host name, a machine key, its pid and its start time:

- Linux: the machine key is the boot id (``/proc/sys/kernel/random/boot_id``, new at
  every boot) plus the pid namespace (``/proc/self/ns/pid``: two containers sharing a
  kernel and a host name still see different pids), and the start time is field 22 of
  ``/proc/<pid>/stat`` (clock ticks since boot). A pid that now belongs to a process
  started at another time is a reused pid, not the owner.
- Elsewhere, when psutil is importable: the machine key is ``psutil`` and the start
  time is ``psutil.Process(pid).create_time()`` (seconds since the epoch).
- Otherwise the owner has no machine key and only the heartbeat applies.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["Owner", "dead_reason", "owner_of", "this_process"]

_STAT_START = 19  # field 22 (starttime), counted from field 3 (state), after "(comm)"
_PSUTIL_SLACK = 1.0  # seconds: float create times of one process compare equal within it


class _Unknown(Exception):
    """The process's liveness cannot be read (no permission, unsupported system)."""


@dataclass(frozen=True)
class Owner:
    """The process that runs a trial.

    Attributes
    ----------
    host : str
        ``socket.gethostname()``.
    machine : str
        Tells apart kernels (and pid namespaces) that share a host name; empty when
        unknown, which leaves the trial to the heartbeat.
    pid : int
        The process id.
    start : str
        When the process started, in the machine key's own clock (see the module
        docstring); empty when unknown.
    """

    host: str
    machine: str
    pid: int
    start: str

    @functools.cached_property
    def text(self) -> str:
        """The form stored with the trial (JSON)."""
        return json.dumps(
            {"host": self.host, "machine": self.machine, "pid": self.pid, "start": self.start},
            separators=(",", ":"),
        )

    @classmethod
    def from_text(cls, text: str | None) -> Owner | None:
        """Parse :attr:`text`; None for a trial without a (readable) owner."""
        if not text:
            return None
        try:
            data = json.loads(text)
            owner = cls(str(data["host"]), str(data["machine"]), int(data["pid"]),
                        str(data["start"]))
        except (ValueError, TypeError, KeyError):
            return None
        return owner if owner.pid > 0 else None

    def __str__(self) -> str:
        return f"process {self.pid} on host {self.host!r}"


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read().strip()


def _linux_machine() -> str:
    try:
        boot = _read("/proc/sys/kernel/random/boot_id")
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"linux:{boot}:{pidns}" if boot and pidns else ""


def _linux_start(pid: int) -> str | None:
    """``"ticks:<starttime>"`` of a live ``pid``; None when no such process runs."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        if _pid_exists(pid):  # a /proc hidden from us (hidepid): alive, start unknown
            raise _Unknown(f"/proc/{pid} cannot be read") from None
        return None
    except OSError as err:
        raise _Unknown(str(err)) from err
    # comm (field 2) may hold spaces and parentheses: split after its last ")"
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X") and not _other_threads(pid):
        return None  # exited: a zombie its parent has not reaped yet
    return "ticks:" + fields[_STAT_START].decode("ascii")


def _other_threads(pid: int) -> bool:
    """Whether a zombie thread-group leader still has live threads (a live process)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _psutil() -> Any:
    try:
        import psutil
    except ImportError:
        return None
    return psutil


def _psutil_start(pid: int) -> str | None:
    psutil = _psutil()
    if psutil is None:
        raise _Unknown("psutil is not installed")
    try:
        proc = psutil.Process(pid)
        if proc.status() in (psutil.STATUS_ZOMBIE, getattr(psutil, "STATUS_DEAD", "dead")):
            return None
        return f"ctime:{proc.create_time()!r}"
    except psutil.NoSuchProcess:
        return None
    except psutil.Error as err:
        raise _Unknown(str(err)) from err


def _backend() -> str:
    if sys.platform.startswith("linux") and os.path.exists("/proc/self/stat"):
        return "linux"
    return "psutil" if _psutil() is not None else ""


def _start_of(pid: int, backend: str) -> str | None:
    if backend == "linux":
        return _linux_start(pid)
    if backend == "psutil":
        return _psutil_start(pid)
    raise _Unknown("no way to read process start times on this system")


def owner_of(pid: int, backend: str | None = None) -> Owner | None:
    """The owner record of the live process ``pid`` (None if it is not running)."""
    backend = _backend() if backend is None else backend
    machine = {"linux": _linux_machine, "psutil": lambda: "psutil"}.get(backend, str)()
    try:
        start = _start_of(pid, backend) if machine else ""
    except _Unknown:
        machine, start = "", ""
    if start is None:
        return None
    return Owner(socket.gethostname(), machine, pid, start)


_THIS: tuple[int, Owner] | None = None


def this_process() -> Owner:
    """This process's owner record (cached; recomputed in a forked child)."""
    global _THIS
    pid = os.getpid()
    if _THIS is None or _THIS[0] != pid:
        owner = owner_of(pid)
        _THIS = (pid, owner if owner is not None else Owner(socket.gethostname(), "", pid, ""))
    return _THIS[1]


def _same_start(a: str, b: str) -> bool:
    if a.startswith("ctime:") and b.startswith("ctime:"):
        try:
            return abs(float(a[6:]) - float(b[6:])) <= _PSUTIL_SLACK
        except ValueError:
            return a == b
    return a == b


def dead_reason(owner: Owner | str | None, here: Owner | None = None) -> str | None:
    """Why the trial owned by ``owner`` can be failed now, or None to leave it be.

    The owner is dead when it ran on this machine (same host name and machine key as
    ``here``, default :func:`this_process`) and its pid is no longer running, or now
    runs a process started at another time (the pid was reused). None when it lives,
    ran elsewhere, or its liveness cannot be read: the heartbeat decides then.
    """
    if isinstance(owner, str) or owner is None:
        owner = Owner.from_text(owner)
    if owner is None or not owner.machine or not owner.start:
        return None
    here = this_process() if here is None else here
    if (owner.host, owner.machine) != (here.host, here.machine):
        return None
    if owner.pid == here.pid and owner.start == here.start:
        return None  # this very process
    backend = "linux" if owner.machine.startswith("linux:") else "psutil"
    try:
        start = _start_of(owner.pid, backend)
    except _Unknown:
        return None
    if start is None:
        why = f"no process {owner.pid} is running"
    elif not _same_start(start, owner.start):
        why = f"pid {owner.pid} was reused: it now runs another process"
    else:
        return None
    return (
        f"owner {owner} died ({why}) before the trial finished; its parameters are "
        "enqueued again (up to max_retries times)"
    )
