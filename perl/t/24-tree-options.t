# The tree options become exactly these logmemory options (seen by a stand-in logmemory that
# writes its arguments into the record): follow => 0 is --no-follow, wait_all => 1 is
# --wait-all, sample => MS is --sample=MS, per_process => 1 is --per-process; the defaults add
# nothing. No real binary is needed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);
use LogMemory qw(:all);

my $dir  = tempdir(CLEANUP => 1);
my $fake = spew("$dir/logmemory", <<"PERL");
#!$PERL
use strict;
use JSON::PP ();
my \@seen = \@ARGV;
my \$record;
while (\@ARGV) {
    my \$arg = shift \@ARGV;
    last if \$arg eq '--';
    \$record = shift \@ARGV if \$arg eq '--record';
}
open my \$fh, '>', \$record or die "\$record: \$!";
print {\$fh} JSON::PP->new->encode({ cmd => [\@ARGV], pid => \$\$, exit_code => 0, seen => \\\@seen });
exit 0;
PERL
chmod 0755, $fake or die $!;

# The logmemory options given, i.e. what comes before --record.
sub options_for {
    my ($opt) = @_;
    memsystemx({ binary => $fake, %$opt }, 'true');
    my @seen = @{ last_result()->as_hash->{record}{seen} };
    my @options;
    while (@seen && $seen[0] ne '--record') { push @options, shift @seen }
    return \@options;
}

my @cases = (
    ['no options',        {},                          []],
    ['follow => 1',       { follow => 1 },             []],
    ['follow => 0',       { follow => 0 },             ['--no-follow']],
    ["follow => ''",      { follow => '' },            ['--no-follow']],
    ['wait_all => 1',     { wait_all => 1 },           ['--wait-all']],
    ['wait_all => 0',     { wait_all => 0 },           []],
    ['sample => 50',      { sample => 50 },            ['--sample=50']],
    ["sample => '007'",   { sample => '007' },         ['--sample=7']],
    ['per_process => 1',  { per_process => 1 },        ['--per-process']],
    ['per_process => 0',  { per_process => 0 },        []],
    ['all of them',       { follow => 0, wait_all => 1, sample => 5, per_process => 1 },
                          ['--no-follow', '--per-process', '--wait-all', '--sample=5']],
    ['with log',          { log => "$dir/m.log", format => 'json', wait_all => 1 },
                          ['-o', "$dir/m.log", '--format', 'json', '--wait-all']],
);
for my $case (@cases) {
    my ($label, $opt, $expect) = @$case;
    is_deeply(options_for($opt), $expect, "$label: @$expect");
}

# memrun and memrunx take them too.
memrun({ binary => $fake, follow => 0, allow => 'any' }, 'true');
ok((grep { $_ eq '--no-follow' } @{ last_result()->as_hash->{record}{seen} }), 'memrun passes follow => 0');
memrunx({ binary => $fake, wait_all => 1 }, 'true');
ok((grep { $_ eq '--wait-all' } @{ last_result()->as_hash->{record}{seen} }), 'memrunx passes wait_all => 1');

# A record without "tree" (a logmemory that does not follow children): undef, not 0 or errors.
my $r = last_result();
is($r->tree_processes, undef, 'no tree in the record: tree_processes is undef');
is($r->tree_peak_kb, undef, 'no tree in the record: tree_peak_kb is undef');
is_deeply([$r->processes], [], 'no processes in the record: an empty list');

done_testing;
