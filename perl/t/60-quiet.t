# logmemory adds nothing to the command's stdout or stderr.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);
use LogMemory qw(memsystem memsystemx);

need_binary();

my $dir     = tempdir(CLEANUP => 1);
my $printer = helper('printer.pl');

# Run $code with our STDOUT and STDERR in files; return their contents.
sub captured {
    my ($code) = @_;
    open my $out, '>&', \*STDOUT or die $!;
    open my $err, '>&', \*STDERR or die $!;
    open STDOUT, '>', "$dir/out" or die $!;
    open STDERR, '>', "$dir/err" or die $!;
    $code->();
    open STDOUT, '>&', $out or die $!;
    open STDERR, '>&', $err or die $!;
    return (slurp("$dir/out"), slurp("$dir/err"));
}

for my $form (['list',   sub { memsystem($PERL, $printer, 'a', 'b') }],
              ['string', sub { memsystem("$PERL $printer a b") }],
              ['shell',  sub { memsystem("$PERL $printer a b </dev/null") }],
              ['memsystemx with a log', sub { memsystemx({ log => "$dir/mem.log" }, $PERL, $printer, 'a', 'b') }]) {
    my ($label, $code) = @$form;
    my ($out, $err) = captured($code);
    is($out, "stdout: a b\n", "$label: stdout is the command's only");
    is($err, "stderr: a b\n", "$label: stderr is the command's only");
}

# A command killed by a signal: nothing either (no "Killed" from a shell inside logmemory).
my ($out, $err) = captured(sub { memsystem($PERL, helper('signaler.pl'), 'TERM') });
is($out, '', 'signalled command: nothing on stdout');
is($err, '', 'signalled command: nothing on stderr');

done_testing;
