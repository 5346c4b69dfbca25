# A missing program, a non-executable file, a missing #! interpreter: -1 and $! where
# CORE::system execs the command itself (lists, plain strings), the shell's 127/126 where it
# uses the shell.
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

# A script whose #! interpreter does not exist: exec fails with ENOENT, found directly or in
# PATH (execvp goes on to the next directory, and finds nothing better here).
my $script = spew("$dir/bad-interpreter", "#!$dir/no-such-interpreter\nexit 0\n");
chmod 0755, $script or die $!;
{
    local $ENV{PATH} = "$dir:$ENV{PATH}";
    for my $form (['list', $script, 'arg'], ['string', $script], ['string with 2>&1', "$script 2>&1"],
                  ['name found in PATH', 'bad-interpreter'], ['string with a redirection', "$script </dev/null"],
                  ['string after ;', "true; $script"]) {
        my ($label, @cmd) = @$form;
        my $got = with_stderr_to($stderr, sub {
            compare_with_system("#! interpreter missing, $label", \&memsystem, $system, @cmd);
        });
        is(last_result()->status, $got, "#! interpreter missing, $label: Result status $got");
    }
    with_stderr_to($stderr, sub {
        compare_with_system('#! interpreter missing, memsystemx', \&memsystemx, $systemx, $script);
    });
}

done_testing;
