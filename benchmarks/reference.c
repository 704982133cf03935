/* reference.c: a plain C pinger, the yardstick for benchmarks/compare.py.
 *
 * One round: one echo request to every IPv4 address in FILE (one per line, '#' starts a
 * comment), over one raw ICMP socket, then wait for the replies or the timeout. Nothing here is
 * clever beyond what a careful C programmer would do for speed:
 *   - sends go out in bursts of BATCH through sendmmsg(), and after each burst the socket is
 *     drained with recvmmsg(), so replies never pile up while we are still sending;
 *   - a classic BPF filter makes the kernel drop every ICMP packet that is not an echo reply
 *     carrying our identifier (on loopback the raw socket would otherwise also get a copy of
 *     each of our own requests, and every other pinger's traffic);
 *   - the receive buffer is sized to the host count (SO_RCVBUFFORCE, as root);
 *   - receive times are the kernel's (SO_TIMESTAMPNS); a probe's send time is read from the
 *     same clock (CLOCK_REALTIME) just before the sendmmsg() that carries it, so a probe late
 *     in a burst is charged for the sends before it (-b 1 gives every probe its own send time).
 * The payload carries the host's index and a per-run cookie, so a reply names its host without
 * a search; it must also come from that host's address.
 *
 * Output: one line per host, "ADDRESS RTT_MS" (nanosecond resolution) or "ADDRESS -" if it did
 * not answer (not with -q), then one summary line:
 *   summary hosts=N sent=S received=R duplicates=D rtt_median_ms=M rtt_mean_ms=A elapsed_s=E
 * Exit status: 0 all answered, 1 some did not, 3 bad arguments, 4 system error.
 *
 * Heartbeat (-l PERIOD_MS): every host once per period, spread evenly: every TICK_MS (-s,
 * default 25; compare.py passes fastping.Monitor's send slack) the next hosts in turn,
 * PERIOD/TICK ticks per period, then sleep to the next tick; until SIGINT, then only the summary
 * line (sent=, received=). It is the yardstick for the heartbeat's CPU: the same pattern in C.
 *
 * Build: cc -O2 -o reference reference.c (compare.py does this in a temporary directory).
 * Run as root (raw socket): ./reference [-b BATCH] [-t TIMEOUT_MS] [-l PERIOD_MS [-s TICK_MS]]
 *                                       [-q] FILE
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_LEN 56
#define PACKET_LEN (8 + PAYLOAD_LEN)
#define MAX_BATCH 1024
#define RECV_BATCH 64
#define RECV_SLOT 256 /* an IP header (at most 60) + our 64-byte echo, with room */
#define CONTROL_LEN 64
#define RCVBUF_PER_HOST 2048 /* a queued reply's true size on loopback is about 1 KiB */
#define RCVBUF_MIN (256 * 1024)

struct host {
    struct sockaddr_in address;
    int64_t sent_ns; /* CLOCK_REALTIME, just before the sendmmsg() that carried it */
    int64_t rtt_ns;  /* -1 until answered */
};

static struct host *hosts;
static size_t host_count;
static uint16_t identifier;
static uint32_t cookie;
static size_t received, duplicates;
static volatile sig_atomic_t interrupted;

static int64_t realtime_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static int64_t monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static uint16_t checksum(const uint8_t *data, size_t length) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < length; i += 2)
        sum += (uint32_t)(data[i] << 8 | data[i + 1]);
    if (length & 1)
        sum += (uint32_t)data[length - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

static void read_hosts(const char *path) {
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        fprintf(stderr, "reference: %s: %s\n", path, strerror(errno));
        exit(3);
    }
    size_t capacity = 1024;
    hosts = malloc(capacity * sizeof *hosts);
    char line[256];
    while (hosts != NULL && fgets(line, sizeof line, file) != NULL) {
        line[strcspn(line, "#\r\n")] = '\0';
        char *text = line + strspn(line, " \t");
        text[strcspn(text, " \t")] = '\0';
        if (*text == '\0')
            continue;
        if (host_count == capacity) {
            capacity *= 2;
            struct host *grown = realloc(hosts, capacity * sizeof *hosts);
            if (grown == NULL)
                break;
            hosts = grown;
        }
        struct host *host = &hosts[host_count];
        memset(host, 0, sizeof *host);
        host->address.sin_family = AF_INET;
        if (inet_pton(AF_INET, text, &host->address.sin_addr) != 1) {
            fprintf(stderr, "reference: not an IPv4 address: %s\n", text);
            exit(3);
        }
        host->rtt_ns = -1;
        host_count++;
    }
    if (hosts == NULL) {
        fputs("reference: out of memory\n", stderr);
        exit(4);
    }
    fclose(file);
}

/* Accept only echo replies (type 0) whose identifier is ours; X skips the IP header. */
static int attach_filter(int fd) {
    struct sock_filter code[] = {
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
        BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP_ECHOREPLY, 0, 3),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, identifier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog program = {sizeof code / sizeof code[0], code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program);
}

