#!/usr/bin/env bash
# Smoke matrix for the single-file binary: does dist/logmemory (its bootloader, then Python in the
# same process; two processes where it falls back to PyInstaller's stock way, see README
# Packaging) leave the caller exactly what the command alone would have left it?
#
#   build/smoke.sh [path/to/logmemory]        (default: dist/logmemory; `make test` runs it)
#
# Each check runs the command bare and under the binary from a Perl caller that prints the raw
# wait status ($?: exit code << 8 | core flag 128 | signal number), and compares the two. Also:
# the record is written, --version, stdin/stdout/stderr, the environment, signals sent to the
# binary's pid, the terminal, and MaxRSS against GNU time.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$here/dist/logmemory}
[ -x "$BIN" ] || { echo "smoke: no executable $BIN (run make)"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
LOG=$tmp/smoke.log
ulimit -S -c 0  # no core files from the commands killed below (one check turns it back on)

passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "not ok - $*"; }
check() {  # check DESCRIPTION EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi
}

# Raw wait status of a command as a Perl caller sees it (system LIST: no shell in between).
wstatus() { perl -e 'system { $ARGV[0] } @ARGV; print $?' -- "$@"; }
describe() {  # a raw status in words
    local st=$1
    if ((st & 127)); then echo "signal $((st & 127))$( ((st & 128)) && echo ' (core)')"
    else echo "exit $((st >> 8))"; fi
}
records() { [ -f "$LOG" ] && grep -c '^Cmd:' "$LOG" || echo 0; }

compare() {  # compare DESCRIPTION COMMAND...: same wait status bare and under the binary, one record
    local what=$1; shift
    local before bare wrapped
    before=$(records)
    bare=$(wstatus "$@")
    wrapped=$(wstatus "$BIN" -o "$LOG" "$@")
    check "$what: $(describe "$bare")" "$(describe "$bare")" "$(describe "$wrapped")"
    check "$what: record written" "$((before + 1))" "$(records)"
}

echo "# $BIN ($(stat -c %s "$BIN") bytes)"

# --version: pyproject.toml is the one source of the version.
want=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$here/pyproject.toml" | head -1)
got=$("$BIN" --version 2>&1)
case "$got" in *"$want"*) ok "--version prints $want" ;; *) bad "--version: expected $want in [$got]" ;; esac

# Exit codes from the command itself.
for code in 0 1 3 5 100 123 125 126 128 255; do
    compare "exit $code" sh -c "exit $code"
done

# Deaths by signal: the bootloader must re-raise what killed the Python process, which re-raises
# what killed the command. The command resets the disposition itself, so an inherited SIG_IGN
# (background jobs, nohup) does not change the case.
for sig in TERM KILL SEGV ABRT INT HUP QUIT USR1 PIPE ALRM; do
    compare "SIG$sig" perl -e '$SIG{$ARGV[0]} = "DEFAULT"; kill $ARGV[0], $$; sleep 5; exit 99' "$sig"
done

# Core dumps: with the caller's core limit unlimited, a command that dumps no core of its own must
# leave no core behind either, and no core flag in the status (no core file of logmemory's own,
# neither the Python process's nor the bootloader's).
if (ulimit -c unlimited) 2>/dev/null; then
    for sig in QUIT SEGV ABRT; do
        mkdir -p "$tmp/core-$sig"
        bare=$(cd "$tmp/core-$sig" && ulimit -c unlimited && wstatus sh -c "ulimit -c 0; kill -$sig \$\$")
        wrapped=$(cd "$tmp/core-$sig" && ulimit -c unlimited &&
                  wstatus "$BIN" -o "$LOG" sh -c "ulimit -c 0; kill -$sig \$\$")
        check "SIG$sig with ulimit -c unlimited: same status" "$(describe "$bare")" "$(describe "$wrapped")"
        check "SIG$sig with ulimit -c unlimited: no core file left" "" "$(ls "$tmp/core-$sig")"
    done
else
    echo "# skipped core checks: cannot raise the core limit here"
fi

