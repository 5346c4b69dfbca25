# A command killed by SIGTERM or SIGKILL gives the same return value and $? as under
# CORE::system (logmemory re-raises the signal), in list and string forms.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp ();
use LogMemory qw(memsystem memsystemx last_result);

need_binary();

my $system   = sub { system(@_) };
my $systemx  = sub { my @cmd = @_; system { $cmd[0] } @cmd };
my $signaler = helper('signaler.pl');
my $stderr   = File::Temp->new;

my %number = (TERM => 15, KILL => 9);
for my $sig (sort keys %number) {
    for my $form (command_forms($PERL, $signaler, $sig)) {
        my ($label, @cmd) = @$form;
        with_stderr_to($stderr->filename, sub {
            compare_with_system("SIG$sig, $label", \&memsystem, $system, @cmd);
        });
        my $r = last_result();
        is($r->status, $?, "SIG$sig, $label: Result status is \$?");
        if ($label =~ /string /) {
            # Through /bin/sh: dash reports the signal as exit value 128+N, bash passes it on.
            ok(($r->signal // 0) == $number{$sig} || ($r->exit_code // 0) == 128 + $number{$sig},
                "SIG$sig, $label: signal or 128+N, as the shell reports it");
            is($r->as_hash->{record}{signal}, "SIG$sig", "SIG$sig, $label: the record says how the command ended")
                if $label eq 'string with a redirection';
            next;
        }
        is($r->signal, $number{$sig}, "SIG$sig, $label: Result signal");
        is($r->signal_name, "SIG$sig", "SIG$sig, $label: Result signal_name");
        is($r->exit_code, undef, "SIG$sig, $label: no exit_code");
        ok(!$r->core_dumped, "SIG$sig, $label: no core");
    }
    with_stderr_to($stderr->filename, sub {
        compare_with_system("SIG$sig, memsystemx", \&memsystemx, $systemx, $PERL, $signaler, $sig);
    });
}

done_testing;
