# Usage errors croak before anything runs: unknown options, bad tree options, format without
# log, bad allow, empty or undefined commands.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use LogMemory qw(:all);

local $ENV{LOGMEMORY_BIN} = '/bin/true';

my @cases = (
    ['unknown option',      sub { memsystem({ folow => 0 }, 'true') }, qr/^LogMemory: unknown option "folow" for memsystem\(\)/],
    ['undef follow',        sub { memsystem({ follow => undef }, 'true') }, qr/^LogMemory: option "follow" needs a defined value, true or false/],
    ['reference wait_all',  sub { memrunx({ wait_all => [] }, 'true') }, qr/^LogMemory: option "wait_all" needs a defined value, true or false/],
    ['undef per_process',   sub { memsystemx({ per_process => undef }, 'true') }, qr/^LogMemory: option "per_process" needs a defined value, true or false/],
    ['sample 0',            sub { memsystem({ sample => 0 }, 'true') }, qr/^LogMemory: option "sample" must be a whole number of milliseconds, at least 1/],
    ['sample not a number', sub { memrun({ sample => '10ms' }, 'true') }, qr/^LogMemory: option "sample" must be a whole number of milliseconds, at least 1/],
    ['sample negative',     sub { memrun({ sample => -5 }, 'true') }, qr/^LogMemory: option "sample" must be a whole number of milliseconds, at least 1/],
    ['empty sample',        sub { memsystem({ sample => '' }, 'true') }, qr/^LogMemory: option "sample" needs a defined, non-empty value/],
    ['allow for memsystem', sub { memsystem({ allow => [0] }, 'true') }, qr/^LogMemory: unknown option "allow" for memsystem\(\)/],
    ['format without log',  sub { memsystem({ format => 'json' }, 'true') }, qr/^LogMemory: option "format" needs option "log"/],
    ['empty log',           sub { memsystemx({ log => '' }, 'true') }, qr/^LogMemory: option "log" needs a defined, non-empty value/],
    ['bad allow',           sub { memrun({ allow => ['x'] }, 'true') }, qr/^LogMemory: option "allow" must be "any"/],
    ['allow out of range',  sub { memrunx({ allow => 256 }, 'true') }, qr/^LogMemory: option "allow" must be "any"/],
    ['empty allow',         sub { memrunx({ allow => [] }, 'true') }, qr/^LogMemory: option "allow" must be "any"/],
    ['no command',          sub { memsystem() }, qr/^LogMemory: no command given/],
    ['blank string',        sub { memsystem("  \t") }, qr/^LogMemory: no command given/],
    ['options only',        sub { memrunx({}) }, qr/^LogMemory: no command given/],
    ['undef argument',      sub { memsystem('echo', undef) }, qr/^LogMemory: undefined value in the command/],
);
for my $case (@cases) {
    my ($name, $code, $re) = @$case;
    my $line = __LINE__ + 1;
    ok(!eval { $code->(); 1 }, "$name croaks");
    my $err = $@;
    isa_ok($err, 'LogMemory::Error');
    like("$err", $re, "$name: message");
    like("$err", qr/ at \Q${\ __FILE__}\E line \d+\.\n\z/, "$name: one line, located at the caller");
    is(($err =~ tr/\n//), 1, "$name: exactly one line");
    is($err->result, undef, "$name: no result");
}

done_testing;
