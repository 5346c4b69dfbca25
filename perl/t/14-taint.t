# perl -T: memsystem runs what CORE::system runs (LOGMEMORY_BIN set, environment cleaned), and
# dies where CORE::system dies, with Perl's message at the caller's line.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp qw(tempdir);

my $bin = need_binary();
my $dir = tempdir(CLEANUP => 1);
my $lib = "$TDIR/../lib";

# Each case is one line run once with CORE::system and once with memsystem; the child prints
# the return value, or $@ for a die. The tainted value is $ARGV[0].
my @cases = (
    ['a clean command',         q{F('true')}],
    ['a tainted argument',      q{F("echo $ARGV[0]")}],
    ['a tainted list argument', q{F('echo', $ARGV[0])}],
    ['a tainted PATH',          q{$ENV{PATH} = $ARGV[0] . ':/bin'; F('true')}],
    ['a tainted IFS',           q{$ENV{IFS} = $ARGV[0]; F('true')}],
);
for my $case (@cases) {
    my ($label, $code) = @$case;
    my %out;
    for my $f (qw(system memsystem)) {
        (my $line = $code) =~ s/\bF\(/$f(/;
        my $script = spew("$dir/$f.pl", <<"PERL");
use strict;
use warnings;
use LogMemory qw(memsystem);
\$ENV{PATH} = '/bin:/usr/bin';
delete \@ENV{qw(IFS CDPATH ENV BASH_ENV)};
my \$rv = eval {
$line
};
print defined \$rv ? "returned \$rv" : "died: \$@";
PERL
        local $ENV{LOGMEMORY_BIN} = $bin;
        $out{$f} = qx{"$PERL" -T "-I$lib" "$dir/$f.pl" tainted-value 2>/dev/null};
        $out{$f} =~ s/\Q$dir\/$f.pl\E/SCRIPT/g;
    }
    is($out{memsystem}, $out{system}, "perl -T, $label: $out{system}");
}

# The tainted log option is the caller's argument too.
my $script = spew("$dir/log.pl", <<'PERL');
use strict;
use warnings;
use LogMemory qw(memsystem);
$ENV{PATH} = '/bin:/usr/bin';
delete @ENV{qw(IFS CDPATH ENV BASH_ENV)};
eval {
    memsystem({ log => "/tmp/$ARGV[0]" }, 'true');
};
print $@;
PERL
my $out = qx{"$PERL" -T "-I$lib" "$script" tainted-value 2>&1};
is($out, "Insecure dependency in system while running with -T switch at $script line 7.\n",
    'perl -T, a tainted log option: Perl\'s message, at the caller\'s line');

done_testing;
