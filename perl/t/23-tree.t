# The process tree: a shell whose child touches 64 MiB is small itself while the tree's largest
# process is the child; follow => 0, wait_all => 1, sample => MS and per_process => 1 reach
# logmemory and do what they say.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes ();
use LogMemory qw(:all);

need_binary();

my $dir       = tempdir(CLEANUP => 1);
my $allocator = helper('allocator.pl');
my $floor     = 64 * 1024;    # kB
my %SOURCE    = map { $_ => 1 } qw(cgroup1 cgroup2 sampled);

# A wrapper: the shell runs the allocator as a child (not by exec, because of "; true").
for my $form (['shell string', sub { memsystem("$PERL $allocator 64; true"); last_result() }],
              ['sh -c list',   sub { memrunx('sh', '-c', "$PERL $allocator 64; true") }]) {
    my ($label, $run) = @$form;
    my $r = $run->();
    is($r->exit_code, 0, "$label: exit 0");
    cmp_ok($r->vmhwm_kb, '<', $floor / 4, "$label: the top process (the shell) is small");
    cmp_ok($r->tree_max_vmhwm_kb, '>=', $floor, "$label: tree_max_vmhwm_kb >= 65536");
    is_deeply([$r->tree_max_vmhwm_cmd], [$PERL, $allocator, 64], "$label: tree_max_vmhwm_cmd names the allocator");
    cmp_ok($r->tree_processes, '>=', 2, "$label: tree_processes counts the shell and its child");
    cmp_ok($r->tree_threads, '>=', $r->tree_processes, "$label: tree_threads");
    my @processes = $r->processes;
    is(scalar @processes, $r->tree_processes, "$label: one processes entry per process");
    my ($top) = grep { $_->{pid} == $r->pid } @processes;
    ok($top, "$label: the top process is listed");
    my ($max) = grep { $_->{pid} == $r->tree_max_vmhwm_pid } @processes;
    ok($max, "$label: so is the largest one");
    is($max && $max->{ppid}, $r->pid, "$label: the largest is the shell's child");
    is($max && $max->{vmhwm_kb}, $r->tree_max_vmhwm_kb, "$label: its entry has the same VmHWM");
    is_deeply($max && $max->{cmd}, [$PERL, $allocator, 64], "$label: and its command line");
    if (defined $r->tree_peak_kb) {
        ok($SOURCE{ $r->tree_peak_source }, "$label: tree_peak_source is " . $r->tree_peak_source);
        cmp_ok($r->tree_peak_kb, '>=', $floor, "$label: tree_peak_kb >= 65536")
          if $r->tree_peak_source =~ /\Acgroup/;
    }
    else {
        like($r->tree_peak_unavailable_reason, qr/\S/, "$label: no concurrent peak, with a reason");
    }
    like("$r", qr/, \d+ processes, tree max vmhwm \d+ kB/, "$label: the summary has the tree");
    is_deeply($r->as_hash->{processes}, \@processes, "$label: as_hash has the processes");
}

# follow => 0: only the top process is traced; the tree figures are undef.
{
    my $got = memsystem({ follow => 0 }, "$PERL $allocator 64; true");
    is($got, 0, 'follow => 0: same return value');
    my $r = last_result();
    is($r->tree_processes, undef, 'follow => 0: tree_processes is undef');
    is($r->tree_threads, undef, 'follow => 0: tree_threads is undef');
    is($r->tree_max_vmhwm_kb, undef, 'follow => 0: tree_max_vmhwm_kb is undef');
    is($r->tree_max_vmhwm_pid, undef, 'follow => 0: tree_max_vmhwm_pid is undef');
    is_deeply([$r->tree_max_vmhwm_cmd], [], 'follow => 0: tree_max_vmhwm_cmd is empty');
    is_deeply([$r->processes], [], 'follow => 0: processes is empty');
    ok(exists $r->tree_unmeasured->{processes}, 'follow => 0: tree_unmeasured says why');
    cmp_ok($r->maxrss_kb, '>=', $floor, 'follow => 0: maxrss_kb still counts the waited-for child');
    unlike("$r", qr/processes/, 'follow => 0: the summary has no tree');

    my $r1 = memrunx({ follow => 1 }, 'sh', '-c', "$PERL $allocator 8; true");
    cmp_ok($r1->tree_processes, '>=', 2, 'follow => 1 is the default: the tree is followed');
}

# wait_all => 1: a background process that outlives the command is waited for and measured.
{
    my $marker = "$dir/background-done";
    my $cmd = "($PERL -e 'select undef, undef, undef, 0.5'; $PERL $allocator 24; echo done >$marker)"
            . " </dev/null >/dev/null 2>&1 & exit 0";
    is(memsystem($cmd), 0, 'without wait_all: exit 0');
    ok(!-e $marker, 'without wait_all: returns while the background job still runs');
    my $r = last_result();
    ok(!defined $r->tree_max_vmhwm_kb || $r->tree_max_vmhwm_kb < 24 * 1024,
        'without wait_all: the background allocator is not measured');
    for (1 .. 100) { last if -e $marker; Time::HiRes::sleep(0.1) }
    ok(-e $marker, 'the background job finished on its own');
    unlink $marker;

    is(memsystem({ wait_all => 1 }, $cmd), 0, 'wait_all => 1: exit 0');
    ok(-e $marker, 'wait_all => 1: returns only after the background job ended');
    $r = last_result();
    cmp_ok($r->tree_max_vmhwm_kb, '>=', 24 * 1024, 'wait_all => 1: the background allocator is measured');
    is_deeply([$r->tree_max_vmhwm_cmd], [$PERL, $allocator, 24], 'wait_all => 1: and named');
}

# sample => MS: accepted by logmemory; the figure is from a cgroup where one can be made, else sampled.
{
    my $r = memrunx({ sample => 10 }, 'sh', '-c', "$PERL $allocator 16; true");
    is($r->exit_code, 0, 'sample => 10: exit 0');
    ok(defined $r->tree_peak_kb, 'sample => 10: there is a concurrent peak');
    ok($SOURCE{ $r->tree_peak_source // '' }, 'sample => 10: from a cgroup or sampled');
    cmp_ok($r->tree_peak_kb, '>=', 16 * 1024, 'sample => 10: a cgroup figure is at least the allocator')
      if ($r->tree_peak_source // '') =~ /\Acgroup/;    # sampling can miss a short peak
}

# per_process => 1: one Process: line per process in the text log.
{
    my $log = "$dir/mem.log";
    my $r = memrunx({ log => $log, per_process => 1 }, 'sh', '-c', "$PERL $allocator 1; true");
    my @lines = slurp($log) =~ /^Process:/mg;
    is(scalar @lines, $r->tree_processes, 'per_process => 1: one Process: line per process');
    memrunx({ log => "$dir/plain.log" }, 'sh', '-c', "$PERL $allocator 1; true");
    unlike(slurp("$dir/plain.log"), qr/^Process:/m, 'without per_process: no Process: lines');
}

done_testing;
