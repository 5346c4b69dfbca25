# Strings with ;, |, &&, || and subshells run exactly as under CORE::system (same $? and
# effects); the shell that runs them is the top process (t/23-tree.t: the tree covers the rest).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);
use LogMemory qw(memsystem last_result);

need_binary();

my $dir    = tempdir(CLEANUP => 1);
my $exiter = helper('exiter.pl');
my $ex     = "$PERL $exiter";

my @cases = (
    ['a; b',     "echo one >$dir/%s; $ex 4"],
    ['a && b',   "$ex 0 && echo two >$dir/%s"],
    ['a || b',   "$ex 2 || echo three >$dir/%s"],
    ['a && b false', "$ex 5 && echo four >$dir/%s"],
    ['pipeline', "printf 'x\\ny\\n' | wc -l >$dir/%s"],
    ['subshell', "( cd $dir && echo five >%s )"],
    ['newline',  "echo six >$dir/%s\n$ex 6"],
    ['builtin',  "cd $dir && echo seven >%s"],
    ['assignment', "LM_TEST=eight sh -c 'echo \$LM_TEST' >$dir/%s"],
    ['quoted ;', "echo 'a;b' >$dir/%s"],
    ['$( ; )',   "echo \$(echo nine; echo ten) >$dir/%s"],
);
my $n = 0;
for my $case (@cases) {
    my ($label, $template) = @$case;
    $n++;
    my $sys_cmd = sprintf $template, "sys$n";
    my $mem_cmd = sprintf $template, "mem$n";
    my $expect  = system($sys_cmd);
    my $expect_status = $?;
    my $got     = memsystem($mem_cmd);
    is($got, $expect, "$label: return value $expect");
    is($?, $expect_status, "$label: \$?");
    is(last_result()->status, $expect_status, "$label: Result status");
    my ($s, $m) = ("$dir/sys$n", "$dir/mem$n");
    is(-e $m ? slurp($m) : undef, -e $s ? slurp($s) : undef, "$label: same effect");
    ok(defined last_result()->maxrss_kb, "$label: measured");
}

# The routing: one simple command is measured itself, anything else as /bin/sh -c STRING.
memsystem("$ex 0 </dev/null");
is((last_result()->argv)[0], $PERL, 'a simple command with a redirection is measured itself');
memsystem("true; $ex 0");
is_deeply([last_result()->argv], ['/bin/sh', '-c', "true; $ex 0"], 'a list runs with the shell as the top process');

done_testing;
