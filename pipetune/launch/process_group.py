"""Running one trial's process group: start it, stream its output, stop it, leave nothing.

``run_process`` starts a command in a new session (its own process group), streams its merged
stdout+stderr to a ``Sink`` as it arrives (selectors on the pipe and, on Linux, a pidfd, so
nothing sleeps while output flows), and stops the group when the sink asks (pruning) or the
timeout passes: SIGTERM, then SIGKILL after the grace period. Whatever the script left behind
in its group is ended too before ``run_process`` returns.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from pipetune.errors import InvalidArgumentError

POLL = 0.01  # seconds: the longest the launcher sleeps while something may need it
_READ_SIZE = 1 << 16


class Sink(Protocol):
    """Receives a process's output; ``pruned`` set to True asks for the process to stop."""

    pruned: bool

    def feed(self, data: bytes) -> None: ...

    def end_output(self) -> None: ...

    def read_reports(self) -> None: ...


_live_groups: set[int] = set()
_live_lock = threading.Lock()


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting for a reaper do not)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc/self"):
        return True
    # Something answers: a live process, or only zombies of an init that never reaps them.
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _reap_group(pgid: int) -> None:
    """Reaps the group's exited processes that are this process's children (when it is
    PID 1 or a subreaper, orphans of the trial are)."""
    if not hasattr(os, "waitid"):
        return
    while True:
        try:
            if os.waitid(os.P_PGID, pgid, os.WEXITED | os.WNOHANG) is None:
                return
        except (ChildProcessError, OSError):
            return


def _kill_group(pgid: int) -> None:
    """SIGKILLs the group and returns once none of its processes runs. A signal is only
    delivered when its process is next scheduled (later still for one inside a system call),
    so on a busy machine the group outlives ``killpg`` by a while: poll until it is gone."""
    delay = 0.001
    while True:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except PermissionError:
            return  # what is left belongs to another user (a setuid program): out of reach
        _reap_group(pgid)
        if not _group_alive(pgid):
            return
        time.sleep(delay)
        delay = min(2 * delay, POLL)


def _end_group(pgid: int, grace: float, term_sent_at: float | None) -> None:
    """Makes sure nothing of the group outlives its trial: SIGTERM, SIGKILL after ``grace``,
    and returns once the group is gone."""
    _reap_group(pgid)
    if not _group_alive(pgid):
        return
    if term_sent_at is None:
        signal_group(pgid, signal.SIGTERM)
        term_sent_at = time.monotonic()
    while time.monotonic() < term_sent_at + grace:
        time.sleep(POLL)
        _reap_group(pgid)
        if not _group_alive(pgid):
            return
    _kill_group(pgid)


def terminate_all(grace: float = 0.0) -> None:
    """Ends the process group of every trial this process is running (SIGTERM, then SIGKILL
    after ``grace`` seconds); their trials then fail or are pruned as usual."""
    with _live_lock:
        groups = list(_live_groups)
    for pgid in groups:
        signal_group(pgid, signal.SIGTERM)
    end = time.monotonic() + grace
    while groups and time.monotonic() < end:
        time.sleep(POLL)
        groups = [g for g in groups if _group_alive(g)]
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)  # each trial's run_process waits for its group


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: poll instead
        return None


def run_process(argv: Sequence[str], *, cwd: str | None, env: dict[str, str],
                timeout: float | None, grace: float, sink: Sink,
                poll_reports: bool) -> tuple[int, str | None]:
    """Runs ``argv`` to its end and returns its exit code and why it was stopped ("pruned",
    "timeout"), if it was. With ``poll_reports`` the sink's report file is read every
    ``POLL`` seconds while the process runs. The whole group is gone when this returns."""
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, bufsize=0)
    except OSError as error:
        raise InvalidArgumentError(
            f"Cannot start the command {argv[0]!r}: {error.strerror or error}. Check 'command' "
            f"(relative paths start from the working directory "
            f"{cwd or os.getcwd()!r}).") from None
    pgid = proc.pid
    with _live_lock:
        _live_groups.add(pgid)
    output = proc.stdout
    assert output is not None  # stdout=PIPE
    out_fd = output.fileno()
    os.set_blocking(out_fd, False)
    pidfd = _pidfd(proc.pid)
    selector = selectors.DefaultSelector()
    selector.register(out_fd, selectors.EVENT_READ, "out")
    if pidfd is not None:
        selector.register(pidfd, selectors.EVENT_READ, "exit")
    deadline = None if timeout is None else time.monotonic() + timeout
    reason: str | None = None
    term_sent_at: float | None = None
    killed = eof = exited = False
    try:
        while not (exited and eof):
            now = time.monotonic()
            if reason is None:
                if sink.pruned:
                    reason = "pruned"
                elif deadline is not None and now >= deadline:
                    reason = "timeout"
                elif exited:  # the script ended but left processes holding its output
                    reason = "leftover"
                if reason is not None:
                    signal_group(pgid, signal.SIGTERM)
                    term_sent_at = now
            if term_sent_at is not None and not killed and now >= term_sent_at + grace:
                signal_group(pgid, signal.SIGKILL)
                killed = True
            if exited and killed:
                break  # what still holds the output left the group (setsid); stop waiting
            waits = []
            if reason is None:
                if deadline is not None:
                    waits.append(deadline - now)
                if poll_reports:
                    waits.append(POLL)
            elif term_sent_at is not None and not killed:  # set with reason
                waits.append(term_sent_at + grace - now)
            if pidfd is None and not exited:
                waits.append(POLL)
            for key, _ in selector.select(max(0.0, min(waits)) if waits else None):
                if key.data == "exit":
                    selector.unregister(key.fileobj)
                    continue
                try:
                    data = os.read(out_fd, _READ_SIZE)
                except BlockingIOError:
                    continue
                if data:
                    sink.feed(data)
                else:
                    eof = True
                    selector.unregister(out_fd)
            if not exited and proc.poll() is not None:
                exited = True
            if poll_reports and reason is None:
                sink.read_reports()
    except BaseException:
        # An interrupt (or a storage error from trial.report): never leave the script running.
        signal_group(pgid, signal.SIGKILL)
        proc.wait()
        _kill_group(pgid)
        raise
    finally:
        selector.close()
        if pidfd is not None:
            os.close(pidfd)
        output.close()
        if proc.returncode is not None:
            _end_group(pgid, grace, term_sent_at)
            with _live_lock:
                _live_groups.discard(pgid)
    sink.end_output()
    sink.read_reports()
    if sink.pruned:  # also when the script finished before the decision: the caller judges
        return proc.returncode, "pruned"
    return proc.returncode, (None if reason == "leftover" else reason)


__all__ = ["POLL", "Sink", "run_process", "signal_group", "terminate_all"]
