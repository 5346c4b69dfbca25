package LogMemory;

use 5.014;
use strict;
use warnings;

# `use LogMemory` loads this file only: the rest (our own packages, JSON::PP, File::Temp,
# Errno) is loaded by the first call that needs it.

our $VERSION = '0.01';

our @EXPORT    = ();
our @EXPORT_OK = qw(memsystem memsystemx memrun memrunx last_result);
our %EXPORT_TAGS = (all => [@EXPORT_OK]);

# The logmemory binary that "make install" installed next to this module. The install step
# replaces the placeholder below (it occurs nowhere else in this file) with an absolute path:
#   sed -i 's|@LOGMEMORY_INSTALLED_BINARY[@]|/usr/local/bin/logmemory|' LogMemory.pm
# Anything that is not an absolute path (such as the placeholder itself) means "not recorded".
our $INSTALLED_BINARY = '@LOGMEMORY_INSTALLED_BINARY@';

# Set by "use LogMemory binary => PATH"; process-wide, like the rest of this module's state.
our $DEFAULT_BINARY;

# Every message this module croaks or warns with; each is listed verbatim under DIAGNOSTICS.
# The three about how the command ended are IPC::System::Simple's, for existing $@ handlers.
use constant {
    E_NO_BINARY =>
      'LogMemory: cannot find the logmemory binary; give the binary option, use LogMemory binary => PATH, set LOGMEMORY_BIN, or put logmemory in PATH',
    E_BAD_BINARY =>
      'LogMemory: logmemory binary "%s" (from %s) is not an executable file',
    E_BINARY_FAILED  => 'LogMemory: logmemory failed before running "%s" (exit value %d); its message is on STDERR',
    E_TEMPFILE       => 'LogMemory: cannot create the record file: %s',
    E_NO_COMMAND     => 'LogMemory: no command given',
    E_UNDEF_ARG      => 'LogMemory: undefined value in the command',
    E_UNKNOWN_OPTION => 'LogMemory: unknown option "%s" for %s()',
    E_BAD_OPTION     => 'LogMemory: option "%s" needs a defined, non-empty value',
    E_BAD_BOOLEAN    => 'LogMemory: option "%s" needs a defined value, true or false',
    E_BAD_SAMPLE     => 'LogMemory: option "sample" must be a whole number of milliseconds, at least 1',
    E_FORMAT_NO_LOG  => 'LogMemory: option "format" needs option "log"',
    E_BAD_ALLOW      => 'LogMemory: option "allow" must be "any", an exit value or a list of exit values',
    E_IMPORT_BINARY  => 'LogMemory: "use LogMemory binary => PATH" needs a PATH',
    E_NOT_EXPORTED   => 'LogMemory: "%s" is not exported by the LogMemory module',
    E_FAILED_TO_START => '"%s" failed to start: "%s"',
    E_EXIT_VALUE     => '"%s" unexpectedly returned exit value %d',
    E_SIGNAL         => '"%s" died to signal "%s" (%d)%s',
    W_BAD_RECORD     => 'LogMemory: ignoring the record logmemory wrote for "%s": %s',
};

# Options that are true or false, and the logmemory option each one turns into.
my %BOOLEAN = (
    follow      => { false => '--no-follow' },
    wait_all    => { true  => '--wait-all' },
    per_process => { true  => '--per-process' },
    no_cgroup   => { true  => '--no-cgroup' },
);
my @COMMON = qw(log format binary follow wait_all sample per_process no_cgroup label);
my %OPTIONS = (
    memsystem  => [@COMMON],
    memsystemx => [@COMMON],
    memrun     => [@COMMON, 'allow'],
    memrunx    => [@COMMON, 'allow'],
);

my $LAST_RESULT;

