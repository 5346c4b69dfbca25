package LMTest;

# Shared by the tests: finds perl/lib, the helper children in t/bin, and the logmemory
# program under test ($ENV{LOGMEMORY_BIN}; a failure in CI, a skip by hand when unset).

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use Test::More ();

my $T;
BEGIN { $T = File::Spec->rel2abs(dirname(dirname(__FILE__))) }    # perl/t

# The module under test: perl/lib, unless "make test" already put blib in front.
use if !(grep { m{(?:^|/)blib/lib/?\z} } @INC), lib => File::Spec->catdir($T, File::Spec->updir, 'lib');

our @EXPORT = qw(need_binary helper sh_quote slurp spew command_forms compare_with_system
                 with_stderr_to $PERL $TDIR);
use Exporter 'import';

our $PERL = $^X;
our $TDIR = $T;

sub helper { return File::Spec->catfile($T, 'bin', $_[0]) }

# The logmemory program under test: LOGMEMORY_BIN, else the first logmemory in PATH (so that
# "perl Makefile.PL && make test" tests the installed one), exported as LOGMEMORY_BIN for the
# module and the children. Without either: a skip by hand, a failure in CI.
sub need_binary {
    my $bin = $ENV{LOGMEMORY_BIN};
    if (!defined $bin || $bin eq '') {
        ($bin) = grep { -f && -x _ } map { (length ? $_ : '.') . '/logmemory' }
          split /:/, defined $ENV{PATH} ? $ENV{PATH} : '', -1;
        $ENV{LOGMEMORY_BIN} = $bin if defined $bin;
    }
    my $why = !defined $bin              ? 'LOGMEMORY_BIN is not set and no logmemory in PATH'
            : !-f $bin || !-x _          ? "LOGMEMORY_BIN=$bin is not an executable file"
            :                              undef;
    return $bin unless defined $why;
    if ($ENV{CI} || defined $bin) {
        Test::More::plan(tests => 1);
        Test::More::fail("$why; set it to the logmemory program under test");
        exit 1;
    }
    Test::More::plan(skip_all => "$why; set it to the logmemory program under test to run these tests");
}

# The ways to give one command to memsystem: a list, and strings run directly, through a shell
# that execs logmemory, and through a measured shell.
sub command_forms {
    my (@words) = @_;
    my $string = join ' ', map { m{\A[\w/.,:+=\@%-]+\z} ? $_ : sh_quote($_) } @words;
    return (
        ['list',                      @words],
        ['string',                    $string],
        ['string with a redirection', "$string </dev/null"],
        ['string after ;',            "true; $string"],
        ['string after &&',           "true && $string"],
    );
}

# Run @cmd with $reference (CORE::system) and $mine (a LogMemory function) side by side and
# compare the return value, $? and $!.
sub compare_with_system {
    my ($label, $mine, $reference, @cmd) = @_;
    $! = 0;
    my $expect = $reference->(@cmd);
    my ($expect_status, $expect_errno) = ($?, $! + 0);
    $! = 0;
    my $got = $mine->(@cmd);
    my ($got_status, $got_errno) = ($?, $! + 0);
    Test::More::is($got, $expect, "$label: return value $expect");
    Test::More::is($got_status, $expect_status, "$label: \$? $expect_status");
    Test::More::is($got_errno, $expect_errno, "$label: \$! $expect_errno");
    return $got;
}

# Run $code with STDERR sent to $file; returns what $code returns (list context).
sub with_stderr_to {
    my ($file, $code) = @_;
    open my $saved, '>&', \*STDERR or die "cannot dup STDERR: $!";
    open STDERR, '>', $file or die "cannot write $file: $!";
    my @result = eval { $code->() };
    my $err = $@;
    open STDERR, '>&', $saved or die "cannot restore STDERR: $!";
    die $err if $err;
    return wantarray ? @result : $result[0];
}

sub sh_quote {
    my ($word) = @_;
    $word =~ s/'/'\\''/g;
    return "'$word'";
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or die "cannot read $file: $!";
    local $/;
    my $data = <$fh>;
    return defined $data ? $data : '';
}

sub spew {
    my ($file, $data) = @_;
    open my $fh, '>:raw', $file or die "cannot write $file: $!";
    print {$fh} $data;
    close $fh or die "cannot write $file: $!";
    return $file;
}

1;
