# memsystem returns what CORE::system returns, and leaves $? and $! as it does, for commands
# that exit 0, 1, 3 and 255, in list and string forms.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use LogMemory qw(memsystem memsystemx last_result);

need_binary();

my $system  = sub { system(@_) };
my $systemx = sub { my @cmd = @_; system { $cmd[0] } @cmd };
my $exiter  = helper('exiter.pl');

for my $value (0, 1, 3, 255) {
    for my $form (command_forms($PERL, $exiter, $value)) {
        my ($label, @cmd) = @$form;
        compare_with_system("exit $value, $label", \&memsystem, $system, @cmd);
        is(last_result()->exit_code, $value, "exit $value, $label: Result exit_code");
        is(last_result()->status, $value << 8, "exit $value, $label: Result status");
    }
    compare_with_system("exit $value, memsystemx", \&memsystemx, $systemx, $PERL, $exiter, $value);
}

# $! is left alone when the command runs, whatever it was before.
$! = 5;
memsystem($PERL, $exiter, 3);
is($! + 0, 5, '$! is unchanged after a command that ran');
is($?, 3 << 8, '$? is the wait status');

done_testing;