# Exporter's own errors would point into this file; ours point at the caller's "use" line.
sub import {
    my ($class, @args) = @_;
    my $caller = caller;
    my %exportable = map { $_ => 1 } @EXPORT_OK;
    while (@args) {
        my $arg = shift @args;
        if (defined $arg && !ref $arg && $arg eq 'binary') {
            my $path = shift @args;
            _croak(E_IMPORT_BINARY) unless defined $path && length $path;
            $DEFAULT_BINARY = $path;
            next;
        }
        my $name = defined $arg ? $arg : 'undef';
        my @names = $name =~ /\A:(.*)\z/s && $EXPORT_TAGS{$1} ? @{ $EXPORT_TAGS{$1} } : ($name =~ s/\A&//r);
        for my $export (@names) {
            _croak(E_NOT_EXPORTED, _oneline($name)) unless $exportable{$export};
            no strict 'refs';
            *{"${caller}::$export"} = \&{$export};
        }
    }
    return;
}

sub last_result { return $LAST_RESULT }

sub memsystem  { return _system('memsystem',  1, @_) }
sub memsystemx { return _system('memsystemx', 0, @_) }
sub memrun     { return _run('memrun',  1, @_) }
sub memrunx    { return _run('memrunx', 0, @_) }

sub find_binary {
    my ($opt) = @_;
    my ($path, $from) = _find_binary($opt || {});
    return $path;
}

# --- the two families -------------------------------------------------------------------------

sub _system {
    my ($func, $shell_ok, @args) = @_;
    my $errno  = $! + 0;
    my $result = _measure($func, $shell_ok, @args);
    $? = $result->status;
    $! = $result->status == -1 ? $result->{errno} : $errno;
    return $result->status;
}

sub _run {
    my ($func, $shell_ok, @args) = @_;
    my $allow  = _allowed(@args && ref $args[0] eq 'HASH' ? $args[0]{allow} : undef);
    my $result = _measure($func, $shell_ok, @args);
    my $status = $result->status;
    $? = $status;
    my $command = _oneline($result->{command});
    if ($status == -1) {
        local $! = $result->{errno};
        _croak_result($result, E_FAILED_TO_START, $command, "$!");
    }
    my $code = $result->exit_code;
    return $result if defined $code && ($allow eq 'any' || $allow->{$code});
    _croak_result($result, E_EXIT_VALUE, $command, $code) if defined $code;
    _croak_result($result, E_SIGNAL, $command, $result->signal_name =~ s/\ASIG//r,
        $result->signal, ($result->core_dumped ? ' and dumped core' : ''));
}

sub _allowed {
    my ($allow) = @_;
    return { 0 => 1 } unless defined $allow;
    return 'any' if !ref $allow && $allow eq 'any';
    my @values = ref $allow eq 'ARRAY' ? @$allow : ref $allow ? () : ($allow);
    _croak(E_BAD_ALLOW)
      if !@values || grep { !defined || !/\A[0-9]+\z/ || $_ > 255 } @values;
    return { map { $_ => 1 } @values };
}

# Run the command under logmemory and return a LogMemory::Result; croaks only for usage errors
# and for failures of logmemory itself, never because of how the command ended.
sub _measure {
    my ($func, $shell_ok, @args) = @_;
    local $@;    # CORE::system leaves the caller's $@ alone; our evals would not
    undef $LAST_RESULT;
    my $opt = @args && ref $args[0] eq 'HASH' ? shift @args : {};
    _check_options($func, $opt);
    _croak(E_UNDEF_ARG) if grep { !defined } @args;
    _croak(E_NO_COMMAND) if !@args || (@args == 1 && $args[0] !~ /\S/);

    my ($binary) = _find_binary($opt);
    require File::Temp;
    require LogMemory::Plan;
    require LogMemory::Result;
    my $record = eval { File::Temp->new(TEMPLATE => 'logmemory-record-XXXXXX', TMPDIR => 1) }
      or _croak(E_TEMPFILE, _oneline($@ || 'unknown error'));
    close $record;
    my @logmemory = ($binary,
        (defined $opt->{log}    ? ('-o',       $opt->{log})    : ()),
        (defined $opt->{format} ? ('--format', $opt->{format}) : ()),
        _tree_options($opt),
        '--record', $record->filename, '--');

    my $plan = LogMemory::Plan::plan($shell_ok, \@logmemory, @args);
    if ($plan->{direct} && _missing_interpreter($plan->{argv}[0])) {
        require Errno;
        $LAST_RESULT = LogMemory::Result->_new(command => $plan->{command}, argv => $plan->{argv},
            log_file => $opt->{log}, status => -1, errno => Errno::ENOENT());
        return $LAST_RESULT;
    }
    my ($status, $errno) = _spawn($plan->{run});

    my ($data, $problem) = _read_record($record->filename);
    _carp(W_BAD_RECORD, _oneline($plan->{command}), $problem) if $problem;
    my %result = (command => $plan->{command}, argv => $plan->{argv}, log_file => $opt->{log});

    if (!$data && $status != -1 && ($status & 127) == 0) {
        my $code = $status >> 8;
        # No record and 125/126/127: logmemory did not start the command.
        _croak(E_BINARY_FAILED, _oneline($plan->{command}), $code) if $code == 125;
        if (($code == 126 || $code == 127) && $plan->{direct}) {
            # CORE::system would have called exec itself and seen it fail.
            require Errno;
            $status = -1;
            $errno  = $code == 127 ? Errno::ENOENT() : Errno::EACCES();
        }
    }
    if ($data && $status != -1) {
        # logmemory re-raises the command's signal with core dumps off; put the core bit back,
        # and undo its 128+N fallback, so the status is the one CORE::system would have seen.
        # (Through a shell, 128+N is the shell's own report, and stays.)
        my $signo = _signal_number($data->{signal});
        $status = $signo
          if $signo && $plan->{direct} && $status == (128 + $signo) << 8;
        $status |= 128 if $data->{core_dumped} && $signo && ($status & 127) == $signo;
    }
    $result{argv} = $data->{cmd} if $data && !$plan->{direct} && ref $data->{cmd} eq 'ARRAY';
    $LAST_RESULT = LogMemory::Result->_new(%result, status => $status, record => $data,
        ($status == -1 ? (errno => $errno) : ()));
    return $LAST_RESULT;
}

# system() itself, so that its return value and $! are those of CORE::system: -1 when Perl
# could not start logmemory or could not wait for it (an ignored SIGCHLD reaps it first; the
# record says what the command did). The value comes from system's return, not from $?,
# which a caller's SIGCHLD handler may overwrite before the next statement. Taint errors are
# the caller's (its arguments, its PATH) and point at the caller.
sub _spawn {
    my ($run) = @_;
    my ($status, $errno);
    my $ok = eval {
        no warnings 'exec';
        ($status, $errno) = (system({ $run->[0] } @$run), $! + 0);
        1;
    };
    if (!$ok) {
        my $error = $@;    # a caller's signal handler may die in system's wait: pass it on
        die $error if ref $error || $error !~ /\AInsecure /;
        _croak('%s', $error =~ s/ at \S+ line \d+\.?\n\z//r);
    }
    return ($status, $errno);
}

# True when exec of the program surely fails with ENOENT because it is a script whose "#!"
# interpreter does not exist. CORE::system then returns -1; logmemory's launcher (env) would
# report it as the command's exit value 127. Looked up as execvp does, which goes on to the
# next PATH directory after ENOENT; anything less certain is left to exec itself.
sub _missing_interpreter {
    my ($program) = @_;
    my @candidates = $program =~ m{/} ? ($program)
      : map { (length ? $_ : '.') . "/$program" } split /:/, defined $ENV{PATH} ? $ENV{PATH} : '', -1;
    my $missing;
    for my $path (@candidates) {
        next unless -e $path;
        return 0 unless -f _ && -x _;
        open my $fh, '<:raw', $path or return 0;
        defined read($fh, my $head, 256) or return 0;
        my ($interpreter) = $head =~ /\A#![ \t]*([^ \t\n]+)/ or return 0;
        return 0 if -e $interpreter;
        $missing = 1;
    }
    return $missing;
}

sub _check_options {
    my ($func, $opt) = @_;
    my %known = map { $_ => 1 } @{ $OPTIONS{$func} };
    for my $key (sort keys %$opt) {
        _croak(E_UNKNOWN_OPTION, $key, $func) unless $known{$key};
        next if $key eq 'allow';
        if ($BOOLEAN{$key}) {
            _croak(E_BAD_BOOLEAN, $key) unless defined $opt->{$key} && !ref $opt->{$key};
            next;
        }
        _croak(E_BAD_OPTION, $key) unless defined $opt->{$key} && length $opt->{$key};
    }
    _croak(E_BAD_SAMPLE) if defined $opt->{sample} && $opt->{sample} !~ /\A0*[1-9][0-9]*\z/a;
    _croak(E_FORMAT_NO_LOG) if defined $opt->{format} && !defined $opt->{log};
    return;
}

# The logmemory options for the process tree and the record; logmemory's defaults (follow every
# descendant, return when the command ends) are not spelled out.
sub _tree_options {
    my ($opt) = @_;
    my @args;
    for my $key (sort keys %BOOLEAN) {
        next unless exists $opt->{$key};
        my $arg = $BOOLEAN{$key}{ $opt->{$key} ? 'true' : 'false' };
        push @args, $arg if defined $arg;
    }
    push @args, '--sample=' . ($opt->{sample} =~ s/\A0+//r) if defined $opt->{sample};
    push @args, "--label=$opt->{label}" if defined $opt->{label};
    return @args;
}

sub _find_binary {
    my ($opt) = @_;
    my @candidates = (
        [$opt->{binary},       'the binary option'],
        [$DEFAULT_BINARY,      'use LogMemory binary => PATH'],
        [$ENV{LOGMEMORY_BIN},  'LOGMEMORY_BIN'],
        [(defined $INSTALLED_BINARY && $INSTALLED_BINARY =~ m{\A/} ? $INSTALLED_BINARY : undef),
                               '$LogMemory::INSTALLED_BINARY'],
    );
    for my $candidate (@candidates) {
        my ($path, $from) = @$candidate;
        next unless defined $path && length $path;
        _croak(E_BAD_BINARY, _oneline($path), $from) unless -f $path && -x _;
        # Under perl -T the environment is tainted; LOGMEMORY_BIN names the measuring tool,
        # chosen like the installed path, not the command (see TAINT MODE in the POD).
        ($path) = $path =~ /\A(.*)\z/s if $from eq 'LOGMEMORY_BIN';
        return ($path, $from);
    }
    for my $dir (split /:/, defined $ENV{PATH} ? $ENV{PATH} : '', -1) {
        my $path = (length $dir ? $dir : '.') . '/logmemory';
        return ($path, 'PATH') if -f $path && -x _;
    }
    _croak(E_NO_BINARY);
}

# The record file: one JSON object. Returns (hashref) or (undef, why it is unusable); an empty
# file is not a problem, it means logmemory did not measure anything.
sub _read_record {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return (undef, undef);
    my $text = do { local $/; <$fh> };
    close $fh;
    return (undef, undef) unless defined $text && $text =~ /\S/;
    require JSON::PP;
    my $json = JSON::PP->new->utf8;
    my $data = eval { $json->decode($text) };
    if (!defined $data) {
        # Lone surrogates stand for bytes that are not UTF-8 ("surrogateescape"): keep the byte.
        (my $fixed = $text) =~ s/(?<!\\)((?:\\\\)*)\\u[dD][cC]([89a-fA-F][0-9a-fA-F])/$1\\u00$2/g;
        $data = eval { $json->decode($fixed) };
    }
    return (undef, _oneline($@ || 'not a JSON object')) unless ref $data eq 'HASH';
    # {"cmd": [...], "not_run": "why"}: logmemory did not start the command.
    return (undef, undef) if exists $data->{not_run};
    # Command lines come back as byte strings, as Perl passed them.
    my @commands = ([$data, 'cmd']);
    push @commands, [$data->{tree}, 'max_vmhwm_cmd'] if ref $data->{tree} eq 'HASH';
    push @commands, map { [$_, 'cmd'] } grep { ref eq 'HASH' } @{ $data->{processes} }
      if ref $data->{processes} eq 'ARRAY';
    for my $command (@commands) {
        my ($hash, $key) = @$command;
        next unless ref $hash->{$key} eq 'ARRAY';
        $hash->{$key} = [map { my $w = $_; utf8::encode($w) if defined $w; $w } @{ $hash->{$key} }];
    }
    return ($data);
}

my %SIGNO;
sub _signal_number {
    my ($name) = @_;
    return undef unless defined $name;
    unless (%SIGNO) {
        require Config;
        my @names   = split ' ', $Config::Config{sig_name};
        my @numbers = split ' ', $Config::Config{sig_num};
        @SIGNO{map {"SIG$_"} @names} = @numbers;
    }
    return $SIGNO{$name} if $SIGNO{$name};
    return $1 if $name =~ /\ASIG([0-9]+)\z/;
    return undef;
}

sub _oneline {
    my ($text) = @_;
    $text =~ s/\s+\z//;
    $text =~ s/\n/\\n/g;
    $text =~ s/([\x00-\x1f\x7f])/sprintf '\\x%02x', ord $1/ge;
    return $text;
}

sub _croak {
    my ($format, @args) = @_;
    require LogMemory::Error;
    die LogMemory::Error->_new(message => sprintf($format, @args));
}

sub _croak_result {
    my ($result, $format, @args) = @_;
    require LogMemory::Error;
    die LogMemory::Error->_new(message => sprintf($format, @args), result => $result);
}

sub _carp {
    my ($format, @args) = @_;
    require LogMemory::Error;
    my ($file, $line) = LogMemory::Error::_caller();
    warn sprintf($format, @args) . " at $file line $line.\n";
}

1;

__END__

=head1 NAME

LogMemory - run a command like system() and get back how much memory it used

=head1 SYNOPSIS

The idiom this module replaces:

    unless (system("logmemory -o mem.log mycmd options 1>cmd.out 2>cmd.err") == 0) {
        die $!;
    }
    # ... then parse mem.log

becomes:

    use LogMemory qw(memsystem last_result);

    unless (memsystem({ log => 'mem.log' }, "mycmd options 1>cmd.out 2>cmd.err") == 0) {
        die $!;
    }
    printf "peak RSS %d kB\n", last_result()->maxrss_kb;

or, letting the module die for you:

    use LogMemory qw(:all);

    my $r = memrun("mycmd options 1>cmd.out 2>cmd.err");       # croaks unless exit value 0
    print "$r\n";                                               # one-line summary
    my $hwm = $r->vmhwm_kb;

    memrunx({ allow => [0, 1] }, 'grep', '-q', $pattern, $file);   # never a shell

    my $job = memrun('./run.sh input');        # a wrapper: the shell is small, its child is not
    printf "largest process %d kB (%s), whole job %s kB\n", $job->tree_max_vmhwm_kb,
        join(' ', $job->tree_max_vmhwm_cmd), $job->tree_peak_kb // '?';

    eval { memrun('bigjob --all') };
    if (my $err = $@) {
        warn "$err";                          # IPC::System::Simple's wording, one line
        my $used = $err->result && $err->result->peak_kb;     # measured even after SIGKILL
    }

    use LogMemory binary => '/opt/logmemory/bin/logmemory';   # choose the binary once

=head1 DESCRIPTION

LogMemory runs a command under the C<logmemory> program, which measures the command's peak
memory (VmHWM and VmPeak from F</proc>, ru_maxrss from wait4) and its times, follows every
process the command starts (each one's peak, the largest of them, and the whole job's concurrent
peak), and hands the measurement back as a L<LogMemory::Result> object, without a log to parse.

The C<memsystem> family is a drop-in replacement for C<CORE::system>: same arguments, same
return value, same C<$?> and C<$!>. The C<memrun> family returns the Result and dies, in the
manner of L<IPC::System::Simple>, unless the command exited with an allowed value.

The measurement comes back through a temporary file (L<File::Temp>) that the module passes to
logmemory as C<--record FILE> and removes afterwards; logmemory writes nothing to the command's
standard output, and to standard error only its own errors, each prefixed C<logmemory:>.

The module uses core Perl only (Perl 5.14 or later), and C<use LogMemory> loads F<LogMemory.pm>
alone: the rest (its other packages, JSON::PP, File::Temp) comes with the first call.

=head1 EXPORTS

Nothing by default. On request: C<memsystem>, C<memsystemx>, C<memrun>, C<memrunx> and
C<last_result>, or all of them with the tag C<:all>. C<find_binary> is never exported. Asking
for any other name croaks at the C<use> line.

    use LogMemory qw(memsystem last_result);
    use LogMemory qw(:all);
    use LogMemory binary => '/opt/logmemory/bin/logmemory', qw(memrun);

C<binary =E<gt> PATH> in the import list is not a function: it sets the logmemory program for
the whole process (see L</ENVIRONMENT>).

=head1 FUNCTIONS

Every function takes an optional hash reference of options first:

=over 4

=item C<log =E<gt> FILE>

Also append a record to FILE (passed to logmemory as C<-o FILE>).

=item C<format =E<gt> 'text' | 'legacy' | 'json'>

The format of the record appended to C<log> (C<--format>); needs C<log>.

=item C<binary =E<gt> PATH>

The logmemory program to run for this call (see L</ENVIRONMENT> for the search order).

=item C<follow =E<gt> BOOLEAN>

Whether logmemory follows the processes the command starts; default true. C<follow =E<gt> 0>
passes C<--no-follow>: only the command's own process is traced, and the Result's tree figures
(C<tree_processes>, C<tree_max_vmhwm_kb>, ...) are undef. The concurrent peak
(C<tree_peak_kb>) still comes from the job's cgroup where one can be made.

=item C<wait_all =E<gt> BOOLEAN>

A true value passes C<--wait-all>: the call returns only when every descendant has ended, also
those that outlive the command (a daemon, a background job), and measures them. By default the
call returns when the command ends, as C<CORE::system> does, and such processes run on
unmeasured.

=item C<sample =E<gt> MS>

Passes C<--sample=MS> (a whole number of milliseconds, at least 1): where logmemory cannot make
a memory cgroup for the job, the concurrent peak is the largest sum of the Pss of the live
processes (shared pages counted once) seen every MS milliseconds, and C<tree_peak_source> is
C<sampled>. Where a cgroup can
be made, the cgroup figure is used and this option changes nothing.

=item C<per_process =E<gt> BOOLEAN>

A true value passes C<--per-process>: the text record in C<log> gets one C<Process:> line per
process. The Result has the list either way (C<processes>).

=item C<no_cgroup =E<gt> BOOLEAN>

A true value passes C<--no-cgroup>: logmemory makes and changes no cgroup (for callers that
manage cgroups themselves); C<tree_peak_kb> is then undef unless C<sample> is given.

=item C<label =E<gt> NAME>

Passes C<--label=NAME>: the step this run belongs to, written in the text and JSON records
(C<Label:>, C<label>) for C<logmemory report>; the legacy record has none. Printable text.

=item C<allow =E<gt> [VALUES] | VALUE | 'any'>

C<memrun> and C<memrunx> only: the exit values that do not croak; default C<[0]>.

=back

The boolean options take any defined value, true or false in Perl's sense. An unknown option
croaks.

=head2 memsystem

    memsystem([\%options,] STRING)
    memsystem([\%options,] PROGRAM, ARGS...)

Runs the command exactly as C<CORE::system> would (see L</SHELL VS LIST>), measured by
logmemory, and returns what C<CORE::system> would return: the 16-bit wait status, or -1 if the
program could not be started. C<$?> is set to the same value and C<$!> is left as
C<CORE::system> would leave it (the reason after -1, otherwise unchanged). It never dies because
of how the command ended; the measurement is in L</last_result>.

=head2 memsystemx

    memsystemx([\%options,] PROGRAM, ARGS...)

Like C<memsystem>, but never uses a shell, even for a single argument (which is then the name of
the program to run, without arguments).

=head2 memrun

    my $result = memrun([\%options,] STRING)
    my $result = memrun([\%options,] PROGRAM, ARGS...)

Runs the command like C<memsystem> and returns its L<LogMemory::Result>. Croaks (see
L</DIAGNOSTICS>) if the command could not start, was killed by a signal, or exited with a value
not in C<allow>. C<$?> is set before croaking. The exception is a L<LogMemory::Error> object
that stringifies to L<IPC::System::Simple>'s one-line message ending in "at FILE line N." and a
newline (C<"mycmd" unexpectedly returned exit value 3 at x.pl line 7.>), with the methods
C<message>, C<command>, C<exit_value>, C<signal>, C<core_dumped>, C<started_ok>, C<file>,
C<line> and C<result> (the Result, with every figure).

=head2 memrunx

    my $result = memrunx([\%options,] PROGRAM, ARGS...)

C<memrun> without a shell, ever.

=head2 last_result

    my $result = LogMemory::last_result();

C<LogMemory::last_result()> returns the Result of the latest call of any of the four functions,
including a call that croaked because of how the command ended, or undef if the latest call
croaked before the command could run.

=head2 find_binary

    my $path = LogMemory::find_binary([\%options]);

C<LogMemory::find_binary()> returns the path of the logmemory program a call with these options
would run, or croaks as that call would. Not exported.

=head1 RESULT

A L<LogMemory::Result> has read-only accessors:

    argv          the command's argv, as a list
    pid           the command's process id
    status        the raw wait status ($?), -1 if it did not start
    exit_code     the exit value, undef if it was killed by a signal
    signal        the signal number that killed it, or undef
    signal_name   that signal's name, e.g. "SIGKILL", or undef
    core_dumped   true if it dumped core
    vmhwm_kb      peak resident set size from /proc (VmHWM)
    vmpeak_kb     peak virtual memory size from /proc (VmPeak)
    maxrss_kb     ru_maxrss from wait4
    elapsed_s     wall-clock seconds
    user_s        user CPU seconds
    sys_s         system CPU seconds
    unmeasured    hash reference: why a measurement is undef
    tree_processes      number of processes the job ran (undef with follow => 0)
    tree_threads        number of threads the job ran
    tree_max_vmhwm_kb   the largest single-process VmHWM in the tree
    tree_max_vmhwm_pid  the pid of that process
    tree_max_vmhwm_cmd  its command line, as a list
    tree_peak_kb        the job's concurrent peak (everything alive at once)
    tree_peak_source    where that comes from: "cgroup2", "cgroup1" or "sampled"
    tree_peak_unavailable_reason  why there is no concurrent peak, or undef
    tree_unmeasured     hash reference: why a tree measurement is undef
    processes     one hash reference per process (pid, ppid, cmd, vmhwm_kb, ...)
    log_file      the log option, or undef
    peak_kb       the job's peak as one figure; peak_source says which of the above it is
    is_success    true if status is 0
    as_hash       all of the above (and the raw record) as a hash reference

C<vmhwm_kb>, C<vmpeak_kb>, C<maxrss_kb>, C<pid> and the exit status describe the command's own
process (with a shell in between, the shell: see L</SHELL VS LIST>); the C<tree_> figures and
C<processes> describe the command and every process it started. The memory values are in
kibibytes and are undef, never 0, when logmemory could not measure them. Stringified, a Result
gives a one-line summary such as

    "mycmd options": exit 0, maxrss 65912 kB, vmhwm 65880 kB, vmpeak 70212 kB, 0.41 s

with the number of processes and the tree figures added when the job ran more than one process.

=head1 SHELL VS LIST

As with C<CORE::system>, a list of more than one argument is run directly, never by a shell:
arguments containing spaces, C<;>, C<E<gt>> or C<*> reach the program unchanged.

A single string is handled the way C<CORE::system> handles it, and, wherever that does not
change what the string does, logmemory is put where its top process is the command rather than
the shell:

=over 4

=item *

Without shell metacharacters (Perl's own rule: none of C<$&*(){}[]'";\|?E<lt>E<gt>~`> or a
newline, not starting with C<exec>, C<.> or an assignment), the string is split on whitespace
and run directly, as C<logmemory --record FILE -- WORDS>. If the program cannot be started the
result is -1 and C<$!> says why (ENOENT or EACCES), as with C<CORE::system>. A trailing
C<2E<gt>&1> is honoured, as Perl does.

=item *

A single simple command with redirections, quoting or expansions, such as
C<mycmd "an arg" 1E<gt>cmd.out 2E<gt>cmd.err>, is given to F</bin/sh> with the logmemory
invocation in front:

    /bin/sh -c "'LOGMEMORY' --record 'FILE' -- mycmd \"an arg\" 1>cmd.out 2>cmd.err"

The shell parses the string, expands it and applies the redirections, then runs logmemory, whose
child is C<mycmd> itself: the measurement is that of the command, not of the shell. As logmemory
ends the way the command ended, the shell reports exactly what it would have reported for the
bare command, so C<$?> is what C<CORE::system> gives, including the shell's own conventions:
dash, Debian's F</bin/sh>, reports a command killed by signal N as exit value 128+N (and prints
"Killed" and the like), and a command that is not found as 127 rather than -1.

=item *

Anything else: a list (C<a; b>, C<a && b>, C<a || b>), a pipeline (C<a | b>), a background
job (C<&>), a subshell or group, several lines, a comment, a leading variable assignment
(C<VAR=x cmd>), a first word that is a shell reserved word or builtin (C<cd>, C<echo>,
C<exit>, C<exec>, ...), or a first word that is quoted or expanded, which may turn out to be
one (C<"cd" /tmp>, C<$X 3> with C<X=exit>, C<$(echo exit) 4>). Putting logmemory in front would change what such a string does (in
C<lm -- a; b> and C<lm -- a | b> only C<a> is measured; C<exec lm -- a; b> never runs C<b>;
C<lm -- cd dir> fails), so logmemory runs C</bin/sh -c STRING>. The string runs exactly as
under C<CORE::system> and C<$?> is the same. The top-level figures then belong to the shell
process: C<maxrss_kb> is the largest of the shell and the commands it waited for (ru_maxrss
counts waited-for descendants), while C<vmhwm_kb> and C<vmpeak_kb> are the shell's own unless
the shell runs the last command with exec (bash does; dash, Debian's F</bin/sh>, does not). The commands themselves
are measured by the tree figures, as logmemory follows every process the shell starts:
C<tree_max_vmhwm_kb> is the largest of them (C<tree_max_vmhwm_cmd> names it), C<tree_peak_kb>
the whole job at once, and C<processes> lists each one. The Result's C<argv> is then
C<('/bin/sh', '-c', STRING)>.

=back

The choice is made by a small scanner that follows quotes, C<$(...)>, C<${...}> and backquotes;
whenever it is unsure, it takes the last, always-correct form.

C<memsystemx> and C<memrunx> never use a shell: a single argument is a program name.

=head1 EXIT STATUS AND $?

logmemory exits with the command's own exit value, and when the command is killed by a signal it
kills itself with the same signal, so the wait status of logmemory is the command's. The module
returns and stores it in C<$?> unchanged, with two corrections: the core-dump bit (logmemory
re-raises with core dumps off) is restored from the record, and, where no shell stands between
the module and logmemory, logmemory's fallback exit value 128+N (used only if re-raising the
signal failed) is turned back into signal N. Where a shell runs logmemory, C<$?> is the shell's
report, as under C<CORE::system>; the record, in C<< $result->as_hash->{record} >>, still says
how the command itself ended.

logmemory's own exit values 125, 126 and 127 mean that it did not run the command. The module
tells them from the command's own 125/126/127 by the record file, which holds a measurement
only after logmemory ran the command (otherwise it is empty, or says C<not_run> and why):

=over 4

=item 125 without a record

logmemory itself failed (a usage error, an unwritable log): croaks, from every function.

=item 126 or 127 without a record

The command could not be started (not executable, not found). Where C<CORE::system> would have
called exec itself (a list, or a string without metacharacters) the result is -1 with C<$!> set
to EACCES or ENOENT; where it would have used the shell, the wait status 126 or 127
E<lt>E<lt> 8, as the shell would report. C<memrun> croaks with "failed to start" in the first
case and "unexpectedly returned exit value" in the second.

=back

C<CORE::system> also returns -1 when it could not start the program or could not wait for
it, and so do the functions, with the same C<$!>: an argument list too long for exec
(E2BIG), a failed fork (EAGAIN), or a caller that ignores SIGCHLD (C<$SIG{CHLD} = 'IGNORE'>:
the kernel reaps logmemory before Perl can wait for it, ECHILD). In the last case the command
did run and its figures are in the Result (C<status> is -1; the record, in
C<< $result->as_hash->{record} >>, says how it ended); C<memrun> croaks "failed to start" as
L<IPC::System::Simple> does. A caller's own SIGCHLD handler that reaps children (C<1 while
waitpid(-1, WNOHANG) E<gt> 0>) changes nothing: the status is taken from C<system>'s return
value, not from C<$?>, which such a handler overwrites. (Written without C<local ($?, $!)>, that
handler also leaves C<$?> at -1 after C<CORE::system> returns; after C<memsystem>, whose
C<system> it interrupted, C<$?> is the status.)

Like C<CORE::system>, the functions ignore SIGINT and SIGQUIT while the command runs.
C<${^CHILD_ERROR_NATIVE}> is that of the logmemory process, not recomputed.

=head1 MIGRATING FROM system()

=over 4

=item Log parsers

The default C<text> record appends lines the original C<logmemory> did not write
(C<MaxRSS:>, C<Exit:>, C<Elapsed:>, C<Processes:>, C<TreeMaxVmHWM:>, C<TreePeak:>, ...). A
parser that expects only C<Date:>, C<Cmd:>, C<VmPeak:> and C<VmHWM:> takes
C<format =E<gt> 'legacy'>, which writes the original's lines byte for byte. Better, read the
figures from the Result and parse nothing.

=item The exit status

C<system("logmemory -o mem.log cmd ...") == 0> was always true with the original, which exited
0 whatever the command did. C<memsystem> returns the command's status, so such a check now
fires when the command fails.

=item The cost of a call

Each call starts the logmemory program, tens of milliseconds of fixed cost (the one-file
binary unpacks itself and starts an interpreter), against a millisecond or two for
C<CORE::system> of C</bin/true>; F<bench/perl_module.py> in the logmemory sources measures it. Nothing is added per system call of the command. Loops of many tiny commands
pay it each time; measure the loop as one command (C<memsystem("./loop.sh")>) instead.

=item Missing figures

A figure that was not measured is undef, never 0, and C<unmeasured>/C<tree_unmeasured> say
why. C<tree_peak_kb> in particular is undef wherever logmemory cannot make a memory cgroup
for the job (cgroup v1 without root, cgroup v2 where logmemory shares its cgroup, as the Perl
program that calls it usually does) and no C<sample> was asked for; C<peak_kb> then falls
back to the largest single process and C<peak_source> says so.

=item Exceptions

C<memrun> and C<memrunx> die with L<IPC::System::Simple>'s messages, so handlers such as
C<$@ =~ /unexpectedly returned exit value (\d+)/> keep working; the exception is an object
(L<LogMemory::Error>) that stringifies to that message.

=item Taint mode

See L</TAINT MODE>.

=back

=head1 TAINT MODE

Under C<perl -T> the functions behave as C<CORE::system>: a tainted argument, a tainted
C<log> file name, or a tainted C<PATH>, C<IFS>, C<CDPATH>, C<ENV> or C<BASH_ENV> makes the
call die with Perl's own message ("Insecure dependency in system while running with -T switch",
"Insecure $ENV{PATH} while running with -T switch"), located at the caller's line, before
anything runs. Clean the environment as L<perlsec> says, as for C<CORE::system>.

