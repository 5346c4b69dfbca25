# The shell planner, from a table: how each string is run. 'direct': logmemory runs the words
# itself, as CORE::system would exec them; 'prefixed': sh -c 'logmemory ... STRING' (one simple
# command, measured as itself); 'shell': logmemory runs sh -c STRING (measured as a tree).
# Wherever the planner cannot be sure, the answer must be 'shell'.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LMTest;
use Test::More;
use LogMemory::Plan;

my @LM = ('/path/to/logmemory', '--record', '/tmp/r', '--');

my @table = (
    # string                              how         words when direct
    ['true',                              'direct',   [qw(true)]],
    ['  ls -l  /tmp ',                    'direct',   [qw(ls -l /tmp)]],
    ["ls -l\n",                           'direct',   [qw(ls -l)]],
    ['cd /tmp',                           'direct',   [qw(cd /tmp)]],       # Perl execs it too
    ['mycmd 1>out',                       'prefixed'],
    ['mycmd "an arg" 2>err',              'prefixed'],
    ['>out mycmd',                        'prefixed'],
    ['2>&1 mycmd x',                      'prefixed'],
    ['mycmd $HOME',                       'prefixed'],
    ['mycmd $(date)',                     'prefixed'],
    ['mycmd >&2',                         'prefixed'],
    ['mycmd "a;b" \'c|d\'',               'prefixed'],
    ['./run.sh "x" > o',                  'prefixed'],
    ['cd / >o',                           'shell'],
    ['"cd" / >o',                         'shell'],
    ["'exit' 5 >o",                       'shell'],
    ['$X 3 >o',                           'shell'],
    ['${X} 3 >o',                         'shell'],
    ['$(echo exit) 4 >o',                 'shell'],
    ['`echo exit` 4 >o',                  'shell'],
    ['e\\xit 4 >o',                       'shell'],
    ['ex""it 4 >o',                       'shell'],
    ['ech? hi >o',                        'shell'],
    ['~/bin/x >o',                        'shell'],
    ['>o exit 3',                         'shell'],
    ['X=1 mycmd >o',                      'shell'],
    ['exec mycmd',                        'shell'],
    ['. ./env.sh',                        'shell'],
    ['mycmd >o; other',                   'shell'],
    ['mycmd >o && other',                 'shell'],
    ['mycmd | other',                     'shell'],
    ['mycmd >o &',                        'shell'],
    ["mycmd >o\nother",                   'shell'],
    ['mycmd >o # comment',                'shell'],
    ['(mycmd) >o',                        'shell'],
    ['{ mycmd; } >o',                     'shell'],
    ['if true; then mycmd; fi',           'shell'],
    ['mycmd "unterminated >o',            'shell'],
    ['mycmd $(unterminated >o',           'shell'],
    ['echo $HOME',                        'shell'],
    ['test -f x && echo y',               'shell'],
);

for my $row (@table) {
    my ($string, $how, $words) = @$row;
    my $plan = LogMemory::Plan::plan(1, \@LM, $string);
    my $got = $plan->{direct} ? 'direct' : $plan->{run}[0] eq '/bin/sh' ? 'prefixed' : 'shell';
    (my $label = $string) =~ s/\n/\\n/g;
    is($got, $how, "[$label] is run $how");
    if ($how eq 'direct') {
        is_deeply($plan->{run}, [@LM, @$words], "[$label] words");
        is_deeply($plan->{argv}, $words, "[$label] argv");
    }
    elsif ($how eq 'prefixed') {
        is_deeply($plan->{run}, ['/bin/sh', '-c', join(' ', map { LogMemory::Plan::sh_quote($_) } @LM) . " $string"],
            "[$label] sh -c with logmemory in front");
    }
    else {
        is_deeply($plan->{run}, [@LM, '/bin/sh', '-c', $string], "[$label] logmemory runs the shell");
    }
    is($plan->{command}, $string, "[$label] command is the string");
}

# A trailing 2>&1 is honoured as Perl honours it, and lists never take a shell.
my $plan = LogMemory::Plan::plan(1, \@LM, 'mycmd x 2>&1');
is_deeply($plan->{run}, ['/bin/sh', '-c', 'exec "$@" 2>&1', 'sh', @LM, 'mycmd', 'x'], 'trailing 2>&1');
$plan = LogMemory::Plan::plan(1, \@LM, 'a;b', '>c');
is_deeply($plan->{run}, [@LM, 'a;b', '>c'], 'a list is run directly');
$plan = LogMemory::Plan::plan(0, \@LM, 'a; b');
is_deeply($plan->{run}, [@LM, 'a; b'], 'memsystemx: one argument is a program name');

done_testing;
