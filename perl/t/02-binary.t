# The logmemory binary is found per call, then by "use LogMemory binary => PATH", then
# LOGMEMORY_BIN, then the installed path, then PATH; a missing one croaks naming LOGMEMORY_BIN.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);
use LogMemory ();

my $dir = tempdir(CLEANUP => 1);
my %bin;
for my $name (qw(call import env installed)) {
    mkdir "$dir/$name" or die $!;
    $bin{$name} = spew("$dir/$name/logmemory", "#!/bin/sh\nexit 0\n");
    chmod 0755, $bin{$name} or die $!;
}
mkdir "$dir/path" or die $!;
$bin{path} = spew("$dir/path/logmemory", "#!/bin/sh\nexit 0\n");
chmod 0755, $bin{path} or die $!;
mkdir "$dir/empty" or die $!;

local $ENV{PATH}             = "$dir/path";
local $ENV{LOGMEMORY_BIN}    = $bin{env};
local $LogMemory::INSTALLED_BINARY = $bin{installed};
local $LogMemory::DEFAULT_BINARY;
LogMemory->import(binary => $bin{import});

is(LogMemory::find_binary({ binary => $bin{call} }), $bin{call}, 'per-call binary first');
is(LogMemory::find_binary(), $bin{import}, 'then use LogMemory binary => PATH');
undef $LogMemory::DEFAULT_BINARY;
is(LogMemory::find_binary(), $bin{env}, 'then LOGMEMORY_BIN');
delete $ENV{LOGMEMORY_BIN};
is(LogMemory::find_binary(), $bin{installed}, 'then the installed path');
$LogMemory::INSTALLED_BINARY = '@LOGMEMORY_' . 'INSTALLED_BINARY@';
is(LogMemory::find_binary(), $bin{path}, 'then PATH (the unsubstituted placeholder is ignored)');

$ENV{PATH} = "$dir/empty";
my $err = eval { LogMemory::find_binary(); 1 } ? undef : $@;
isa_ok($err, 'LogMemory::Error', 'missing binary croaks with an error object');
like("$err", qr/\ALogMemory: cannot find the logmemory binary; .*\bLOGMEMORY_BIN\b.* at \S+ line \d+\.\n\z/,
    'the message names LOGMEMORY_BIN and is one line');
ok(!eval { LogMemory::memsystem('true'); 1 }, 'memsystem croaks too');
like("$@", qr/LOGMEMORY_BIN/, '... naming LOGMEMORY_BIN');
is(LogMemory::last_result(), undef, 'no result when the command never ran');

$ENV{LOGMEMORY_BIN} = "$dir/empty/nonexistent";
ok(!eval { LogMemory::find_binary(); 1 }, 'a wrong LOGMEMORY_BIN croaks rather than falling through');
like("$@", qr/\ALogMemory: logmemory binary "\Q$dir\E\/empty\/nonexistent" \(from LOGMEMORY_BIN\) is not an executable file/,
    '... naming the source');

ok(!eval { LogMemory->import(binary => undef); 1 }, 'use LogMemory binary => undef croaks');
like("$@", qr/needs a PATH/, '... with its message');

# Errors of "use LogMemory ..." point at the caller's use line, not into the module.
my $script = spew("$dir/use.pl", qq{use strict;\n\nuse LogMemory qw(memsystem no_such_function);\n});
my $out = qx{"$PERL" "-I$TDIR/../lib" "$script" 2>&1};
like($out, qr/\ALogMemory: "no_such_function" is not exported by the LogMemory module at \Q$script\E line 3\.\n/,
    'an unknown import croaks at the use line');
$script = spew("$dir/use-binary.pl", qq{use strict;\nuse LogMemory binary => '$dir/empty/nonexistent';\nLogMemory::memsystem('true');\n});
$out = qx{"$PERL" "-I$TDIR/../lib" "$script" 2>&1};
like($out, qr/\ALogMemory: logmemory binary "\Q$dir\E\/empty\/nonexistent" \(from use LogMemory binary => PATH\) is not an executable file at \Q$script\E line 3\.\n\z/,
    'a wrong binary => PATH: named as the source, at the call, without advice it cannot follow');

done_testing;
