package LogMemory::Error;

use 5.014;
use strict;
use warnings;

our $VERSION = '0.01';

use overload '""' => \&as_string, bool => sub { 1 }, fallback => 1;

# The first frame outside the LogMemory packages: where the caller called us (croak's rule,
# without loading Carp).
sub _caller {
    for (my $level = 1; my @frame = caller $level; $level++) {
        return @frame[1, 2] unless $frame[0] =~ /\ALogMemory(?:::|\z)/;
    }
    return ('unknown', 0);
}

sub _new {
    my ($class, %args) = @_;
    my ($file, $line) = _caller();
    return bless { %args, file => $file, line => $line }, $class;
}

sub message   { return $_[0]{message} }
sub result    { return $_[0]{result} }
sub file      { return $_[0]{file} }
sub line      { return $_[0]{line} }
sub as_string { my ($self) = @_; return "$self->{message} at $self->{file} line $self->{line}.\n" }

# What IPC::System::Simple's messages carry, as values.
sub command     { my ($self) = @_; return $self->{result} && $self->{result}{command} }
sub exit_value  { my ($self) = @_; return $self->{result} && $self->{result}->exit_code }
sub signal      { my ($self) = @_; return $self->{result} && $self->{result}->signal }
sub core_dumped { my ($self) = @_; return $self->{result} ? $self->{result}->core_dumped : 0 }
sub started_ok  { my ($self) = @_; return $self->{result} && $self->{result}->status != -1 ? 1 : 0 }

1;

__END__

=head1 NAME

LogMemory::Error - the exception LogMemory throws

=head1 SYNOPSIS

    use LogMemory qw(memrun);

    eval { memrun('bigjob --all') };
    if (my $err = $@) {
        warn "$err";                       # '"bigjob --all" died to signal "KILL" (9) at x.pl line 3.'
        if ($err->started_ok) {
            printf "exit value %s, signal %s, peak %s kB\n", $err->exit_value // '-',
                $err->signal // '-', $err->result->peak_kb // '?';
        }
    }

=head1 DESCRIPTION

Every error of L<LogMemory> is an object of this class. Stringified, it is one line: the
message, " at FILE line N.", and a newline, where FILE and N are the caller's (the line of the
C<memrun> call, or of the C<use LogMemory> line for an import error), as C<croak> gives them.
In boolean context it is true.

The messages of C<memrun> and C<memrunx> about how the command ended are those of
L<IPC::System::Simple>, so that C<$@ =~ /.../> handlers written for it keep working; the
measurement is behind C<result>. One difference: the quoted command is the whole command line
(program and arguments), where IPC::System::Simple quotes only the program of a list. Usage
errors (an unknown option, no command) keep LogMemory's own wording. The messages are listed
under DIAGNOSTICS in L<LogMemory>.

=head1 METHODS

=over 4

=item message

The text without the location.

=item file, line

Where the caller made the call that failed.

=item result

The L<LogMemory::Result> of the command, for errors about how it ended (or that it did not
start); undef for errors raised before it ran (usage errors, no binary).

=item command

The command as one line, as in the message; undef without a result.

=item exit_value

The exit value, or undef if the command was killed by a signal or did not start.

=item signal

The number of the signal that killed the command, or undef.

=item core_dumped

1 if the command was killed by a signal and dumped core, else 0.

=item started_ok

1 if the command ran (even if it ended badly), 0 if it did not start or the error came before
it.

=item as_string

The one-line text with the location, as stringification gives it.

=back

=head1 SEE ALSO

L<LogMemory>, L<LogMemory::Result>, L<IPC::System::Simple>

=cut
