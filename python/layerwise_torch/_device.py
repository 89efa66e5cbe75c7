"""What reading a tensor's values on the host costs: on the CPU a few microseconds; on CUDA and the
other accelerators a wait for everything queued before it (a synchronisation), which keeps the host
from queueing the next work while the device runs. The package reads where it must (a logged step's
one transfer) and, where reads wait, reads nothing on unlogged steps (_run._defer_checks) and
batches what a histogram step would read row by row (_hist._moments)."""


def reads_wait(t):
    """Whether reading t on the host waits for its device."""
    return t.device.type not in ("cpu", "meta")
