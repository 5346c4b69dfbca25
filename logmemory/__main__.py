# Signals wait for logmemory from its first statement on: _signal is built in, so this runs
# before any import; _signals.hold() then adds 32 and 33, which Python's signal module refuses.
import _signal

_caller_mask = _signal.pthread_sigmask(
    _signal.SIG_BLOCK, set(range(1, 32)) - {9, 17, 19, 20, 21, 22, 23, 28})

# The imports make thousands of objects and no garbage: no collection while they run (~2 ms),
# and what they made is kept out of later ones (as the binary's run-time hook and entry do).
import gc  # noqa: E402

gc.disable()
try:
    from logmemory import _signals

    _signals.hold(_caller_mask)
    from logmemory.cli import main
except KeyboardInterrupt:  # SIGINT came before the first statement, while Python started
    import os

    os.write(2, b"logmemory: SIGINT received before the command started: it was not run\n")
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGINT})
    _signal.raise_signal(_signal.SIGINT)

gc.freeze()
gc.enable()
main()