The logmemory program's own path is not the caller's data: the installed path and one found
in an untainted C<PATH> are untainted, and so is C<LOGMEMORY_BIN> once it names an executable
file (it is trusted as C<PATH> entries set by the program are). A program that must not let
its environment choose the measuring tool deletes C<$ENV{LOGMEMORY_BIN}> or passes the
C<binary> option.

=head1 DIAGNOSTICS

Every message is a constant in the module, reproduced here verbatim; C<%s> and C<%d> are filled
in, and errors end with " at FILE line N." pointing at the caller. Besides these, under
C<perl -T> a call dies with Perl's own C<Insecure ...> messages where C<CORE::system> would (see
L</TAINT MODE>), also as L<LogMemory::Error> objects located at the caller.

=over 4

=item LogMemory: cannot find the logmemory binary; give the binary option, use LogMemory binary => PATH, set LOGMEMORY_BIN, or put logmemory in PATH

No binary option, no C<use LogMemory binary =E<gt> PATH>, no C<LOGMEMORY_BIN>, no installed path,
and no C<logmemory> in C<PATH>.

=item LogMemory: logmemory binary "%s" (from %s) is not an executable file

The path given by the named source does not exist or is not executable: correct that source.
A source that names a path is not skipped when the path is wrong.

=item LogMemory: logmemory failed before running "%s" (exit value %d); its message is on STDERR

