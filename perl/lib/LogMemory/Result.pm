package LogMemory::Result;

use 5.014;
use strict;
use warnings;

our $VERSION = '0.01';

use constant E_READ_ONLY => 'LogMemory::Result: %s is read-only';

use overload '""' => \&as_string, bool => sub { 1 }, fallback => 1;

my @MEMORY = qw(vmhwm_kb vmpeak_kb maxrss_kb);
my @TIMES  = qw(elapsed_s user_s sys_s);
my @TREE   = qw(tree_processes tree_threads tree_max_vmhwm_kb tree_max_vmhwm_pid tree_peak_kb
                tree_peak_source tree_peak_unavailable_reason);

# A count or size in the record: a positive whole number, else undef (never 0).
sub _positive {
    my ($value) = @_;
    return defined $value && !ref $value && $value =~ /\A[0-9]+\z/ && $value > 0 ? 0 + $value : undef;
}

sub _string {
    my ($value) = @_;
    return defined $value && !ref $value && length $value ? "$value" : undef;
}

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

        # The process tree ("tree" and "processes" in the record); absent from records written
        # before logmemory followed children, and mostly null with --no-follow.
        my $tree = ref $record->{tree} eq 'HASH' ? $record->{tree} : {};
        $self{"tree_$_"} = _positive($tree->{$_})
          for qw(processes threads max_vmhwm_kb max_vmhwm_pid peak_kb);
        $self{"tree_$_"} = _string($tree->{$_}) for qw(peak_source peak_unavailable_reason);
        $self{tree_max_vmhwm_cmd} = ref $tree->{max_vmhwm_cmd} eq 'ARRAY' ? [@{ $tree->{max_vmhwm_cmd} }] : [];
        $self{tree_unmeasured}    = ref $tree->{unmeasured} eq 'HASH' ? _copy($tree->{unmeasured}) : {};
        my @processes;
        for my $entry (ref $record->{processes} eq 'ARRAY' ? @{ $record->{processes} } : ()) {
            next unless ref $entry eq 'HASH';
            my $process = _copy($entry);
            $process->{$_} = _positive($entry->{$_}) for grep { exists $entry->{$_} } @MEMORY;
            push @processes, $process;
        }
        $self{processes} = \@processes;
    }
    return bless \%self, $class;
}

for my $name (qw(pid status log_file), @MEMORY, @TIMES, @TREE) {
    no strict 'refs';
    *{$name} = sub {
        _read_only($name) if @_ > 1;
        return $_[0]{$name};
    };
}

sub _read_only {
    my ($name) = @_;
    require Carp;
    Carp::croak(sprintf E_READ_ONLY, $name);
}

sub argv {
    my ($self) = @_;
    _read_only('argv') if @_ > 1;
    return @{ $self->{argv} };
}

sub tree_max_vmhwm_cmd {
    my ($self) = @_;
    _read_only('tree_max_vmhwm_cmd') if @_ > 1;
    return @{ $self->{tree_max_vmhwm_cmd} || [] };
}

sub tree_unmeasured {
    my ($self) = @_;
    _read_only('tree_unmeasured') if @_ > 1;
    return { %{ $self->{tree_unmeasured} || {} } };
}

sub processes {
    my ($self) = @_;
    _read_only('processes') if @_ > 1;
    return map { _copy($_) } @{ $self->{processes} || [] };
}

sub exit_code {
    my ($self) = @_;
    _read_only('exit_code') if @_ > 1;
    my $status = $self->{status};
    return $status != -1 && !($status & 127) ? $status >> 8 : undef;
}

sub signal {
    my ($self) = @_;
    _read_only('signal') if @_ > 1;
    my $status = $self->{status};
    return $status != -1 && ($status & 127) ? $status & 127 : undef;
}

sub signal_name {
    my ($self) = @_;
    _read_only('signal_name') if @_ > 1;
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
    _read_only('core_dumped') if @_ > 1;
    my $status = $self->{status};
    return $status != -1 && ($status & 127) && ($status & 128) ? 1 : 0;
}

sub unmeasured {
    my ($self) = @_;
    _read_only('unmeasured') if @_ > 1;
    return { %{ $self->{unmeasured} || {} } };
}

# The job's peak as one figure: the concurrent peak where there is one, else the largest
# single-process figure measured (a lower bound of the concurrent peak).
sub peak_kb {
    my ($self) = @_;
    _read_only('peak_kb') if @_ > 1;
    return ($self->_peak)[0];
}

sub peak_source {
    my ($self) = @_;
    _read_only('peak_source') if @_ > 1;
    return ($self->_peak)[1];
}

sub _peak {
    my ($self) = @_;
    return ($self->{tree_peak_kb}, $self->{tree_peak_source})
      if defined $self->{tree_peak_kb} && defined $self->{tree_peak_source};
    my ($tree, $own) = @$self{qw(tree_max_vmhwm_kb maxrss_kb)};
    return ($tree, 'tree_max_vmhwm') if defined $tree && (!defined $own || $tree > $own);
    return ($own, 'maxrss') if defined $own;
    return (undef, undef);
}

sub is_success {
    my ($self) = @_;
    _read_only('is_success') if @_ > 1;
    return $self->{status} == 0 ? 1 : 0;
}

