# The module compiles, loads little, exports nothing by default and everything with :all.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;

my @functions = qw(memsystem memsystemx memrun memrunx last_result);

require_ok('LogMemory');
require_ok('LogMemory::Result');

for my $file (qw(LogMemory.pm LogMemory/Result.pm)) {
    my $path = $INC{$file};
    my $out  = qx{"$PERL" -c "-I$TDIR/../lib" "$path" 2>&1};
    is($?, 0, "perl -c $file") or diag $out;
    like($out, qr/syntax OK/, "perl -c $file says syntax OK");
}

{
    package Plain;
    LogMemory->import;
    ::ok(!defined &Plain::memsystem, 'nothing exported by default');
}
{
    package All;
    LogMemory->import(':all');
    ::ok(defined &{"All::$_"}, ":all exports $_") for @functions;
}
{
    package Some;
    LogMemory->import(qw(memrun));
    ::ok(defined &Some::memrun && !defined &Some::memsystem, 'exports by name only what is asked');
}
is_deeply([sort @LogMemory::EXPORT_OK], [sort @functions], '@EXPORT_OK');
is_deeply(\@LogMemory::EXPORT, [], '@EXPORT is empty');
ok(!eval { LogMemory->import('no_such_function'); 1 }, 'unknown import croaks');

# use LogMemory loads LogMemory.pm and the pragmas it uses, nothing else: the other packages,
# JSON::PP and File::Temp come with the first call.
my $loaded = qx{"$PERL" "-I$TDIR/../lib" -MLogMemory -e "print join q( ), sort keys %INC"};
my @extra = grep { !/\A(?:LogMemory|strict|warnings|warnings\/register|constant)\.pm\z/ } split ' ', $loaded;
is_deeply(\@extra, [], 'use LogMemory loads LogMemory.pm alone') or diag $loaded;

done_testing;
