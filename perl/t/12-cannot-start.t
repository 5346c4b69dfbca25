# A missing program and a non-executable file: -1 and $! where CORE::system execs the command
# itself (lists, plain strings), the shell's 127/126 where it uses the shell.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);
use LogMemory qw(memsystem memsystemx last_result);

need_binary();

my $system  = sub { no warnings 'exec'; system(@_) };
my $systemx = sub { no warnings 'exec'; my @cmd = @_; system { $cmd[0] } @cmd };
my $dir     = tempdir(CLEANUP => 1);
my $stderr  = "$dir/stderr";
my $plain   = spew("$dir/plain-file", "#!/bin/sh\nexit 0\n");
chmod 0644, $plain or die $!;

my %program = (
    'missing program'      => "$dir/no-such-program",
    'missing program in PATH' => 'logmemory-test-no-such-command',
    'non-executable file'  => $plain,
    'directory'            => $dir,
);
for my $what (sort keys %program) {
    my $prog = $program{$what};
    my @forms = (
        ['list',                      $prog, 'arg'],
        ['string',                    $prog],
        ['string with a redirection', "$prog </dev/null"],
        ['string after ;',            "true; $prog"],
    );
    for my $form (@forms) {
        my ($label, @cmd) = @$form;
        my $got = with_stderr_to($stderr, sub {
            compare_with_system("$what, $label", \&memsystem, $system, @cmd);
        });
        if ($got == -1) {
            is(last_result()->status, -1, "$what, $label: Result status -1");
            is(last_result()->exit_code, undef, "$what, $label: no exit_code");
            is(last_result()->maxrss_kb, undef, "$what, $label: nothing measured");
            like(slurp($stderr), qr/\A(?:logmemory: [^\n]*\n)+\z/, "$what, $label: only logmemory: lines on STDERR");
        }
    }
    for my $cmd ([$prog], [$prog, 'arg']) {
        with_stderr_to($stderr, sub {
            compare_with_system("$what, memsystemx(@{[ scalar @$cmd ]} args)", \&memsystemx, $systemx, @$cmd);
        });
    }
}

done_testing;
