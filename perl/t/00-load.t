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

# use LogMemory loads only its own files and the pragmas they use; the rest (JSON::PP,
# File::Temp, ...) is loaded by the first call that needs it.
my $loaded = qx{"$PERL" "-I$TDIR/../lib" -MLogMemory -e "print join q( ), sort keys %INC"};
my @extra = grep { !m{\ALogMemory(?:/|\.pm)} && !/\A(?:strict|warnings|warnings\/register|constant|overload|overloading)\.pm\z/ }
  split ' ', $loaded;
is_deeply(\@extra, [], 'use LogMemory loads nothing else') or diag $loaded;

done_testing;