logmemory exited 125 without running the command: usually the C<log> file cannot be written or
the C<format> is not one logmemory knows.

=item LogMemory: cannot create the record file: %s

L<File::Temp> could not create the temporary record file (check C<TMPDIR>).

=item LogMemory: no command given

The command list is empty, or the string has only whitespace.

=item LogMemory: undefined value in the command

An argument of the command is undef.

=item LogMemory: unknown option "%s" for %s()

The options hash has a key this function does not know.

=item LogMemory: option "%s" needs a defined, non-empty value

=item LogMemory: option "%s" needs a defined value, true or false

C<follow>, C<wait_all>, C<per_process> and C<no_cgroup> take a defined, non-reference value.

=item LogMemory: option "sample" must be a whole number of milliseconds, at least 1

=item LogMemory: option "format" needs option "log"

The format applies to the log file only.

=item LogMemory: option "allow" must be "any", an exit value or a list of exit values

Exit values are integers from 0 to 255.

=item LogMemory: "use LogMemory binary => PATH" needs a PATH

=item LogMemory: "%s" is not exported by the LogMemory module

The import list names something that is not in L</EXPORTS>.

=item "%s" failed to start: "%s"

C<memrun>/C<memrunx>: C<CORE::system> would have returned -1; the second C<%s> is C<$!>.
L<IPC::System::Simple>'s wording, as are the next two.

