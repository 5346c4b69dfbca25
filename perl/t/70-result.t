# LogMemory::Result: read-only accessors, undef (never 0) for unmeasured values, one-line
# stringification, as_hash. Built from records, so no binary is needed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use LogMemory ();

my %record = (
    date => '2026-11-25T19:05:38+00:00', cmd => ['ls', '-l'], pid => 12345,
    exit_code => 3, signal => undef, core_dumped => JSON::PP::false(),
    vmpeak_kb => 5004, vmhwm_kb => 1284, maxrss_kb => 1300,
    elapsed_s => 0.012, user_s => 0.001, sys_s => 0.004, unmeasured => {},
);
my $r = LogMemory::Result->_new(argv => ['ls', '-l'], command => 'ls -l', status => 3 << 8,
    record => \%record, log_file => 'mem.log');

is_deeply([$r->argv], ['ls', '-l'], 'argv');
is($r->pid, 12345, 'pid');
is($r->status, 768, 'status');
is($r->exit_code, 3, 'exit_code');
is($r->signal, undef, 'signal');
is($r->signal_name, undef, 'signal_name');
is($r->core_dumped, 0, 'core_dumped');
is($r->vmhwm_kb, 1284, 'vmhwm_kb');
is($r->vmpeak_kb, 5004, 'vmpeak_kb');
is($r->maxrss_kb, 1300, 'maxrss_kb');
is($r->elapsed_s, 0.012, 'elapsed_s');
is($r->user_s, 0.001, 'user_s');
is($r->sys_s, 0.004, 'sys_s');
is($r->log_file, 'mem.log', 'log_file');
is($r->is_success, 0, 'is_success');
is("$r", '"ls -l": exit 3, maxrss 1300 kB, vmhwm 1284 kB, vmpeak 5004 kB, 0.012 s', 'one-line summary');
ok($r, 'true in boolean context');

my $h = $r->as_hash;
is($h->{maxrss_kb}, 1300, 'as_hash maxrss_kb');
is_deeply($h->{argv}, ['ls', '-l'], 'as_hash argv');
is($h->{record}{date}, $record{date}, 'as_hash record');
$h->{record}{cmd}[0] = 'changed';
is($record{cmd}[0], 'ls', 'as_hash is a copy');

for my $method (qw(argv pid status exit_code signal signal_name core_dumped vmhwm_kb vmpeak_kb
                   maxrss_kb elapsed_s user_s sys_s log_file is_success as_hash unmeasured)) {
    ok(!eval { $r->$method(1); 1 }, "$method is read-only");
    like($@, qr/\ALogMemory::Result: $method is read-only at /, "$method: message");
}

# Killed by a signal with a core dump; memory not measured: undef, never 0.
my $k = LogMemory::Result->_new(argv => ['x'], command => "x\ny", status => 6 | 128,
    record => { %record, exit_code => undef, signal => 'SIGABRT', vmhwm_kb => undef,
                vmpeak_kb => 0, maxrss_kb => undef, unmeasured => { vmhwm_kb => 'gone' } });
is($k->exit_code, undef, 'signalled: no exit_code');
is($k->signal, 6, 'signal');
is($k->signal_name, 'SIGABRT', 'signal_name');
is($k->core_dumped, 1, 'core_dumped');
is($k->vmhwm_kb, undef, 'unmeasured vmhwm_kb is undef');
is($k->vmpeak_kb, undef, 'a 0 is undef');
is($k->maxrss_kb, undef, 'unmeasured maxrss_kb is undef');
is_deeply($k->unmeasured, { vmhwm_kb => 'gone' }, 'unmeasured reasons');
is("$k", '"x\ny": killed by SIGABRT (core dumped), maxrss unmeasured, vmhwm unmeasured, vmpeak unmeasured, 0.012 s',
    'one line even with a newline in the command');

# Could not start.
my $n = LogMemory::Result->_new(argv => ['nope'], command => 'nope', status => -1, errno => 2);
is($n->exit_code, undef, 'not started: no exit_code');
is($n->signal, undef, 'not started: no signal');
is($n->maxrss_kb, undef, 'not started: nothing measured');
is("$n", '"nope": failed to start', 'not started: summary');

done_testing;
