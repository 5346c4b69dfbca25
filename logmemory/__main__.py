# Signals wait for logmemory from its first statement on (see _signals.hold), before any import.
from logmemory import _signals

_signals.hold()

from logmemory.cli import main  # noqa: E402

main()
