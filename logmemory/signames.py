"""Signal names by number, for all 64 (Python's signal module lacks 32 and 33), without ctypes."""

# As Python's signal.Signals names them (SIGRTMIN is 34 there), SIGnn for the rest.
_NAMES = ("HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD "
          "CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS").split()
NAMES = {n: "SIG" + name for n, name in enumerate(_NAMES, 1)} | {34: "SIGRTMIN", 64: "SIGRTMAX"}
NUMBERS = {name: n for n, name in NAMES.items()}


def name(sig) -> str:
    return NAMES.get(sig, f"SIG{sig}")
