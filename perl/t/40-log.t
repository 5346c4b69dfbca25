# With the log option, logmemory appends one record per call, and it matches the Result.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP ();
use LogMemory qw(:all);

need_binary();

my $dir    = tempdir(CLEANUP => 1);
my $exiter = helper('exiter.pl');
my $json   = "$dir/mem.jsonl";

my @results;
memsystem({ log => $json, format => 'json' }, $PERL, $exiter, 0);
push @results, last_result();
memsystemx({ log => $json, format => 'json' }, $PERL, $exiter, 3);
push @results, last_result();
push @results, memrun({ log => $json, format => 'json' }, "$PERL $exiter 0 </dev/null");
push @results, memrunx({ log => $json, format => 'json', allow => 'any' }, $PERL, helper('allocator.pl'), 8);

my @lines = split /\n/, slurp($json);
is(scalar @lines, scalar @results, 'one JSON record per call');
for my $i (0 .. $#results) {
    my $record = JSON::PP->new->decode($lines[$i]);
    my $r      = $results[$i];
    is($r->log_file, $json, "call $i: log_file");
    is($record->{$_}, $r->$_, "call $i: $_ matches the Result")
      for qw(pid exit_code vmhwm_kb vmpeak_kb maxrss_kb);
    is_deeply($record->{cmd}, [$r->argv], "call $i: cmd matches argv");
    is_deeply($record, $r->as_hash->{record}, "call $i: the log record is the Result's record");
}

# The default (text) format: one record per call too.
my $text = "$dir/mem.log";
memsystem({ log => $text }, $PERL, $exiter, 0) for 1 .. 3;
my $log = slurp($text);
my @dates = $log =~ /^Date: /mg;
is(scalar @dates, 3, 'text log: one record per call');
my ($maxrss) = $log =~ /\A.*^MaxRSS:\s+(\d+) kB$/ms;
is($maxrss, last_result()->maxrss_kb, 'text log: MaxRSS of the last record matches the Result');

# label => NAME and no_cgroup => 1 reach logmemory: the record has the label, and no cgroup.
memsystem({ log => "$dir/label.log", format => 'json', label => 'align', no_cgroup => 1 },
    $PERL, $exiter, 0);
my $labelled = JSON::PP->new->decode(slurp("$dir/label.log"));
is($labelled->{label}, 'align', 'label => NAME: in the record');
is($labelled->{tree}{unmeasured}{peak_kb}, 'no cgroup made, as asked (--no-cgroup)',
    'no_cgroup => 1: no cgroup, as asked');

# A log logmemory cannot write: logmemory fails before running the command, the module croaks.
ok(!eval { with_stderr_to("$dir/err", sub { memsystem({ log => "$dir/no/such/dir/mem.log" }, $PERL, $exiter, 0) }); 1 },
    'unwritable log croaks');
like("$@", qr/\ALogMemory: logmemory failed before running ".*" \(exit value 125\); its message is on STDERR at /,
    '... with the documented message');
like(slurp("$dir/err"), qr/\Alogmemory: /, 'logmemory said why on STDERR');

done_testing;