# stdin, stdout and stderr reach the command untouched.
check "stdin reaches the command" "in-data" "$(printf 'in-data\n' | "$BIN" -o "$LOG" cat)"
out=$("$BIN" -o "$LOG" sh -c 'echo to-out; echo to-err >&2' 2>"$tmp/err")
check "stdout is the command's" "to-out" "$out"
check "stderr is the command's" "to-err" "$(cat "$tmp/err")"

# The environment reaches the command untouched: no LD_LIBRARY_PATH or _PYI_* from the bootloader.
envp=(FOO=bar PATH=/usr/bin:/bin)
check "environment untouched" "$(env -i "${envp[@]}" /usr/bin/env | sort)" \
    "$(env -i "${envp[@]}" "$BIN" -o "$LOG" /usr/bin/env | sort)"
check "environment untouched (LD_LIBRARY_PATH set)" \
    "$(env -i "${envp[@]}" LD_LIBRARY_PATH=/nowhere /usr/bin/env | sort)" \
    "$(env -i "${envp[@]}" LD_LIBRARY_PATH=/nowhere "$BIN" -o "$LOG" /usr/bin/env | sort)"

# The binary wrapping itself: the inner one must not take the outer one's _PYI_* variables for its
# own (PyInstaller >= 6.22.1 then refuses to start: "parent process has different executable").
before=$(records)
st=$(wstatus "$BIN" -o "$LOG" "$BIN" -o "$LOG" sh -c 'exit 7' 2>/dev/null)
check "logmemory wrapping logmemory: exit 7" "exit 7" "$(describe "$st")"
check "logmemory wrapping logmemory: two records" "$((before + 2))" "$(records)"

# Signals sent to the binary's pid (the bootloader's) reach the command, and the record is written.
# The command traps the signal and exits 40+n. Started through Perl so that INT/QUIT are not
# inherited as ignored (a shell's background jobs get them ignored).
n=0
for sig in TERM HUP INT QUIT; do
    n=$((n + 1))
    ready=$tmp/ready-$sig
    before=$(records)
    perl -e '$SIG{INT} = $SIG{QUIT} = "DEFAULT"; exec @ARGV' -- \
        "$BIN" -o "$LOG" perl -e '
            my ($sig, $code, $ready) = @ARGV;
            $SIG{$sig} = sub { exit $code };
            open my $fh, ">", $ready or die; close $fh;
            sleep 30; exit 1' "$sig" $((40 + n)) "$ready" &
    pid=$!
    for _ in $(seq 100); do [ -e "$ready" ] && break; sleep 0.1; done
    kill -s "$sig" "$pid"
    wait "$pid"
    check "SIG$sig sent to the binary reaches the command" $((40 + n)) $?
    check "SIG$sig sent to the binary: record written" "$((before + 1))" "$(records)"
done

# The terminal: under a pseudo-terminal the command sees a tty on stdin and stdout and, being in
# the foreground process group, can read the keyboard (a background reader would stop on SIGTTIN).
if command -v script >/dev/null; then
    out=$(printf 'typed\n' | timeout 20 script -qec \
        "$BIN -o $LOG sh -c 'test -t 0 && test -t 1 && echo IS-A-TTY; read x; echo got-\$x'" /dev/null |
        tr -d '\r')
    case "$out" in *IS-A-TTY*got-typed*) ok "terminal passed through (tty, foreground read)" ;;
                   *) bad "terminal: got [$out]" ;; esac
else
    echo "# skipped terminal check: no script(1)"
fi

# The binary does not leak into the measurement: MaxRSS of a 200 MiB workload within 1 MiB of
# GNU time's %M for the same command.
if [ -x /usr/bin/time ] && command -v python3 >/dev/null; then
    work=(perl -e '$x = "x" x (200 * 1024 * 1024); exit 0')
    gnu=$( { /usr/bin/time -f %M "${work[@]}" >/dev/null; } 2>&1 | tail -1)
    "$BIN" --format json -o "$tmp/mem.json" "${work[@]}"
    ours=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["maxrss_kb"])' "$tmp/mem.json" 2>&1)
    if [[ "$ours" =~ ^[0-9]+$ ]] && (( ours - gnu <= 1024 && gnu - ours <= 1024 )); then
        ok "MaxRSS $ours kB within 1 MiB of GNU time's $gnu kB"
    else
        bad "MaxRSS: ours [$ours] vs GNU time $gnu kB"
    fi
fi

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
