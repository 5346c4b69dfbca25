#!/usr/bin/perl
# signaler.pl SIGNAL: kill ourselves with SIGNAL (a name such as TERM or KILL).
use strict;
use warnings;
my $sig = $ARGV[0] // 'TERM';
$SIG{$sig} = 'DEFAULT' unless $sig eq 'KILL' || $sig eq 'STOP';
kill $sig, $$;
sleep 10;
exit 99;    # not reached
