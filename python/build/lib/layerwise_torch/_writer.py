"""The log file: one JSON object a line, locked while written, never fatal to the training."""
import json
import os
import warnings

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, the log is simply written
    fcntl = None


class LogBusy(Exception):
    pass


_WRITERS = {}  # real path -> the Writer this process has open on it


class Writer:
    """One JSON object a line, flushed after each event so that a tail sees each step as it ends
    (the flush costs a few microseconds; json.dumps of a step's dict ~40 us on a small net).

    The log is held by an advisory lock while it is written: a writer of the same path in another
    process (two processes that are each rank 0 of their group, a script started twice) would
    interleave its lines with the first's, so it is refused (LogBusy) before it truncates anything.
    In this process a new writer replaces the earlier one (a notebook cell run again while the
    last run was never closed): the earlier one writes no more."""

    def __init__(self, path):
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self.key = os.path.realpath(path)
        self.failed = False
        earlier = _WRITERS.get(self.key)
        if earlier is not None:
            warnings.warn(f"layerwise_torch: an earlier run in this process was writing {path}; it writes no "
                          "more, and this run's log replaces its", stacklevel=4)
            earlier.failed = True
            earlier.close()
        f = open(path, "a", encoding="utf-8", newline="\n")  # "a": nothing truncated before the lock
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # held by another writer
                f.close()
                raise LogBusy(path) from None
            except OSError:  # no locks on this file system (ENOLCK on some NFS mounts): write unlocked
                pass
        f.seek(0)
        f.truncate()
        self.f = f
        _WRITERS[self.key] = self

    def write(self, event):
        """Writes one event; where the file cannot be written (a full disk), warns once and writes
        no more: the training the log describes goes on."""
        if self.failed:
            return
        try:
            self.f.write(json.dumps(event, allow_nan=False, separators=(",", ":")) + "\n")
            self.f.flush()
        except OSError as e:
            self.failed = True
            warnings.warn(f"layerwise_torch: could not write {self.f.name}: {e.strerror or e}; the training goes "
                          "on, its log stops here", stacklevel=4)
            self.close()

    def close(self):
        if _WRITERS.get(self.key) is self:
            del _WRITERS[self.key]
        try:
            if not self.f.closed:
                self.f.close()
        except OSError:
            pass