=item "%s" unexpectedly returned exit value %d

C<memrun>/C<memrunx>: the exit value is not allowed.

=item "%s" died to signal "%s" (%d)%s

C<memrun>/C<memrunx>: the command was killed by a signal (its name without C<SIG>, such as
"KILL", its number, and " and dumped core" if it did).

=item LogMemory: ignoring the record logmemory wrote for "%s": %s

A warning, located at the caller: the record file is not a JSON object. The status is still returned; the
measurements are undef.

=item LogMemory::Result: %s is read-only

A Result accessor was called with an argument.

=back

=head1 ENVIRONMENT

=over 4

=item LOGMEMORY_BIN

The logmemory program to run. The search order is: the C<binary> option of the call; then
C<use LogMemory binary =E<gt> PATH> (process-wide, last one wins); then C<LOGMEMORY_BIN>;
then C<$LogMemory::INSTALLED_BINARY>, the absolute path that C<make install> writes into the
installed module; then C<logmemory> in C<PATH>. The first source that names a path is used
even if the path is wrong (then the call croaks).

The installed path is a placeholder in the source. Either build with
C<LOGMEMORY_INSTALLED_BINARY=/usr/local/bin/logmemory perl Makefile.PL> (the build then writes
the path into F<blib/lib/LogMemory.pm>), or run the C<sed> command quoted in a comment at the top
of F<LogMemory.pm> on the built or installed copy.

