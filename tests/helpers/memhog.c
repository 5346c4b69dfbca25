/* Controllable test child: allocate and touch memory, then end in a chosen way.
 *   -m MIB     touch MIB MiB in 1 MiB steps (the original tool's bigmalloc test)
 *   -T MIB     main thread exits first (pthread_exit); a second thread then touches MIB MiB
 *   -l SECS    with -T: how long that thread lives on after touching (default 0.1)
 *   -C N       start N threads that each exit at once, then join them
 *   -f MIB     fork (no exec) a child that keeps what we touched and touches MIB MiB more; the
 *              parent waits for it and exits with its status. Repeat for a chain (at most 8);
 *              the options below apply to the last child
 *   -w SECS    sleep SECS seconds (fractions allowed) after allocating
 *   -p FILE    write our pid to FILE (then sleep, if -w) so a test can signal us
 *   -t SIG     on SIG exit with status 42 (to see forwarded signals)
 *   -i FILE    log each SIGINT as "si_code si_pid" lines to FILE (to count deliveries)
 *   -x PROG    exec PROG (no arguments) after allocating
 *   -s SIG     end by raising SIG after allocating
 *   -e CODE    exit with CODE (default 0)
 *   -- CMD...  after allocating, start CMD (fork+exec, or posix_spawn with -P), hold the
 *              memory until it ends, then exit with its status
 */
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

static void touch(long mib) {
    for (long i = 0; i < mib; i++) {
        char *m = malloc(1 << 20);
        memset(m, 1, 1 << 20);
    }
}

static long late_mib;
static double late_linger = 0.1;
static void *late(void *arg) {
    (void)arg;
    usleep(100000);
    touch(late_mib);
    usleep((useconds_t)(late_linger * 1e6));
    exit(0);
}

static void *nothing(void *arg) { return arg; }

extern char **environ;

static int run_child(char **argv, int use_spawn) {
    pid_t pid;
    int status;
    if (use_spawn) {
        if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) return 97;
    } else if ((pid = fork()) == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid) return 96;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void on_signal(int sig) { (void)sig; _exit(42); }

static int int_log = -1;
static void on_int(int sig, siginfo_t *si, void *ctx) {
    char line[64];
    (void)sig; (void)ctx;
    int n = snprintf(line, sizeof line, "%d %d\n", si->si_code, (int)si->si_pid);
    if (write(int_log, line, n) != n) _exit(98);
}

int main(int argc, char **argv) {
    long mib = 0, threads = 0;
    double wait_s = 0;
    int code = 0, sig = 0, opt, use_spawn = 0;
    const char *pidfile = NULL, *prog = NULL;
    long forks[8];
    int nforks = 0;
    while ((opt = getopt(argc, argv, "+m:T:l:C:f:w:p:t:i:x:s:e:P")) != -1) {
        switch (opt) {
        case 'm': mib = atol(optarg); break;
        case 'f': if (nforks == 8) return 99; forks[nforks++] = atol(optarg); break;
        case 'T': late_mib = atol(optarg); break;
        case 'l': late_linger = atof(optarg); break;
        case 'C': threads = atol(optarg); break;
        case 'w': wait_s = atof(optarg); break;
        case 'p': pidfile = optarg; break;
        case 't': signal(atoi(optarg), on_signal); break;
        case 'i': {
            struct sigaction sa = {0};
            int_log = open(optarg, O_WRONLY | O_CREAT | O_APPEND, 0644);
            sa.sa_sigaction = on_int;
            sa.sa_flags = SA_SIGINFO;
            sigaction(SIGINT, &sa, NULL);
            break;
        }
        case 'x': prog = optarg; break;
        case 's': sig = atoi(optarg); break;
        case 'e': code = atoi(optarg); break;
        case 'P': use_spawn = 1; break;
        default: return 99;
        }
    }
    touch(mib);
    for (int i = 0; i < nforks; i++) {
        pid_t pid = fork();
        if (pid > 0) {
            int status;
            if (waitpid(pid, &status, 0) != pid) return 96;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        touch(forks[i]);
    }
    for (long i = 0; i < threads; i++) {
        pthread_t t;
        pthread_create(&t, NULL, nothing, NULL);
        pthread_join(t, NULL);
    }
    if (pidfile) {
        FILE *f = fopen(pidfile, "w");
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
    if (wait_s > 0) {
        struct timespec ts = {(time_t)wait_s, (long)((wait_s - (time_t)wait_s) * 1e9)};
        while (nanosleep(&ts, &ts) != 0) {}
    }
    if (late_mib) {
        pthread_t t;
        pthread_create(&t, NULL, late, NULL);
        pthread_exit(NULL);
    }
    if (optind < argc) code = run_child(argv + optind, use_spawn);
    if (prog) execl(prog, prog, (char *)NULL);
    if (sig) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    return code;
}
