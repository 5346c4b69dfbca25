# The callers for which memsystem once differed from CORE::system (issue 13): a SIGCHLD
# reaper, an ignored SIGCHLD, -1 from exec (E2BIG), and a first word that is a builtin only
# after quoting or expansion. Each is run by both on the same command: return value, $?, $!.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use Cwd qw(getcwd);
use Errno qw(ECHILD E2BIG);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use LogMemory qw(memsystem memsystemx memrun memrunx last_result);

need_binary();

my $system  = sub { no warnings 'exec'; system(@_) };
my $systemx = sub { no warnings 'exec'; my @cmd = @_; system { $cmd[0] } @cmd };
my $exiter  = helper('exiter.pl');
my $dir     = tempdir(CLEANUP => 1);
my $stderr  = "$dir/stderr";

# 1. A caller that reaps its children from a SIGCHLD handler. The handler runs as soon as
# system returns; written with local ($?, $!), as perlipc advises, it changes nothing.
{
    local $SIG{CHLD} = sub { local ($?, $!); 1 while waitpid(-1, WNOHANG) > 0 };
    for my $form (command_forms($PERL, $exiter, 3), command_forms('/bin/true')) {
        my ($label, @cmd) = @$form;
        compare_with_system("reaper, $label", \&memsystem, $system, @cmd);
        ok(defined last_result()->maxrss_kb, "reaper, $label: measured");
    }
    compare_with_system('reaper, memsystemx', \&memsystemx, $systemx, '/bin/true');
}
# Without local, the handler's own waitpid sets $? to -1 after CORE::system returned; the
# return value is still the status, and memsystem's $? is that status (its handler ran inside).
{
    local $SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };
    for my $form (command_forms($PERL, $exiter, 3)) {
        my ($label, @cmd) = @$form;
        my $expect = $system->(@cmd);
        is(memsystem(@cmd), $expect, "reaper without local, $label: return value $expect");
        is($?, $expect, "reaper without local, $label: \$? is the status");
    }
    my $r = eval { memrun('/bin/true') };
    ok($r && $r->is_success, 'reaper: memrun("/bin/true") succeeds') or diag $@;
    $r = eval { memrunx({ allow => 3 }, $PERL, $exiter, 3) };
    is($r && $r->exit_code, 3, 'reaper: memrunx sees exit value 3') or diag $@;
}

# 2. A caller that ignores SIGCHLD: the kernel reaps logmemory itself and system returns -1
# with ECHILD, as perlfunc says; the command ran, and its record is kept.
{
    local $SIG{CHLD} = 'IGNORE';
    for my $form (command_forms($PERL, $exiter, 3)) {
        my ($label, @cmd) = @$form;
        my $got = with_stderr_to($stderr, sub {
            compare_with_system("SIGCHLD ignored, $label", \&memsystem, $system, @cmd);
            return $! + 0;
        });
        is($got, ECHILD, "SIGCHLD ignored, $label: \$! is ECHILD");
        my $record = last_result()->as_hash->{record};
        ok($record && defined last_result()->maxrss_kb, "SIGCHLD ignored, $label: the command was measured");
    }
    with_stderr_to($stderr, sub { memsystem($PERL, $exiter, 3) });
    is(last_result()->as_hash->{record}{cmd}[1], $exiter, 'SIGCHLD ignored: the record is the command\'s');
    ok(!eval { with_stderr_to($stderr, sub { memrunx($PERL, $exiter, 0) }); 1 },
        'SIGCHLD ignored: memrunx croaks, as IPC::System::Simple does');
    like("$@", qr/\A"\Q$PERL $exiter\E 0" failed to start: "No child processes" at /, '... failed to start');
    ok($@->result && defined $@->result->maxrss_kb, '... with the figures in ->result');
}

# 3. exec fails with E2BIG: -1 and $!, as CORE::system, never a croak.
{
    my @big = ('x' x 100_000) x 30;
    compare_with_system('E2BIG, list', \&memsystem, $system, '/bin/true', @big);
    is($! + 0, E2BIG, 'E2BIG, list: $! is E2BIG');
    compare_with_system('E2BIG, memsystemx', \&memsystemx, $systemx, '/bin/true', @big);
    compare_with_system('E2BIG, plain string', \&memsystem, $system, join(' ', '/bin/true', @big));
    ok(!eval { memrunx('/bin/true', @big); 1 }, 'E2BIG: memrunx croaks');
    like("$@", qr/\A"\/bin\/true x+ .*" failed to start: "Argument list too long" at /, '... failed to start');
}

# 4. A builtin that is the first word only after quoting or expansion: the shell runs it.
{
    my $cwd = getcwd();
    chdir $dir or die $!;
    local $ENV{X} = 'exit';
    for my $string (q{"cd" / >o}, q{'exit' 5 >o}, q{$X 3 >o}, q{$(echo exit) 4 >o}, q{${X} 6 >o},
                    q{`echo exit` 7 >o}, q{e\xit 8 >o}, q{X=1 exit 9 >o}) {
        compare_with_system("builtin: $string", \&memsystem, $system, $string);
    }
    chdir $cwd or die $!;
}

# A caller's signal handler that dies while system waits: its exception comes through as is.
{
    my $timeout = { why => 'timeout' };
    local $SIG{ALRM} = sub { die $timeout };
    for my $f (['system', $system], ['memsystem', \&memsystem]) {
        alarm 1;
        my $ok = eval { $f->[1]->('sleep', '2'); 1 };
        alarm 0;
        ok(!$ok && ref $@ && $@ == $timeout, "an ALRM handler's die comes out of $f->[0] unchanged");
    }
}

# The caller's $@ and $! survive a call, as they survive CORE::system.
$@ = "kept\n";
$! = 5;
memsystem('/bin/true');
is($@, "kept\n", '$@ is left alone');
is($! + 0, 5, '$! is left alone');

done_testing;
