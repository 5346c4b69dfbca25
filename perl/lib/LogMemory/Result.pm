package LogMemory::Result;

use 5.014;
use strict;
use warnings;

use Carp ();
use POSIX ();

our $VERSION = '0.01';

use constant E_READ_ONLY => 'LogMemory::Result: %s is read-only';

use overload '""' => \&as_string, bool => sub { 1 }, fallback => 1;

my @MEMORY = qw(vmhwm_kb vmpeak_kb maxrss_kb);
my @TIMES  = qw(elapsed_s user_s sys_s);

# Built by LogMemory from the wait status and the record logmemory wrote (undef if none).
sub _new {
    my ($class, %args) = @_;
    my $record = $args{record};
    my %self = (
        command  => $args{command},
        argv     => [@{ $args{argv} || [] }],
        status   => $args{status},
        errno    => $args{errno},
        log_file => $args{log_file},
        record   => $record,
    );
    if ($record) {
        $self{pid} = $record->{pid};
        for my $key (@MEMORY) {
            my $kb = $record->{$key};
            $self{$key} = defined $kb && $kb =~ /\A[0-9]+\z/ && $kb > 0 ? 0 + $kb : undef;
        }
        $self{$_} = $record->{$_} for @TIMES;
        $self{unmeasured} = ref $record->{unmeasured} eq 'HASH' ? $record->{unmeasured} : {};
        $self{signal_name} = $record->{signal};
    }
    return bless \%self, $class;
}

for my $name (qw(pid status log_file), @MEMORY, @TIMES) {
    no strict 'refs';
    *{$name} = sub {
        Carp::croak(sprintf E_READ_ONLY, $name) if @_ > 1;
        return $_[0]{$name};
    };
}

sub argv {
    my ($self) = @_;
    Carp::croak(sprintf E_READ_ONLY, 'argv') if @_ > 1;
    return @{ $self->{argv} };
}

sub exit_code {
    my ($self) = @_;
    Carp::croak(sprintf E_READ_ONLY, 'exit_code') if @_ > 1;
    my $status = $self->{status};
    return $status != -1 && POSIX::WIFEXITED($status) ? POSIX::WEXITSTATUS($status) : undef;
}

sub signal {
    my ($self) = @_;
    Carp::croak(sprintf E_READ_ONLY, 'signal') if @_ > 1;
    my $status = $self->{status};
    return $status != -1 && ($status & 127) ? $status & 127 : undef;
}

sub signal_name {
    my ($self) = @_;
    Carp::croak(sprintf E_READ_ONLY, 'signal_name') if @_ > 1;
    my $signo = $self->signal;
    return undef unless defined $signo;
    return $self->{signal_name} if defined $self->{signal_name};
    require Config;
    my @names   = split ' ', $Config::Config{sig_name};
    my @numbers = split ' ', $Config::Config{sig_num};
    for my $i (0 .. $#numbers) {
        return "SIG$names[$i]" if $numbers[$i] == $signo;
    }
    return "SIG$signo";
}

sub core_dumped {
    my ($self) = @_;
    Carp::croak(sprintf E_READ_ONLY, 'core_dumped') if @_ > 1;
    my $status = $self->{status};
    return $status != -1 && ($status & 127) && ($status & 128) ? 1 : 0;
}

sub unmeasured {
    my ($self) = @_;
    Carp::croak(sprintf E_READ_ONLY, 'unmeasured') if @_ > 1;
    return { %{ $self->{unmeasured} || {} } };
}

sub is_success {
    my ($self) = @_;
    Carp::croak(sprintf E_READ_ONLY, 'is_success') if @_ > 1;
    return $self->{status} == 0 ? 1 : 0;
}

sub as_hash {
    my ($self) = @_;
    Carp::croak(sprintf E_READ_ONLY, 'as_hash') if @_ > 1;
    my %hash = map { $_ => $self->$_ }
      qw(pid status exit_code signal signal_name core_dumped log_file is_success unmeasured),
      @MEMORY, @TIMES;
    $hash{argv}   = [$self->argv];
    $hash{record} = $self->{record} ? _copy($self->{record}) : undef;
    return \%hash;
}

sub as_string {
    my ($self) = @_;
    my $command = join ' ', $self->argv;
    $command = $self->{command} if defined $self->{command};
    $command =~ s/\n/\\n/g;
    $command =~ s/([\x00-\x1f\x7f])/sprintf '\\x%02x', ord $1/ge;
    my $how = $self->{status} == -1   ? 'failed to start'
            : defined $self->signal   ? 'killed by ' . $self->signal_name
                                        . ($self->core_dumped ? ' (core dumped)' : '')
            :                           'exit ' . $self->exit_code;
    my @parts = ("\"$command\": $how");
    if ($self->{status} != -1) {
        for my $key (qw(maxrss vmhwm vmpeak)) {
            my $kb = $self->{"${key}_kb"};
            push @parts, "$key " . (defined $kb ? "$kb kB" : 'unmeasured');
        }
        push @parts, sprintf '%.3f s', $self->{elapsed_s} if defined $self->{elapsed_s};
    }
    return join ', ', @parts;
}

sub _copy {
    my ($data) = @_;
    return [map { _copy($_) } @$data] if ref $data eq 'ARRAY';
    return { map { $_ => _copy($data->{$_}) } keys %$data } if ref $data eq 'HASH';
    return $data;
}

1;

__END__

=head1 NAME

LogMemory::Result - what logmemory measured about one command

=head1 SYNOPSIS

    use LogMemory qw(memrun);

    my $r = memrun('mycmd', '--big');
    print "$r\n";                        # one-line summary
    printf "%d kB\n", $r->maxrss_kb if defined $r->maxrss_kb;
    my %all = %{ $r->as_hash };

=head1 DESCRIPTION

Results are made by L<LogMemory>'s functions (C<memrun> returns one; C<last_result> gives the
latest) and never change. Every accessor croaks with "LogMemory::Result: %s is read-only" if it
is given an argument.

=head1 METHODS

=over 4

=item argv

The command's argument vector, as a list of byte strings. For a string run through the shell it
is what logmemory recorded.

=item pid

The process id of the command, or undef if it did not run or was not recorded.

=item status

The raw 16-bit wait status, as in C<$?>, or -1 if the command could not be started.

=item exit_code

The exit value (0-255), or undef if the command was killed by a signal or did not start.

=item signal

The number of the signal that killed the command, or undef.

=item signal_name

The name of that signal, such as C<SIGTERM>, or undef.

=item core_dumped

1 if the command was killed by a signal and dumped core, else 0.

=item vmhwm_kb

The peak resident set size (VmHWM from F</proc/PID/status>) in kibibytes.

=item vmpeak_kb

The peak virtual memory size (VmPeak) in kibibytes.

=item maxrss_kb

The maximum resident set size reported by wait4 (ru_maxrss), in kibibytes. It includes the
largest descendant the command waited for.

The three memory values are undef, never 0, when they were not measured.

=item elapsed_s, user_s, sys_s

Wall-clock, user CPU and system CPU seconds, or undef.

=item unmeasured

A new hash reference: for each measurement that is undef, logmemory's reason.

=item log_file

The C<log> option of the call, or undef.

=item is_success

1 if the status is 0, else 0.

=item as_hash

A new hash reference with all of the values above, C<argv> as an array reference, and
C<record>, a copy of the JSON record logmemory wrote (undef if none).

=back

Stringified, a Result is a one-line summary:

    "sleep 1": exit 0, maxrss 1300 kB, vmhwm 1284 kB, vmpeak 5004 kB, 1.003 s

=head1 SEE ALSO

L<LogMemory>

=cut
