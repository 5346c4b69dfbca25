# List arguments with spaces, ;, >, $ and * reach the program unchanged, with no shell.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);
use LogMemory qw(memsystem memsystemx memrunx last_result);

need_binary();

my $dir  = tempdir(CLEANUP => 1);
my $args = helper('args.pl');
my @odd  = ('a b', 'x;y', '>z', '$HOME', '*', "it's", '"q"', '`id`', '$(id)', '|', '&&', '', " lead");
my $want = join '', map { "<$_>\n" } @odd;

chdir $dir or die $!;
for my $case (['memsystem', \&memsystem], ['memsystemx', \&memsystemx], ['memrunx', \&memrunx]) {
    my ($name, $run) = @$case;
    unlink "$dir/args.txt";
    $run->($PERL, $args, "$dir/args.txt", @odd);
    is(last_result()->status, 0, "$name: ran");
    is(slurp("$dir/args.txt"), $want, "$name: arguments arrived unchanged");
    is_deeply([last_result()->argv], [$PERL, $args, "$dir/args.txt", @odd], "$name: Result argv");
    ok(!-e "$dir/z", "$name: > was not a redirection");
}

# memsystemx with one argument: a program name, even with spaces and metacharacters.
my $odd_name = "$dir/prog with; space";
spew($odd_name, "#!/bin/sh\nexit 7\n");
chmod 0755, $odd_name or die $!;
is(memsystemx($odd_name), 7 << 8, 'memsystemx runs a single argument as a program name');
is(with_stderr_to("$dir/stderr", sub { memsystemx("$odd_name 2>/dev/null") }), -1,
    'memsystemx does not parse a single string');
chdir '/';

done_testing;