static int open_socket(void) {
    int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0) {
        perror("reference: raw ICMP socket (needs root or CAP_NET_RAW)");
        exit(4);
    }
    int one = 1;
    /* Room for every reply of the round, in case we fall behind while sending. */
    int rcvbuf = host_count * RCVBUF_PER_HOST > RCVBUF_MIN ? (int)(host_count * RCVBUF_PER_HOST)
                                                           : RCVBUF_MIN;
    if (attach_filter(fd) < 0 || setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0
        || (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0
            && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)) {
        perror("reference: setsockopt");
        exit(4);
    }
    return fd;
}

static void handle_reply(const uint8_t *packet, size_t length, const struct sockaddr_in *from,
                         int64_t received_ns) {
    if (length < sizeof(struct iphdr))
        return;
    size_t header_len = (size_t)(packet[0] & 0x0f) * 4;
    if (length < header_len + PACKET_LEN)
        return;
    const uint8_t *icmp = packet + header_len;
    uint32_t index, their_cookie;
    memcpy(&index, icmp + 8, sizeof index);
    memcpy(&their_cookie, icmp + 12, sizeof their_cookie);
    if (their_cookie != cookie || index >= host_count
        || from->sin_addr.s_addr != hosts[index].address.sin_addr.s_addr)
        return;
    struct host *host = &hosts[index];
    if (host->rtt_ns >= 0) {
        duplicates++;
        return;
    }
    host->rtt_ns = received_ns - host->sent_ns;
    received++;
}

/* Reads every datagram waiting, without blocking. */
static void drain(int fd) {
    static uint8_t buffers[RECV_BATCH][RECV_SLOT];
    static uint8_t controls[RECV_BATCH][CONTROL_LEN];
    static struct sockaddr_in names[RECV_BATCH];
    static struct iovec iovs[RECV_BATCH];
    static struct mmsghdr messages[RECV_BATCH];
    for (;;) {
        for (int i = 0; i < RECV_BATCH; i++) {
            iovs[i] = (struct iovec){buffers[i], RECV_SLOT};
            messages[i].msg_hdr = (struct msghdr){.msg_name = &names[i],
                                                  .msg_namelen = sizeof names[i],
                                                  .msg_iov = &iovs[i],
                                                  .msg_iovlen = 1,
                                                  .msg_control = controls[i],
                                                  .msg_controllen = CONTROL_LEN};
        }
        int count = recvmmsg(fd, messages, RECV_BATCH, MSG_DONTWAIT, NULL);
        if (count < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                perror("reference: recvmmsg");
            return;
        }
        for (int i = 0; i < count; i++) {
            struct msghdr *header = &messages[i].msg_hdr;
            int64_t received_ns = -1;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(header); c; c = CMSG_NXTHDR(header, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec stamp;
                    memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
                    received_ns = (int64_t)stamp.tv_sec * 1000000000 + stamp.tv_nsec;
                }
            }
            if (received_ns < 0)
                received_ns = realtime_ns();
            handle_reply(buffers[i], messages[i].msg_len, &names[i], received_ns);
        }
        if (count < RECV_BATCH)
            return;
    }
}

/* Sends hosts[first .. first + count) in one sendmmsg() (more if it sends only part). */
static size_t send_burst(int fd, size_t first, size_t count) {
    static uint8_t packets[MAX_BATCH][PACKET_LEN];
    static struct iovec iovs[MAX_BATCH];
    static struct mmsghdr messages[MAX_BATCH];
    for (size_t i = 0; i < count; i++) {
        uint32_t index = (uint32_t)(first + i);
        uint8_t *packet = packets[i];
        memset(packet, 0, PACKET_LEN);
        packet[0] = ICMP_ECHO;
        uint16_t id = htons(identifier), sequence = htons((uint16_t)index);
        memcpy(packet + 4, &id, 2);
        memcpy(packet + 6, &sequence, 2);
        memcpy(packet + 8, &index, sizeof index);
        memcpy(packet + 12, &cookie, sizeof cookie);
        uint16_t sum = checksum(packet, PACKET_LEN);
        memcpy(packet + 2, &sum, 2);
        iovs[i] = (struct iovec){packet, PACKET_LEN};
        messages[i].msg_hdr = (struct msghdr){.msg_name = &hosts[index].address,
                                              .msg_namelen = sizeof hosts[index].address,
                                              .msg_iov = &iovs[i],
                                              .msg_iovlen = 1};
    }
    size_t done = 0;
    while (done < count) {
        int64_t now = realtime_ns();
        for (size_t i = done; i < count; i++) {
            hosts[first + i].sent_ns = now;
            hosts[first + i].rtt_ns = -1; /* a heartbeat probes each host again */
        }
        int sent = sendmmsg(fd, messages + done, (unsigned)(count - done), 0);
        if (sent < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
                continue;
            perror("reference: sendmmsg");
            return done;
        }
        done += (size_t)sent;
    }
    return done;
}

static int compare_rtts(const void *a, const void *b) {
    int64_t left = *(const int64_t *)a, right = *(const int64_t *)b;
    return (left > right) - (left < right);
}

