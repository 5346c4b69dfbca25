#!/usr/bin/perl
# args.pl FILE ARGS...: write each ARG to FILE as "<ARG>\n", to show how it arrived.
use strict;
use warnings;
my $file = shift @ARGV;
open my $fh, '>', $file or die "args.pl: $file: $!\n";
print {$fh} "<$_>\n" for @ARGV;
close $fh or die "args.pl: $file: $!\n";
exit 0;
