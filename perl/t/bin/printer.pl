#!/usr/bin/perl
# printer.pl WORDS...: print "stdout: WORDS\n" on STDOUT and "stderr: WORDS\n" on STDERR.
use strict;
use warnings;
$| = 1;
print STDOUT "stdout: @ARGV\n";
print STDERR "stderr: @ARGV\n";
exit 0;
