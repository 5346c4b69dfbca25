# memrun/memrunx return a Result, croak with a one-line error object that carries ->result
# unless the exit value is allowed, and set $? before croaking.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);
use LogMemory qw(memrun memrunx last_result);

need_binary();

my $exiter    = helper('exiter.pl');
my $allocator = helper('allocator.pl');
my $dir       = tempdir(CLEANUP => 1);

my $r = memrun("$PERL $exiter 0");
isa_ok($r, 'LogMemory::Result');
ok($r->is_success, 'exit 0 is a success');
is($?, 0, '$? is 0');

is(memrunx({ allow => [0, 3] }, $PERL, $exiter, 3)->exit_code, 3, 'allow => [0, 3] allows 3');
is($?, 3 << 8, '$? is set');
is(memrunx({ allow => 3 }, $PERL, $exiter, 3)->exit_code, 3, 'allow => 3 allows 3');
is(memrun({ allow => 'any' }, "$PERL $exiter 255")->exit_code, 255, "allow => 'any' allows 255");

# A disallowed exit value.
my $line = __LINE__ + 1;
ok(!eval { memrunx($PERL, $exiter, 3); 1 }, 'exit 3 croaks by default');
my $err = $@;
isa_ok($err, 'LogMemory::Error');
is($?, 3 << 8, '$? was set before croaking');
like("$err", qr/\ALogMemory: "\Q$PERL $exiter\E 3" unexpectedly returned exit value 3 \(max RSS \d+ kB\) at \Q${\ __FILE__}\E line $line\.\n\z/,
    'documented one-line text, located at the caller');
is($err->result->exit_code, 3, '->result carries the Result');
is($err->result, last_result(), 'and it is last_result()');
is($err->line, $line, '->line');
like($err->message, qr/\ALogMemory: .* \(max RSS \d+ kB\)\z/, '->message has no location');

# Killed by SIGKILL while holding 64 MiB: the croak still carries the measurement.
ok(!eval { with_stderr_to("$dir/err", sub { memrunx({ allow => 'any' }, $PERL, $allocator, 64, 'KILL') }); 1 },
    'SIGKILL croaks even with allow => any');
$err = $@;
is($?, 9, '$? is the signal');
like("$err", qr/\ALogMemory: "\Q$PERL $allocator\E 64 KILL" died to signal "SIGKILL" \(9\) \(max RSS \d+ kB\) at \S+ line \d+\.\n\z/,
    'documented signal text');
cmp_ok($err->result->maxrss_kb, '>=', 64 * 1024, '->result->maxrss_kb is set after SIGKILL');
cmp_ok($err->result->vmhwm_kb, '>=', 64 * 1024, '->result->vmhwm_kb too');
is($err->result->signal_name, 'SIGKILL', '->result->signal_name');

# A program that cannot start.
ok(!eval { with_stderr_to("$dir/err", sub { memrunx({ allow => 'any' }, "$dir/missing", 'x') }); 1 },
    'missing program croaks');
$err = $@;
is($?, -1, '$? is -1');
like("$err", qr/\ALogMemory: "\Q$dir\E\/missing x" failed to start: No such file or directory at /,
    'failed to start text');
is($err->result->status, -1, 'its Result has status -1');

# Through the shell, a missing command is the shell's 127.
ok(!eval { with_stderr_to("$dir/err", sub { memrun("$dir/missing 2>/dev/null") }); 1 }, 'missing command in a shell string croaks');
like("$@", qr/unexpectedly returned exit value 127 \(max RSS unmeasured\)/, '... as exit value 127');

done_testing;
