/* The original logmemory (from the Q&A thread in shared/seed), braces restored, kept as the
 * reference for the legacy record format. Tests build it and compare records byte for byte. */
#include <stdio.h>
#include <sys/ptrace.h>
#include <unistd.h>
#include <syscall.h>
#include <sys/reg.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRINGLENGTH 2048

int main(int argc, char **argv) {
    pid_t child_pid;
    long syscall;
    int status, index;
    FILE *statusfile, *logfile;
    char opt, statusfile_path[STRINGLENGTH], line[STRINGLENGTH], logfile_path[STRINGLENGTH] = "";
    time_t now;
    extern char *optarg;
    extern int optind;

    if (argc == 1) {
        printf("Error: program to execute is missing. Exiting...\n");
        return 0;
    }
    while ((opt = getopt(argc, argv, "+o:")) != -1)
        switch (opt) {
            case 'o':
                strncpy(logfile_path, optarg, 2048);
                break;
            case ':':
                fprintf(stderr, "Aborting: argument for option -o is missing\n");
                return 1;
            case '?':
                fprintf(stderr, "Aborting: only valid option is -o\n");
                return 1;
        }
    if (!strcmp(logfile_path, "")) {
        fprintf(stderr, "Error: log filename can't be empty\n");
        return 1;
    }
    child_pid = fork();
    if (child_pid == 0) {
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        execvp(argv[optind], (char * const *)(argv + optind));
    } else {
        do {
            ptrace(PTRACE_SYSCALL, child_pid, NULL, NULL);
            wait(&status);
            if (WIFEXITED(status))
                break;
            syscall = ptrace(PTRACE_PEEKUSER, child_pid, 8 * ORIG_RAX, NULL);
        } while (syscall != SYS_exit_group);

        snprintf(statusfile_path, STRINGLENGTH, "/proc/%d/status", child_pid);
        if (!(logfile = fopen(logfile_path, "a+")) || !(statusfile = fopen(statusfile_path, "r"))) {
            ptrace(PTRACE_DETACH, child_pid, NULL, NULL);
            return 1;
        }
        now = time(NULL);
        fprintf(logfile, "Date: %sCmd: ", asctime(localtime(&now)));
        for (index = optind; index < argc; index++)
            fprintf(logfile, " %s", argv[index]);
        fprintf(logfile, "\n");
        while (fgets(line, STRINGLENGTH, statusfile)) {
            if (strstr(line, "VmPeak") || strstr(line, "VmHWM"))
                fprintf(logfile, "%s", line);
        }
        fprintf(logfile, "\n");
        fclose(logfile);
        fclose(statusfile);
        ptrace(PTRACE_DETACH, child_pid, NULL, NULL);
    }
    return 0;
}