sub as_hash {
    my ($self) = @_;
    _read_only('as_hash') if @_ > 1;
    my %hash = map { $_ => $self->$_ }
      qw(pid status exit_code signal signal_name core_dumped log_file is_success unmeasured
         tree_unmeasured peak_kb peak_source),
      @MEMORY, @TIMES, @TREE;
    $hash{argv}   = [$self->argv];
    $hash{tree_max_vmhwm_cmd} = [$self->tree_max_vmhwm_cmd];
    $hash{processes} = [$self->processes];
    $hash{record} = $self->{record} ? _copy($self->{record}) : undef;
    return \%hash;
}

sub as_string {
    my ($self) = @_;
    my $command = join ' ', $self->argv;
    $command = $self->{command} if defined $self->{command};
    $command =~ s/\n/\\n/g;
    $command =~ s/([\x00-\x1f\x7f])/sprintf '\\x%02x', ord $1/ge;
    my $record = $self->{record};
    my $how = $self->{status} == -1 && !$record ? 'failed to start'
            : $self->{status} == -1       ? 'not waited for (status -1), recorded '
                                            . (defined $record->{signal} ? "signal $record->{signal}"
                                                                         : "exit $record->{exit_code}")
            : defined $self->signal       ? 'killed by ' . $self->signal_name
                                            . ($self->core_dumped ? ' (core dumped)' : '')
            :                               'exit ' . $self->exit_code;
    my @parts = ("\"$command\": $how");
    if ($self->{status} != -1 || $record) {
        for my $key (qw(maxrss vmhwm vmpeak)) {
            my $kb = $self->{"${key}_kb"};
            push @parts, "$key " . (defined $kb ? "$kb kB" : 'unmeasured');
        }
        push @parts, sprintf '%.3f s', $self->{elapsed_s} if defined $self->{elapsed_s};
        my $count = $self->{tree_processes};
        if (defined $count && $count > 1) {
            my $kb = $self->{tree_max_vmhwm_kb};
            push @parts, "$count processes",
              'tree max vmhwm ' . (defined $kb ? "$kb kB" : 'unmeasured');
            push @parts, "tree peak $self->{tree_peak_kb} kB ($self->{tree_peak_source})"
              if defined $self->{tree_peak_kb} && defined $self->{tree_peak_source};
        }
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

The peak resident set size (VmHWM from F</proc/PID/status>) in kibibytes, of the command's own
process (the last program it ran). For the processes it started, see the C<tree_> methods.

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

=item tree_processes, tree_threads

The number of processes (the command and every descendant logmemory followed) and of threads the
job ran; undef with the C<follow =E<gt> 0> option.

=item tree_max_vmhwm_kb, tree_max_vmhwm_pid, tree_max_vmhwm_cmd

The largest single-process VmHWM in the tree, in kibibytes, and the process id and command line
(a list, empty when unknown) of the process that reached it: for C<sh -c 'mycmd; true'> this is
C<mycmd>, not the shell. Undef (and an empty list) with C<follow =E<gt> 0>.

=item tree_peak_kb, tree_peak_source, tree_peak_unavailable_reason

The job's concurrent peak: everything alive at once, in kibibytes, and where it comes from:
C<cgroup2> (F<memory.peak>), C<cgroup1> (F<memory.max_usage_in_bytes>) or C<sampled> (the
C<sample> option). Where logmemory could not make a memory cgroup for the job and no C<sample>
was asked for, C<tree_peak_kb> and C<tree_peak_source> are undef and
C<tree_peak_unavailable_reason> says why. The cgroup figure is what the kernel charged to the
job, page cache and kernel memory included, so it can differ from a sum of RSS.

=item peak_kb, peak_source

The job's peak as one figure, in kibibytes, and which measurement it is: the concurrent peak
(C<tree_peak_kb>) where there is one, with its source (C<cgroup2>, C<cgroup1>, C<sampled>);
otherwise the larger of C<tree_max_vmhwm_kb> (source C<tree_max_vmhwm>) and C<maxrss_kb>
(source C<maxrss>), a single process's peak and so a lower bound of the job's. Both undef
when nothing was measured. For a report that must say what it shows, print both.

=item tree_unmeasured

A new hash reference: for each tree measurement that is undef, logmemory's reason.

=item processes

One new hash reference per process logmemory followed, in the order of the record, with the keys
C<pid>, C<ppid>, C<cmd> (array reference), C<vmhwm_kb>, C<vmpeak_kb>, C<maxrss_kb> (undef, never
0, when not measured), C<exit_code>, C<signal>, C<threads>, C<start_s> and C<end_s> (seconds from
the start of the job); in scalar context, their number. Empty with C<follow =E<gt> 0> (the
command's own figures are the top-level ones) and when nothing was recorded.

=item log_file

The C<log> option of the call, or undef.

=item is_success

1 if the status is 0, else 0.

=item as_hash

A new hash reference with all of the values above, C<argv>, C<tree_max_vmhwm_cmd> and
C<processes> as array references, and C<record>, a copy of the JSON record logmemory wrote
(undef if none).

=item as_string

The one-line summary below; also what a Result gives when used as a string.

=back

Stringified, a Result is a one-line summary:

    "sleep 1": exit 0, maxrss 1300 kB, vmhwm 1284 kB, vmpeak 5004 kB, 1.003 s

and, when the job ran more than one process, the tree too:

    "sh -c 'mycmd; true'": exit 0, maxrss 66012 kB, vmhwm 1620 kB, vmpeak 2592 kB, 0.049 s,
    2 processes, tree max vmhwm 66012 kB, tree peak 67412 kB (cgroup1)

(on one line).

=head1 SEE ALSO

L<LogMemory>

=cut