=item TMPDIR

Where the record file is created.

=item PATH

Searched for C<logmemory> last, and by logmemory and the shell for the command.

=back

=head1 BUGS AND LIMITATIONS

=over 4

=item *

For a string that is not a single simple command (see L</SHELL VS LIST>) the top-level memory
figures (C<vmhwm_kb>, C<vmpeak_kb>, C<maxrss_kb>) are those of the shell process; the commands
in it are measured by the C<tree_> figures and C<processes>, which C<follow =E<gt> 0> turns off.

=item *

Without C<wait_all>, processes that outlive the command (daemons, background jobs) are not
measured after the command ends, as logmemory returns when the command ends.

=item *

C<$!> after -1 for a program that cannot be executed is derived from logmemory's exit value
(127: ENOENT, 126: EACCES), so rarer reasons (ETXTBSY, ELOOP) are reported as EACCES or
ENOENT. A script whose C<#!> interpreter does not exist is recognised before anything runs and
gives -1 with ENOENT, as under C<CORE::system>; through the shell, the status is the shell's 127
as under C<CORE::system>, but the message on standard error comes from F</usr/bin/env>.

=item *

The logmemory invocation adds a few arguments to the command's, so a command whose argument
list is within a few hundred bytes of the kernel's limit gets -1 and E2BIG where
C<CORE::system> would run it.

