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
is("$err", qq{"$PERL $exiter 3" unexpectedly returned exit value 3 at ${\ __FILE__} line $line.\n},
    "IPC::System::Simple's one-line text, located at the caller");
is($err->result->exit_code, 3, '->result carries the Result');
is($err->result, last_result(), 'and it is last_result()');
is($err->line, $line, '->line');
is($err->message, qq{"$PERL $exiter 3" unexpectedly returned exit value 3}, '->message has no location');
is($err->exit_value, 3, '->exit_value');
is($err->signal, undef, '->signal');
is($err->command, "$PERL $exiter 3", '->command');
is($err->started_ok, 1, '->started_ok');
cmp_ok($err->result->peak_kb, '>', 0, '->result->peak_kb');

# Killed by SIGKILL while holding 64 MiB: the croak still carries the measurement.
ok(!eval { with_stderr_to("$dir/err", sub { memrunx({ allow => 'any' }, $PERL, $allocator, 64, 'KILL') }); 1 },
    'SIGKILL croaks even with allow => any');
$err = $@;
is($?, 9, '$? is the signal');
like("$err", qr/\A"\Q$PERL $allocator\E 64 KILL" died to signal "KILL" \(9\) at \S+ line \d+\.\n\z/,
    "IPC::System::Simple's signal text");
is($err->signal, 9, '->signal');
is($err->exit_value, undef, '->exit_value');
is($err->core_dumped, 0, '->core_dumped');
cmp_ok($err->result->maxrss_kb, '>=', 64 * 1024, '->result->maxrss_kb is set after SIGKILL');
cmp_ok($err->result->vmhwm_kb, '>=', 64 * 1024, '->result->vmhwm_kb too');
is($err->result->signal_name, 'SIGKILL', '->result->signal_name');

# A program that cannot start.
ok(!eval { with_stderr_to("$dir/err", sub { memrunx({ allow => 'any' }, "$dir/missing", 'x') }); 1 },
    'missing program croaks');
$err = $@;
is($?, -1, '$? is -1');
like("$err", qr/\A"\Q$dir\E\/missing x" failed to start: "No such file or directory" at /,
    "IPC::System::Simple's failed to start text");
is($err->started_ok, 0, '->started_ok');
is($err->result->status, -1, 'its Result has status -1');

# Through the shell, a missing command is the shell's 127.
ok(!eval { with_stderr_to("$dir/err", sub { memrun("$dir/missing 2>/dev/null") }); 1 }, 'missing command in a shell string croaks');
like("$@", qr/\A"\Q$dir\E\/missing 2>\/dev\/null" unexpectedly returned exit value 127 at /, '... as exit value 127');

done_testing;
