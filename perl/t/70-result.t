# LogMemory::Result: read-only accessors (the tree ones too), undef (never 0) for unmeasured
# values, one-line stringification, as_hash. Built from records, so no binary is needed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use JSON::PP ();
use LogMemory ();
use LogMemory::Result ();

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
                   maxrss_kb elapsed_s user_s sys_s log_file is_success as_hash unmeasured
                   tree_processes tree_threads tree_max_vmhwm_kb tree_max_vmhwm_pid
                   tree_max_vmhwm_cmd tree_peak_kb tree_peak_source tree_peak_unavailable_reason
                   tree_unmeasured processes)) {
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

# A record without "tree" and "processes": the tree figures are undef, the lists empty.
is($r->tree_processes, undef, 'no tree: tree_processes undef');
is($r->tree_max_vmhwm_kb, undef, 'no tree: tree_max_vmhwm_kb undef');
is_deeply([$r->tree_max_vmhwm_cmd], [], 'no tree: tree_max_vmhwm_cmd empty');
is_deeply([$r->processes], [], 'no tree: processes empty');
is_deeply($r->tree_unmeasured, {}, 'no tree: tree_unmeasured empty');

# A shell wrapper and its child: the tree accessors.
my @procs = (
    { pid => 100, ppid => 99, cmd => ['sh', '-c', 'big; true'], vmhwm_kb => 1620, vmpeak_kb => 2592,
      maxrss_kb => 71256, exit_code => 0, signal => undef, threads => 1, start_s => 0.002, end_s => 0.048 },
    { pid => 101, ppid => 100, cmd => ['big'], vmhwm_kb => 71256, vmpeak_kb => 0,
      maxrss_kb => undef, exit_code => undef, signal => 'SIGKILL', threads => 2, start_s => 0.005, end_s => 0.047 },
);
my $t = LogMemory::Result->_new(argv => ['sh', '-c', 'big; true'], command => 'big; true', status => 0,
    record => { %record, exit_code => 0, pid => 100, vmhwm_kb => 1620, vmpeak_kb => 2592, maxrss_kb => 71256,
                elapsed_s => 0.0487,
                tree => { processes => 2, threads => 3, max_vmhwm_kb => 71256, max_vmhwm_pid => 101,
                          max_vmhwm_cmd => ['big'], peak_kb => 67412, peak_source => 'cgroup1',
                          peak_unavailable_reason => undef, unmeasured => {} },
                processes => \@procs });
is($t->tree_processes, 2, 'tree_processes');
is($t->tree_threads, 3, 'tree_threads');
is($t->tree_max_vmhwm_kb, 71256, 'tree_max_vmhwm_kb');
is($t->tree_max_vmhwm_pid, 101, 'tree_max_vmhwm_pid');
is_deeply([$t->tree_max_vmhwm_cmd], ['big'], 'tree_max_vmhwm_cmd is a list');
is($t->tree_peak_kb, 67412, 'tree_peak_kb');
is($t->tree_peak_source, 'cgroup1', 'tree_peak_source');
is($t->tree_peak_unavailable_reason, undef, 'tree_peak_unavailable_reason');
my @got = $t->processes;
is(scalar @got, 2, 'processes: a list of two');
is(scalar $t->processes, 2, 'processes in scalar context: the count');
is_deeply($got[0], $procs[0], 'processes: the first entry as recorded');
is($got[1]{vmpeak_kb}, undef, 'processes: a 0 is undef');
is($got[1]{maxrss_kb}, undef, 'processes: an unmeasured value is undef');
is($got[1]{signal}, 'SIGKILL', 'processes: the other keys as recorded');
$got[0]{cmd}[0] = 'changed';
is(($t->processes)[0]{cmd}[0], 'sh', 'processes returns copies');
my $th = $t->as_hash;
is($th->{tree_max_vmhwm_kb}, 71256, 'as_hash tree_max_vmhwm_kb');
is_deeply($th->{tree_max_vmhwm_cmd}, ['big'], 'as_hash tree_max_vmhwm_cmd');
is(scalar @{ $th->{processes} }, 2, 'as_hash processes');
is("$t", '"big; true": exit 0, maxrss 71256 kB, vmhwm 1620 kB, vmpeak 2592 kB, 0.049 s, '
       . '2 processes, tree max vmhwm 71256 kB, tree peak 67412 kB (cgroup1)', 'summary with the tree');

# follow => 0 and no cgroup: nulls, a 0, a reason.
my $u = LogMemory::Result->_new(argv => ['x'], command => 'x', status => 0,
    record => { %record, tree => { processes => undef, threads => undef, max_vmhwm_kb => 0,
        max_vmhwm_pid => undef, max_vmhwm_cmd => undef, peak_kb => undef, peak_source => undef,
        peak_unavailable_reason => 'no memory cgroup', unmeasured => { processes => 'descendants not followed' } },
        processes => [] });
is($u->tree_processes, undef, 'not followed: tree_processes undef');
is($u->tree_max_vmhwm_kb, undef, 'not followed: a 0 is undef');
is_deeply([$u->tree_max_vmhwm_cmd], [], 'not followed: tree_max_vmhwm_cmd empty');
is($u->tree_peak_kb, undef, 'no cgroup: tree_peak_kb undef');
is($u->tree_peak_source, undef, 'no cgroup: tree_peak_source undef');
is($u->tree_peak_unavailable_reason, 'no memory cgroup', 'no cgroup: the reason');
is_deeply($u->tree_unmeasured, { processes => 'descendants not followed' }, 'tree_unmeasured');
is("$u", '"x": exit 0, maxrss 1300 kB, vmhwm 1284 kB, vmpeak 5004 kB, 0.012 s', 'summary without a tree');

# Could not start.
my $n = LogMemory::Result->_new(argv => ['nope'], command => 'nope', status => -1, errno => 2);
is($n->exit_code, undef, 'not started: no exit_code');
is($n->signal, undef, 'not started: no signal');
is($n->maxrss_kb, undef, 'not started: nothing measured');
is($n->tree_processes, undef, 'not started: no tree');
is_deeply([$n->processes], [], 'not started: no processes');
is("$n", '"nope": failed to start', 'not started: summary');

done_testing;
