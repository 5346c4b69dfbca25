# A child that touches 64 MiB is measured at 64 MiB or more, and VmPeak >= VmHWM.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use LogMemory qw(memsystem memrunx last_result);

need_binary();

my $allocator = helper('allocator.pl');
my $floor     = 64 * 1024;    # kB

for my $form (['list', sub { memrunx($PERL, $allocator, 64) }],
              ['string', sub { memsystem("$PERL $allocator 64 >/dev/null"); last_result() }]) {
    my ($label, $run) = @$form;
    my $r = $run->();
    is($r->exit_code, 0, "$label: allocator exited 0");
    cmp_ok($r->vmhwm_kb,  '>=', $floor, "$label: vmhwm_kb >= 65536");
    cmp_ok($r->maxrss_kb, '>=', $floor, "$label: maxrss_kb >= 65536");
    cmp_ok($r->vmpeak_kb, '>=', $r->vmhwm_kb, "$label: vmpeak_kb >= vmhwm_kb");
    cmp_ok($r->maxrss_kb, '<', 4 * $floor, "$label: maxrss_kb is not wildly high");
    ok(defined $r->elapsed_s && $r->elapsed_s >= 0, "$label: elapsed_s");
    ok(defined $r->pid && $r->pid > 0, "$label: pid");
}

# A small command is measured far below the allocator.
my $small = memrunx($PERL, '-e', '1');
cmp_ok($small->maxrss_kb, '<', $floor / 2, 'a small command stays small');
cmp_ok($small->maxrss_kb, '>', 0, 'and is never 0');

done_testing;
