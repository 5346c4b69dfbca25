# Every public package has POD that names each of its public subroutines in a =head or =item
# line (Pod::Coverage's rule, written out: Test::Pod::Coverage is not in core Perl), and the
# POD is well formed (podchecker's rules, through core Pod::Checker).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use Pod::Checker;

my @packages = qw(LogMemory LogMemory::Result LogMemory::Error LogMemory::Plan);

for my $package (@packages) {
    (my $file = "$package.pm") =~ s{::}{/}g;
    require $file;
    my $path = $INC{$file};

    my $checker = Pod::Checker->new(-warnings => 2);
    open my $null, '>', File::Spec->devnull or die $!;
    $checker->parse_from_file($path, $null);
    is($checker->num_errors, 0, "$package: podchecker finds no errors");
    is($checker->num_warnings, 0, "$package: podchecker finds no warnings");

    my $source = slurp($path);
    my ($name) = $source =~ /^=head1 NAME\s+(\S+) - \S/m;
    is($name, $package, "$package: NAME section names the package");

    my %documented = map { $_ => 1 } map { /(\w+)/g } $source =~ /^=(?:head\d|item)\s+(.*)$/mg;
    no strict 'refs';
    my @subs = grep {
        my $code = *{"${package}::$_"}{CODE};
        # Its own subroutines only (not imported ones), not private, not message constants.
        $code && /\A[A-Za-z]\w*\z/ && !/\A[EW]_[A-Z_]+\z/ && $_ ne 'import'
          && do { require B; B::svref_2object($code)->GV->STASH->NAME eq $package };
    } sort keys %{"${package}::"};
    cmp_ok(scalar @subs, '>', 0, "$package: has public subroutines");
    ok($documented{$_}, "$package: $_ is documented") for @subs;
}

done_testing;
