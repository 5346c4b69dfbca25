# Reading the record file: a JSON object, an empty file (nothing measured), garbage (warned
# about by the caller), lone surrogate escapes for bytes that are not UTF-8, command lines in
# "tree" and "processes"; and the file itself is a File::Temp file removed after each call.
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

($data, $problem) = read_record(qq({"cmd": ["sh"], "tree": {"max_vmhwm_cmd": ["caf\\u00e9"]},)
    . qq( "processes": [{"pid": 8, "cmd": ["sh"]}, {"pid": 9, "cmd": ["caf\\u00e9", "x"]}]}\n));
is_deeply($data->{tree}{max_vmhwm_cmd}, ["caf\xc3\xa9"], 'tree max_vmhwm_cmd comes back as UTF-8 bytes');
is_deeply($data->{processes}[1]{cmd}, ["caf\xc3\xa9", 'x'], 'processes cmd comes back as UTF-8 bytes');

($data, $problem) = read_record('');
ok(!$data && !$problem, 'an empty file: no record, no problem');

($data, $problem) = read_record("not json\n");
ok(!$data, 'garbage: no record');
like($problem, qr/\S/, 'garbage: a one-line reason') and unlike($problem, qr/\n/, 'one line');

($data, $problem) = read_record(qq({"cmd": ["a\\udc80b"]}\n));
is($problem, undef, 'a lone surrogate escape is accepted');
is(length $data->{cmd}[0], 4, 'and stands for one byte (as U+0080, UTF-8 encoded)');

# The record file: made by File::Temp in TMPDIR for each call, given to logmemory as --record
# FILE, and removed after the call, also when the command fails. A stand-in logmemory writes
# the record and notes the path.
{
    my $dir  = File::Temp::tempdir(CLEANUP => 1);
    my $fake = "$dir/logmemory";
    open my $fh, '>', $fake or die $!;
    print {$fh} <<"PERL";
#!$PERL
my (\$record) = map { \$ARGV[\$_ + 1] } grep { \$ARGV[\$_] eq '--record' } 0 .. \$#ARGV;
open my \$out, '>', \$record or die \$!;
print {\$out} qq({"cmd": ["x"], "pid": 1, "exit_code": 3}\\n);
close \$out;
open my \$note, '>', "$dir/path" or die \$!;
print {\$note} \$record;
exit 3;
PERL
    close $fh or die $!;
    chmod 0755, $fake or die $!;
    local $ENV{TMPDIR} = $dir;
    my $rv = LogMemory::memsystemx({ binary => $fake }, 'x');
    is($rv, 3 << 8, 'the stand-in ran');
    my $path = slurp("$dir/path");
    like($path, qr{\A\Q$dir\E/logmemory-record-}, 'the record file is a File::Temp file in TMPDIR');
    ok(!-e $path, 'and is removed after the call');
    is(LogMemory::last_result()->exit_code, 3, 'after its record was read');
    ok(!eval { LogMemory::memrunx({ binary => $fake }, 'x'); 1 }, 'memrunx croaks on exit value 3');
    $path = slurp("$dir/path");
    ok(!-e $path, 'the record file is removed when memrunx croaks too');
}

done_testing;
