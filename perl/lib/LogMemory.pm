package LogMemory;

use 5.014;
use strict;
use warnings;

use Carp ();
use Errno ();
use Exporter ();
use File::Temp ();
use IPC::Cmd ();
use JSON::PP ();
use POSIX ();

use LogMemory::Result;

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
use constant {
    E_NO_BINARY =>
      'LogMemory: cannot find the logmemory binary; set LOGMEMORY_BIN, use LogMemory binary => PATH, or put logmemory in PATH',
    E_BAD_BINARY =>
      'LogMemory: logmemory binary "%s" (from %s) is not an executable file; set LOGMEMORY_BIN to the right path',
    E_BINARY_START   => 'LogMemory: cannot run the logmemory binary "%s": %s',
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
    E_FAILED_TO_START => 'LogMemory: "%s" failed to start: %s',
    E_EXIT_VALUE     => 'LogMemory: "%s" unexpectedly returned exit value %d (max RSS %s)',
    E_SIGNAL         => 'LogMemory: "%s" died to signal "%s" (%d)%s (max RSS %s)',
    W_BAD_RECORD     => 'LogMemory: ignoring the record logmemory wrote for "%s": %s',
};

# Options that are true or false, and the logmemory option each one turns into.
my %BOOLEAN = (
    follow      => { false => '--no-follow' },
    wait_all    => { true  => '--wait-all' },
    per_process => { true  => '--per-process' },
);
my @COMMON = qw(log format binary follow wait_all sample per_process);
my %OPTIONS = (
    memsystem  => [@COMMON],
    memsystemx => [@COMMON],
    memrun     => [@COMMON, 'allow'],
    memrunx    => [@COMMON, 'allow'],
);

