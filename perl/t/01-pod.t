# POD is well formed (core Pod::Checker), has the sections in the agreed order, and lists every
# message constant verbatim under DIAGNOSTICS.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use Pod::Checker;

require LogMemory;
require LogMemory::Result;
require LogMemory::Error;
require LogMemory::Plan;
my %file = (main => $INC{'LogMemory.pm'}, result => $INC{'LogMemory/Result.pm'},
            error => $INC{'LogMemory/Error.pm'}, plan => $INC{'LogMemory/Plan.pm'});

for my $path (values %file) {
    my $checker = Pod::Checker->new(-warnings => 2);
    open my $null, '>', File::Spec->devnull or die $!;
    $checker->parse_from_file($path, $null);
    is($checker->num_errors, 0, "no POD errors in $path");
    is($checker->num_warnings, 0, "no POD warnings in $path");
}

my $source = slurp($file{main});
my @heads = $source =~ /^=head1\s+(.+?)\s*$/mg;
is_deeply(\@heads, [
    'NAME', 'SYNOPSIS', 'DESCRIPTION', 'EXPORTS', 'FUNCTIONS', 'RESULT', 'SHELL VS LIST',
    'EXIT STATUS AND $?', 'MIGRATING FROM system()', 'TAINT MODE', 'DIAGNOSTICS', 'ENVIRONMENT',
    'BUGS AND LIMITATIONS', 'SEE ALSO', 'AUTHOR', 'LICENSE AND COPYRIGHT',
], 'POD sections in order');

my ($synopsis) = $source =~ /^=head1 SYNOPSIS\n(.*?)^=head1/ms;
like($synopsis, qr/\A\s*The idiom.*?system\(.*?\) == 0.*?memsystem/s,
    'SYNOPSIS starts with the migration from system(...) == 0');

my ($diagnostics) = $source =~ /^=head1 DIAGNOSTICS\n(.*?)^=head1/ms;
my %items = map { $_ => 1 } $diagnostics =~ /^=item (.+?)\s*$/mg;

my @messages;
for my $package (qw(LogMemory LogMemory::Result)) {
    no strict 'refs';
    for my $name (sort grep { /\A[EW]_[A-Z_]+\z/ } keys %{"${package}::"}) {
        push @messages, [$name, $package->can($name)->()];
    }
}
cmp_ok(scalar @messages, '>=', 15, 'found the message constants');
for my $message (@messages) {
    my ($name, $text) = @$message;
    ok($items{$text}, "$name is listed verbatim under DIAGNOSTICS") or diag $text;
    unlike($text, qr/\n/, "$name is one line");
}

# DIAGNOSTICS lists the messages in the order the modules declare them (LogMemory, then
# LogMemory::Result), and nothing else.
my @declared;
for my $path ($file{main}, $file{result}) {
    my $code = slurp($path);
    $code =~ s/^__END__\n.*//ms;
    my %value = map { $_->[0] => $_->[1] } @messages;
    push @declared, map { $value{$_} } $code =~ /^\s*(?:use constant\s+)?([EW]_[A-Z_]+)\s*=>/mg;
}
my @listed = $diagnostics =~ /^=item (.+?)\s*$/mg;
is_deeply(\@listed, \@declared, 'DIAGNOSTICS: every message, in the order declared, nothing else');

done_testing;
