# last_result() is the Result of the latest call, whichever function made it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use LogMemory qw(:all);

need_binary();

my $exiter = helper('exiter.pl');
is(last_result(), undef, 'undef before any call');

memsystem($PERL, $exiter, 1);
is(last_result()->exit_code, 1, 'after memsystem');
memsystemx($PERL, $exiter, 2);
is(last_result()->exit_code, 2, 'after memsystemx');
my $r = memrun({ allow => [3] }, "$PERL $exiter 3");
is(last_result(), $r, 'after memrun: the returned Result');
$r = memrunx({ allow => [4] }, $PERL, $exiter, 4);
is(last_result(), $r, 'after memrunx: the returned Result');
eval { memrunx($PERL, $exiter, 5) };
is(last_result()->exit_code, 5, 'after a memrunx that croaked');
eval { memsystem({ bogus => 1 }, $PERL, $exiter, 6) };
is(last_result(), undef, 'undef after a call that croaked before running');
is(LogMemory::last_result(), undef, 'also as LogMemory::last_result()');

done_testing;