# Words /bin/sh treats itself (reserved words and builtins): a string starting with one of them
# is run by a measured shell rather than handed to "exec".
my %SHELL_WORD = map { $_ => 1 } qw(
  ! { } [[ ]] case do done elif else esac fi for function if in select then until while
  . : [ alias bg break cd chdir command continue echo eval exec exit export false fc fg getopts
  hash jobs kill let local printf pwd read readonly return set shift source test times trap true
  type typeset ulimit umask unalias unset wait
);

my $LAST_RESULT;

sub import {
    my ($class, @args) = @_;
    my @names;
    while (@args) {
        my $arg = shift @args;
        if (defined $arg && !ref $arg && $arg eq 'binary') {
            my $path = shift @args;
            _croak(E_IMPORT_BINARY) unless defined $path && length $path;
            $DEFAULT_BINARY = $path;
            next;
        }
        push @names, $arg;
    }
    Exporter::export($class, scalar caller, @names);
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
    if ($status == -1) {
        local $! = $result->{errno};
        _croak_result($result, E_FAILED_TO_START, _oneline($result->{command}), "$!");
    }
    my $code = $result->exit_code;
    return $result if defined $code && ($allow eq 'any' || $allow->{$code});
    my $rss = defined $result->maxrss_kb ? $result->maxrss_kb . ' kB' : 'unmeasured';
    if (defined $code) {
        _croak_result($result, E_EXIT_VALUE, _oneline($result->{command}), $code, $rss);
    }
    _croak_result($result, E_SIGNAL, _oneline($result->{command}), $result->signal_name,
        $result->signal, ($result->core_dumped ? ' and dumped core' : ''), $rss);
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
    undef $LAST_RESULT;
    my $opt = @args && ref $args[0] eq 'HASH' ? shift @args : {};
    _check_options($func, $opt);
    _croak(E_UNDEF_ARG) if grep { !defined } @args;
    _croak(E_NO_COMMAND) if !@args || (@args == 1 && $args[0] !~ /\S/);

    my ($binary) = _find_binary($opt);
    my $record = eval { File::Temp->new(TEMPLATE => 'logmemory-record-XXXXXX', TMPDIR => 1) }
      or _croak(E_TEMPFILE, _oneline($@ || 'unknown error'));
    close $record;
    my @logmemory = ($binary,
        (defined $opt->{log}    ? ('-o',       $opt->{log})    : ()),
        (defined $opt->{format} ? ('--format', $opt->{format}) : ()),
        _tree_options($opt),
        '--record', $record->filename, '--');

    my $plan = _plan($shell_ok, \@logmemory, @args);
    my @run  = @{ $plan->{run} };
    my $rv   = system { $run[0] } @run;
    my ($status, $errno) = ($?, $! + 0);
    _croak(E_BINARY_START, $run[0], _oneline("$!")) if $rv == -1;

    my ($data, $problem) = _read_record($record->filename);
    Carp::carp(sprintf W_BAD_RECORD, _oneline($plan->{command}), $problem) if $problem;
    my %result = (command => $plan->{command}, argv => $plan->{argv}, log_file => $opt->{log});

    if (!$data && POSIX::WIFEXITED($status)) {
        my $code = POSIX::WEXITSTATUS($status);
        # No record and 125/126/127: logmemory did not start the command.
        _croak(E_BINARY_FAILED, _oneline($plan->{command}), $code) if $code == 125;
        if (($code == 126 || $code == 127) && $plan->{direct}) {
            # CORE::system would have called exec itself and seen it fail.
            $LAST_RESULT = LogMemory::Result->_new(%result, status => -1,
                errno => $code == 127 ? Errno::ENOENT() : Errno::EACCES());
            return $LAST_RESULT;
        }
    }
    if ($data) {
        # logmemory re-raises the command's signal with core dumps off; put the core bit back,
        # and undo its 128+N fallback, so the status is the one CORE::system would have seen.
        # (Through a shell, 128+N is the shell's own report, and stays.)
        my $signo = _signal_number($data->{signal});
        $status = $signo
          if $signo && $plan->{direct} && POSIX::WIFEXITED($status) && $status == (128 + $signo) << 8;
        $status |= 128 if $data->{core_dumped} && $signo && ($status & 127) == $signo;
        $result{argv} = $data->{cmd} if !$plan->{direct} && ref $data->{cmd} eq 'ARRAY';
    }
    $LAST_RESULT = LogMemory::Result->_new(%result, status => $status, record => $data);
    return $LAST_RESULT;
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

# The logmemory options for the process tree; logmemory's defaults (follow every descendant,
# return when the command ends) are not spelled out.
sub _tree_options {
    my ($opt) = @_;
    my @args;
    for my $key (sort keys %BOOLEAN) {
        next unless exists $opt->{$key};
        my $arg = $BOOLEAN{$key}{ $opt->{$key} ? 'true' : 'false' };
        push @args, $arg if defined $arg;
    }
    push @args, '--sample=' . ($opt->{sample} =~ s/\A0+//r) if defined $opt->{sample};
    return @args;
}

# How to run the command: 'direct' when CORE::system would exec it itself (a list, or a string
# without shell metacharacters), otherwise through /bin/sh.
sub _plan {
    my ($shell_ok, $logmemory, @args) = @_;
    if (@args > 1 || !$shell_ok) {
        return { direct => 1, argv => [@args], command => join(' ', @args),
                 run => [@$logmemory, @args] };
    }
    my $string = $args[0];
    my ($words, $stderr_to_stdout) = _perl_words($string);
    if ($words) {
        my @run = $stderr_to_stdout
          ? ('/bin/sh', '-c', 'exec "$@" 2>&1', 'sh', @$logmemory, @$words)
          : (@$logmemory, @$words);
        return { direct => 1, argv => [@$words], command => $string, run => \@run };
    }
    if (_is_simple_command($string)) {
        # The shell applies the redirections and runs logmemory, whose child is the command.
        # No "exec": the shell reports logmemory's wait status (which is the command's) exactly
        # as it would report the command's, e.g. 128+N for a signal under dash.
        my $script = join(' ', map { _sh_quote($_) } @$logmemory) . " $string";
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
sub _perl_words {
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

# True when the string is one simple command (words and redirections) that "exec" can prefix;
# false for anything with an unquoted ; & | ( ) newline or #, a leading assignment, reserved
# word or shell builtin, or quoting this scanner cannot follow. False is always safe.
sub _is_simple_command {
    my ($string) = @_;
    (my $s = $string) =~ s/\s+\z//;
    my ($first) = $s =~ /\A\s*(?:[0-9]*[<>]{1,2}[&|]?\s*[^\s<>|&;()]+\s*)*([^\s<>|&;()]*)/;
    return 0 if !defined $first || $first eq '' || $SHELL_WORD{$first} || $first =~ /\A[A-Za-z_]\w*=/;
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

sub _sh_quote {
    my ($word) = @_;
    $word =~ s/'/'\\''/g;
    return "'$word'";
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
        return ($path, $from);
    }
    my $path = IPC::Cmd::can_run('logmemory');
    return ($path, 'PATH') if defined $path && length $path;
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
    my $json = JSON::PP->new->utf8;
    my $data = eval { $json->decode($text) };
    if (!defined $data) {
        # Lone surrogates stand for bytes that are not UTF-8 ("surrogateescape"): keep the byte.
        (my $fixed = $text) =~ s/(?<!\\)((?:\\\\)*)\\u[dD][cC]([89a-fA-F][0-9a-fA-F])/$1\\u00$2/g;
        $data = eval { $json->decode($fixed) };
    }
    return (undef, _oneline($@ || 'not a JSON object')) unless ref $data eq 'HASH';
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
    die LogMemory::Error->_new(message => sprintf($format, @args));
}

sub _croak_result {
    my ($result, $format, @args) = @_;
    die LogMemory::Error->_new(message => sprintf($format, @args), result => $result);
}

package LogMemory::Error;

use overload '""' => \&as_string, bool => sub { 1 }, fallback => 1;

sub _new {
    my ($class, %args) = @_;
    my ($file, $line) = ('unknown', 0);
    for (my $level = 0; my @frame = caller $level; $level++) {
        next if $frame[0] =~ /\ALogMemory(?:::|\z)/;
        ($file, $line) = @frame[1, 2];
        last;
    }
    return bless { %args, file => $file, line => $line }, $class;
}

sub message   { return $_[0]{message} }
sub result    { return $_[0]{result} }
sub file      { return $_[0]{file} }
sub line      { return $_[0]{line} }
sub as_string { my ($self) = @_; return "$self->{message} at $self->{file} line $self->{line}.\n" }
sub throw     { my $class = shift; die $class->_new(@_) }

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
        warn "$err";                          # one line
        my $used = $err->result && $err->result->maxrss_kb;   # measured even after SIGKILL
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

Nothing is exported by default. Ask for the functions by name or take them all with C<:all>.
The module uses core Perl only (Perl 5.14 or later).

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
not in C<allow>. C<$?> is set before croaking. The exception is a C<LogMemory::Error> object
that stringifies to a one-line message ending in "at FILE line N." and a newline, and has
the methods C<message> (the text without the location), C<result> (the Result; undef for errors
raised before the command ran), C<file> and C<line>.

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
(C<VAR=x cmd>), or a first word that is a shell reserved word or builtin (C<cd>, C<echo>,
C<exit>, C<exec>, ...). Putting logmemory in front would change what such a string does (in
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
tells them from the command's own 125/126/127 by the record file, which logmemory writes only
after running the command:

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

Like C<CORE::system>, the functions ignore SIGINT and SIGQUIT while the command runs.
C<${^CHILD_ERROR_NATIVE}> is that of the logmemory process, not recomputed.

=head1 DIAGNOSTICS

Every message is a constant in the module, reproduced here verbatim; C<%s> and C<%d> are filled
in, and errors end with " at FILE line N." pointing at the caller.

=over 4

=item LogMemory: cannot find the logmemory binary; set LOGMEMORY_BIN, use LogMemory binary => PATH, or put logmemory in PATH

No binary option, no C<use LogMemory binary =E<gt> PATH>, no C<LOGMEMORY_BIN>, no installed path,
and no C<logmemory> in C<PATH>.

=item LogMemory: logmemory binary "%s" (from %s) is not an executable file; set LOGMEMORY_BIN to the right path

The path given by the named source does not exist or is not executable. A source that names a
path is not skipped when the path is wrong.

=item LogMemory: cannot run the logmemory binary "%s": %s

Starting logmemory (or F</bin/sh> for a string) failed, e.g. fork failed.

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

C<follow>, C<wait_all> and C<per_process> take a defined, non-reference value.

=item LogMemory: option "sample" must be a whole number of milliseconds, at least 1

=item LogMemory: option "format" needs option "log"

The format applies to the log file only.

=item LogMemory: option "allow" must be "any", an exit value or a list of exit values

Exit values are integers from 0 to 255.

=item LogMemory: "use LogMemory binary => PATH" needs a PATH

=item LogMemory: "%s" failed to start: %s

C<memrun>/C<memrunx>: the command could not be started; the second C<%s> is C<$!>.

=item LogMemory: "%s" unexpectedly returned exit value %d (max RSS %s)

C<memrun>/C<memrunx>: the exit value is not allowed. The max RSS is "N kB" or "unmeasured".

=item LogMemory: "%s" died to signal "%s" (%d)%s (max RSS %s)

C<memrun>/C<memrunx>: the command was killed by a signal (name such as "SIGKILL", number, and
" and dumped core" if it did).

=item LogMemory: ignoring the record logmemory wrote for "%s": %s

A warning (carp): the record file is not a JSON object. The status is still returned; the
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

C<$!> after -1 is derived from logmemory's exit value (127: ENOENT, 126: EACCES), so rarer
reasons (ETXTBSY, E2BIG, ELOOP) are reported as EACCES or ENOENT.

=item *

A string starting with a shell builtin that also exists as a program (C<echo>, C<test>,
C<kill>) and containing metacharacters is measured through the shell, so the builtin runs, as
under C<CORE::system>.

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

L<LogMemory::Result>, L<logmemory(1)>, L<perlfunc/system>, L<IPC::System::Simple>,
L<perlvar/$?>, L<time(1)>, L<proc(5)> (VmHWM, VmPeak), L<getrusage(2)> (ru_maxrss).

=cut
