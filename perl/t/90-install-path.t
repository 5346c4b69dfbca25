# The installed-binary path: the placeholder occurs once, and the documented sed substitution
# turns it into a path the module uses after LOGMEMORY_BIN and before PATH.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);

require LogMemory;
require LogMemory::Result;
require LogMemory::Error;
require LogMemory::Plan;
my $source = slurp($INC{'LogMemory.pm'});
my $placeholder = '@LOGMEMORY_' . 'INSTALLED_BINARY@';
my @found = $source =~ /\Q$placeholder\E/g;
if (!@found) {
    no warnings 'once';
    like($LogMemory::INSTALLED_BINARY, qr{\A/}, 'this copy is installed: the recorded path is absolute');
    done_testing;
    exit;
}
is(scalar @found, 1, 'the placeholder occurs exactly once');

my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/lib" or die $!;
mkdir "$dir/lib/LogMemory" or die $!;
spew("$dir/lib/LogMemory.pm", $source);
spew("$dir/lib/$_", slurp($INC{$_})) for grep { m{\ALogMemory/} } keys %INC;
my $bin = spew("$dir/logmemory", "#!/bin/sh\nexit 0\n");
chmod 0755, $bin or die $!;

SKIP: {
    skip 'no sed', 3 unless grep { -x "$_/sed" } split /:/, $ENV{PATH};
    # The command documented at the top of LogMemory.pm, with our path.
    my ($script) = $source =~ /^#\s+sed -i '(s\|[^|]+\|)[^|]+\|' LogMemory\.pm$/m;
    ok(defined $script, 'LogMemory.pm documents the sed command') or $script = "s|$placeholder|";
    system('sed', '-i', "$script$bin|", "$dir/lib/LogMemory.pm") == 0 or die "sed failed";
    local $ENV{LOGMEMORY_BIN};
    delete $ENV{LOGMEMORY_BIN};
    local $ENV{PATH} = '/nonexistent';
    my $found = qx{"$PERL" -I"$dir/lib" -MLogMemory -e "print LogMemory::find_binary()"};
    is($found, $bin, 'after the sed, the module finds the installed binary');
    local $ENV{LOGMEMORY_BIN} = '/bin/true';
    $found = qx{"$PERL" -I"$dir/lib" -MLogMemory -e "print LogMemory::find_binary()"};
    is($found, '/bin/true', 'LOGMEMORY_BIN still comes first');
}

done_testing;
