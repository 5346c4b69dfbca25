#!/usr/bin/perl
# allocator.pl MIB [SIGNAL]: allocate and touch MIB mebibytes, then exit 0 (or kill
# ourselves with SIGNAL while the memory is still held).
use strict;
use warnings;
my ($mib, $sig) = @ARGV;
my $buffer = "\x01" x ($mib * 1024 * 1024);    # every page written
if ($sig) {
    $SIG{$sig} = 'DEFAULT' unless $sig eq 'KILL';
    kill $sig, $$;
    sleep 10;
}
exit(length($buffer) == $mib * 1024 * 1024 ? 0 : 1);
