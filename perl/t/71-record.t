# Reading the record file: a JSON object, an empty file (nothing measured), garbage (warned
# about by the caller), and lone surrogate escapes for bytes that are not UTF-8.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use File::Temp ();
use LogMemory ();

sub read_record {
    my ($text) = @_;
    my $tmp = File::Temp->new;
    print {$tmp} $text;
    close $tmp;
    return LogMemory::_read_record($tmp->filename);
}

my ($data, $problem) = read_record(qq({"cmd": ["ls", "caf\\u00e9"], "pid": 7, "maxrss_kb": 10}\n));
is($problem, undef, 'a record is no problem');
is($data->{pid}, 7, 'fields are read');
is_deeply($data->{cmd}, ['ls', "caf\xc3\xa9"], 'cmd comes back as UTF-8 bytes');

($data, $problem) = read_record('');
ok(!$data && !$problem, 'an empty file: no record, no problem');

($data, $problem) = read_record("not json\n");
ok(!$data, 'garbage: no record');
like($problem, qr/\S/, 'garbage: a one-line reason') and unlike($problem, qr/\n/, 'one line');

($data, $problem) = read_record(qq({"cmd": ["a\\udc80b"]}\n));
is($problem, undef, 'a lone surrogate escape is accepted');
is(length $data->{cmd}[0], 4, 'and stands for one byte (as U+0080, UTF-8 encoded)');

done_testing;