=item *

A string starting with a shell builtin that also exists as a program (C<echo>, C<test>,
C<kill>) and containing metacharacters is measured through the shell, so the builtin runs, as
under C<CORE::system>.

=item *

Under an ignored SIGCHLD the one-file binary's bootloader says on standard error that it
failed to wait for its child (C<[PYI-...:WARNING] LOADER: ...>); the result is still -1 with
ECHILD and the record is complete.

=item *

The empty command croaks instead of returning what C<CORE::system('')> returns.

=item *

When a program cannot be started, logmemory says so on standard error (C<logmemory: cannot run
...>), where C<CORE::system> is silent or, under C<use warnings>, warns C<Can't exec>.

=item *

C<use LogMemory binary =E<gt> PATH> and C<last_result> are process-wide, not lexical or
per-thread.

=item *

Non-UTF-8 bytes in C<argv> come back as logmemory wrote them in the record for string commands
run through the shell; for lists and plain strings C<argv> is the caller's own.

=back

=head1 SEE ALSO

L<LogMemory::Result>, L<LogMemory::Error>, L<logmemory(1)>, L<perlfunc/system>, L<IPC::System::Simple>,
L<perlvar/$?>, L<perlsec>, L<time(1)>, L<proc(5)> (VmHWM, VmPeak), L<getrusage(2)> (ru_maxrss).

=head1 AUTHOR

The logmemory maintainers, E<lt>maintainers@users.noreply.r-seed-e1248e31.exampleE<gt>.

=head1 LICENSE AND COPYRIGHT

Copyright (c) 2026 the logmemory maintainers.

This library is free software under the MIT licence: see the file F<LICENSE> that comes with
it.

=cut
