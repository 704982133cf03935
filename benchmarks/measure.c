/* measure.c: run a command; report its wall time, CPU time and peak RSS, as compare.py needs.
 *
 * Why not measure from Python: a child's ru_maxrss includes the memory of the process it was
 * forked from, up to the exec (Linux keeps the larger of the two across exec). Forked from
 * this small program instead, a command's peak RSS is its own.
 *
 * Usage: measure COMMAND [ARG...]. The command's output is left alone; at its end one line goes
 * to stderr: "measure: wall_s=W user_s=U sys_s=S maxrss_kib=M status=X" (X: the exit status,
 * or minus the signal that ended it). SIGINT and SIGTERM are passed on to the command, which is
 * how compare.py stops looping pingers. Built by compare.py: cc -O2 -o measure measure.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child;

static void pass_on(int number) {
    if (child > 0)
        kill(child, number);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: measure COMMAND [ARG...]\n", stderr);
        return 3;
    }
    struct sigaction action = {.sa_handler = pass_on, .sa_flags = SA_RESTART};
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    struct timespec started, ended;
    clock_gettime(CLOCK_MONOTONIC, &started);
    child = fork();
    if (child < 0) {
        perror("measure: fork");
        return 4;
    }
    if (child == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(argv[1], argv + 1);
        perror("measure: exec");
        _exit(127);
    }
    int status;
    struct rusage usage;
    while (wait4(child, &status, 0, &usage) < 0)
        if (errno != EINTR) {
            perror("measure: wait4");
            return 4;
        }
    clock_gettime(CLOCK_MONOTONIC, &ended);
    int outcome = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    fprintf(stderr, "measure: wall_s=%.6f user_s=%.6f sys_s=%.6f maxrss_kib=%ld status=%d\n",
            (double)(ended.tv_sec - started.tv_sec) + (ended.tv_nsec - started.tv_nsec) / 1e9,
            usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6,
            usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6, usage.ru_maxrss, outcome);
    return 0;
}