static void on_interrupt(int signal_number) {
    (void)signal_number;
    interrupted = 1;
}

/* -l: the next hosts in turn every tick, until SIGINT; returns the probes sent. */
static size_t heartbeat(int fd, size_t batch, long period_ms, long tick_ms) {
    struct sigaction action = {.sa_handler = on_interrupt}; /* no SA_RESTART: sleeps end */
    sigaction(SIGINT, &action, NULL);
    long ticks = period_ms / tick_ms > 0 ? period_ms / tick_ms : 1;
    size_t per_tick = (host_count + (size_t)ticks - 1) / (size_t)ticks, cursor = 0, sent = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!interrupted) {
        for (size_t done = 0; done < per_tick && !interrupted;) {
            size_t count = per_tick - done < batch ? per_tick - done : batch;
            if (count > host_count - cursor)
                count = host_count - cursor;
            sent += send_burst(fd, cursor, count);
            drain(fd);
            done += count;
            cursor = (cursor + count) % host_count;
        }
        next.tv_nsec += tick_ms * 1000000;
        next.tv_sec += next.tv_nsec / 1000000000;
        next.tv_nsec %= 1000000000;
        while (!interrupted && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0)
            ;
        drain(fd);
    }
    return sent;
}

int main(int argc, char **argv) {
    long batch = 64, timeout_ms = 1000, period_ms = 0, tick_ms = 25;
    int quiet = 0, option;
    while ((option = getopt(argc, argv, "b:t:l:s:q")) != -1) {
        if (option == 'b')
            batch = strtol(optarg, NULL, 10);
        else if (option == 't')
            timeout_ms = strtol(optarg, NULL, 10);
        else if (option == 'l')
            period_ms = strtol(optarg, NULL, 10);
        else if (option == 's')
            tick_ms = strtol(optarg, NULL, 10);
        else if (option == 'q')
            quiet = 1;
        else
            return 3;
    }
    if (optind != argc - 1 || batch < 1 || batch > MAX_BATCH || timeout_ms < 1 || period_ms < 0
        || tick_ms < 1) {
        fprintf(stderr, "usage: %s [-b BATCH (1..%d)] [-t TIMEOUT_MS] [-l PERIOD_MS [-s TICK_MS]] "
                "[-q] FILE\n", argv[0], MAX_BATCH);
        return 3;
    }
    int64_t started = monotonic_ns();
    read_hosts(argv[optind]);
    identifier = (uint16_t)getpid();
    cookie = (uint32_t)realtime_ns() ^ ((uint32_t)getpid() << 16);
    int fd = open_socket();
    if (period_ms > 0) {
        size_t sent = heartbeat(fd, (size_t)batch, period_ms, tick_ms);
        close(fd);
        printf("summary hosts=%zu sent=%zu received=%zu duplicates=%zu elapsed_s=%.6f\n",
               host_count, sent, received, duplicates, (monotonic_ns() - started) / 1e9);
        free(hosts);
        return 0;
    }

    size_t sent = 0;
    while (sent < host_count) {
        size_t count = host_count - sent < (size_t)batch ? host_count - sent : (size_t)batch;
        sent += send_burst(fd, sent, count);
        drain(fd);
    }
    int64_t deadline = monotonic_ns() + timeout_ms * 1000000;
    struct pollfd readable = {fd, POLLIN, 0};
    while (received < host_count) {
        int64_t left_ms = (deadline - monotonic_ns() + 999999) / 1000000;
        if (left_ms <= 0)
            break;
        int ready = poll(&readable, 1, (int)left_ms);
        if (ready > 0)
            drain(fd);
        else if (ready < 0 && errno != EINTR)
            break;
    }
    close(fd);

    int64_t *rtts = malloc((received + 1) * sizeof *rtts);
    size_t answered = 0;
    double total_ms = 0;
    char text[INET_ADDRSTRLEN];
    for (size_t i = 0; i < host_count; i++) {
        inet_ntop(AF_INET, &hosts[i].address.sin_addr, text, sizeof text);
        if (hosts[i].rtt_ns >= 0) {
            rtts[answered++] = hosts[i].rtt_ns;
            total_ms += hosts[i].rtt_ns / 1e6;
            if (!quiet)
                printf("%s %.6f\n", text, hosts[i].rtt_ns / 1e6);
        } else if (!quiet) {
            printf("%s -\n", text);
        }
    }
    qsort(rtts, answered, sizeof *rtts, compare_rtts);
    double median_ms = answered == 0 ? 0
                       : answered % 2 ? rtts[answered / 2] / 1e6
                                      : (rtts[answered / 2 - 1] + rtts[answered / 2]) / 2e6;
    printf("summary hosts=%zu sent=%zu received=%zu duplicates=%zu rtt_median_ms=%.6f "
           "rtt_mean_ms=%.6f elapsed_s=%.6f\n",
           host_count, sent, received, duplicates, median_ms,
           answered ? total_ms / (double)answered : 0.0, (monotonic_ns() - started) / 1e9);
    free(rtts);
    free(hosts);
    return received == host_count ? 0 : 1;
}
