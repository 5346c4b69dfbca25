# In the string form the shell applies redirections: cmd.out and cmd.err get exactly the
# command's output, and logmemory measures the command, not the shell.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);
use LogMemory qw(memsystem memrun last_result);

need_binary();

my $dir     = tempdir(CLEANUP => 1);
my $printer = helper('printer.pl');

my $rv = memsystem("$PERL $printer hello   world 1>$dir/cmd.out 2>$dir/cmd.err");
is($rv, 0, 'memsystem returns 0');
is(slurp("$dir/cmd.out"), "stdout: hello world\n", 'cmd.out has exactly the command\'s stdout');
is(slurp("$dir/cmd.err"), "stderr: hello world\n", 'cmd.err has exactly the command\'s stderr');
is_deeply([last_result()->argv], [$PERL, $printer, 'hello', 'world'],
    'logmemory measured the command (argv as the shell expanded it), not /bin/sh');

# The documented migration: system("... 1>cmd.out 2>cmd.err") == 0 becomes memsystem(...) == 0.
ok(memsystem({ log => "$dir/mem.log" }, "$PERL $printer 'quoted  arg' >>$dir/cmd.out 2>&1") == 0,
    'append and 2>&1 redirections');
is(slurp("$dir/cmd.out"), "stdout: hello world\nstdout: quoted  arg\nstderr: quoted  arg\n",
    'appended both streams');
is_deeply([last_result()->argv], [$PERL, $printer, 'quoted  arg'], 'shell quoting applied');
ok(-s "$dir/mem.log", 'the log was written');

# Perl's own trailing 2>&1 (no shell): both streams to STDOUT.
{
    open my $saved, '>&', \*STDOUT or die $!;
    open STDOUT, '>', "$dir/both.out" or die $!;
    my $got = memsystem("$PERL $printer direct 2>&1");
    open STDOUT, '>&', $saved or die $!;
    is($got, 0, 'trailing 2>&1 form returns 0');
}
like(slurp("$dir/both.out"), qr/\Astd(?:out|err): direct\nstd(?:out|err): direct\n\z/,
    'trailing 2>&1 sends stderr to stdout');

# An input redirection and an expansion.
spew("$dir/in.txt", "abc\n");
my $r = memrun("$PERL -ne 'print uc' <$dir/in.txt >\"$dir/up.txt\"");
is(slurp("$dir/up.txt"), "ABC\n", 'input redirection');
is($r->exit_code, 0, 'memrun result');

done_testing;
