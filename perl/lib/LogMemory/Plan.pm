package LogMemory::Plan;

use 5.014;
use strict;
use warnings;

our $VERSION = '0.01';

# Words /bin/sh treats itself (reserved words and dash's builtins): a string starting with one
# of them is run by a measured shell rather than handed to "exec".
my %SHELL_WORD = map { $_ => 1 } qw(
  ! { } [[ ]] case do done elif else esac fi for function if in select then until while
  . : [ alias bg break cd chdir command continue echo eval exec exit export false fc fg getopts
  hash jobs kill let local printf pwd read readonly return set shift source test times trap true
  type typeset ulimit umask unalias unset wait
);

# How to run the command: 'direct' when CORE::system would exec it itself (a list, or a string
# without shell metacharacters), otherwise through /bin/sh.
sub plan {
    my ($shell_ok, $logmemory, @args) = @_;
    if (@args > 1 || !$shell_ok) {
        return { direct => 1, argv => [@args], command => join(' ', @args),
                 run => [@$logmemory, @args] };
    }
    my $string = $args[0];
    my ($words, $stderr_to_stdout) = perl_words($string);
    if ($words) {
        my @run = $stderr_to_stdout
          ? ('/bin/sh', '-c', 'exec "$@" 2>&1', 'sh', @$logmemory, @$words)
          : (@$logmemory, @$words);
        return { direct => 1, argv => [@$words], command => $string, run => \@run };
    }
    if (is_simple_command($string)) {
        # The shell applies the redirections and runs logmemory, whose child is the command.
        # No "exec": the shell reports logmemory's wait status (which is the command's) exactly
        # as it would report the command's, e.g. 128+N for a signal under dash.
        my $script = join(' ', map { sh_quote($_) } @$logmemory) . " $string";
        return { argv => ['/bin/sh', '-c', $string], command => $string,
                 run => ['/bin/sh', '-c', $script] };
    }
    # A list, pipeline or compound command: logmemory runs the shell (its top process) and
    # follows the commands the shell starts (the tree figures).
    return { argv => ['/bin/sh', '-c', $string], command => $string,
             run => [@$logmemory, '/bin/sh', '-c', $string] };
}

# Perl's own rule (doio.c, do_exec3) for running a one-string system() without a shell: returns
# the words, or nothing when the string has shell metacharacters.
sub perl_words {
    my ($string) = @_;
    (my $cmd = $string) =~ s/\A\s+//;
    return if $cmd =~ /\A\.\s/ || $cmd =~ /\Aexec\s/ || $cmd =~ /\A\w*=/;
    my $stderr_to_stdout = 0;
    $cmd =~ s/\n\z//;
    $stderr_to_stdout = 1 if $cmd =~ s/(?<=\S)(\s+)2>&1\s*\z//;
    return if $cmd =~ /[\$&*(){}\[\]'";\\|?<>~`\n]/;
    my @words = split ' ', $cmd;
    return unless @words;
    return (\@words, $stderr_to_stdout);
}

# True when the string is one simple command (words and redirections) that logmemory can be
# put in front of: its first word is a plain word (no quoting, expansion or pattern, which
# could make it a builtin or an assignment) that is not a reserved word or builtin, and it has
# no unquoted ; & | ( ) newline or comment. False is always safe.
sub is_simple_command {
    my ($string) = @_;
    (my $s = $string) =~ s/\s+\z//;
    my ($first) = $s =~ /\A\s*(?:[0-9]*[<>]{1,2}[&|]?\s*[^\s<>|&;()]+\s+)*([^\s<>|&;()]*)/;
    return 0 if !defined $first || $first !~ m{\A[\w/.,:+\@%-]+\z}a || $SHELL_WORD{$first};
    my @stack;
    my $len = length $s;
    for (my $i = 0; $i < $len; $i++) {
        my $c   = substr $s, $i, 1;
        my $top = @stack ? $stack[-1] : '';
        if ($top eq "'") { pop @stack if $c eq "'"; next }
        if ($c eq '\\') { $i++; next }
        if ($top eq '`') { pop @stack if $c eq '`'; next }
        my $next = substr $s, $i + 1, 1;
        if ($c eq '$' && ($next eq '(' || $next eq '{')) { push @stack, '$' . $next; $i++; next }
        if ($top eq '"') {
            if    ($c eq '"') { pop @stack }
            elsif ($c eq '`') { push @stack, '`' }
            next;
        }
        if ($c eq "'" || $c eq '"' || $c eq '`') { push @stack, $c; next }
        if ($top eq '${') { pop @stack if $c eq '}'; next }
        if ($top eq '$(' || $top eq '(') {
            if    ($c eq '(') { push @stack, '(' }
            elsif ($c eq ')') { pop @stack }
            next;
        }
        my $prev = $i ? substr($s, $i - 1, 1) : ' ';
        next if ($c eq '&' && ($prev eq '>' || $prev eq '<') && $next ne '&')
             || ($c eq '|' && $prev eq '>' && $next ne '|');
        return 0 if $c =~ /[;&|()\n]/;
        return 0 if $c eq '#' && $prev =~ /\s/;
    }
    return @stack ? 0 : 1;
}

sub sh_quote {
    my ($word) = @_;
    $word =~ s/'/'\\''/g;
    return "'$word'";
}

1;

__END__

=head1 NAME

LogMemory::Plan - how LogMemory runs a command: directly, or through /bin/sh

=head1 SYNOPSIS

    my $plan = LogMemory::Plan::plan($shell_ok, [@logmemory_invocation], @command);
    system { $plan->{run}[0] } @{ $plan->{run} };

=head1 DESCRIPTION

The part of L<LogMemory> that decides, for a command given as C<CORE::system> takes it, how
to run it under logmemory so that it does exactly what C<CORE::system> would do (see "SHELL VS
LIST" in L<LogMemory>). Kept apart so that it can be read, and tested from a table, on its own.
It runs nothing. Not a stable interface: use L<LogMemory>.

=head1 FUNCTIONS

=over 4

=item plan($shell_ok, \@logmemory, @args)

Returns a hash reference: C<run>, the argument vector to give to C<system>; C<argv>, the
command's own argument vector (C<('/bin/sh', '-c', STRING)> through the shell); C<command>, the
command as one line for messages; and C<direct>, true when no shell stands between the caller
and logmemory. C<$shell_ok> is false for C<memsystemx>/C<memrunx>.

=item perl_words($string)

Perl's own rule (F<doio.c>) for a one-string C<system> without a shell: the list of words and
whether a trailing C<2E<gt>&1> was taken off, or an empty list when the string has shell
metacharacters.

=item is_simple_command($string)

True when the string is one simple command whose first word is a plain word that is not a
shell reserved word or builtin, so that logmemory can be put in front of it; false whenever
this is not certain (then the whole string is given to the shell).

=item sh_quote($word)

The word in single quotes, for /bin/sh.

=back

=head1 SEE ALSO

L<LogMemory>

=cut
