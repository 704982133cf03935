#define _GNU_SOURCE
#include "sockets.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "icmp.h"

static int set_int_option(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

static int create_icmp_socket(fp_privilege privilege, int af, int *raw) {
    int protocol = af == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    if (privilege != FP_PRIVILEGE_DATAGRAM) {
        int fd = socket(af, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
        if (fd >= 0) {
            *raw = 1;
            return fd;
        }
        if ((errno != EPERM && errno != EACCES) || privilege == FP_PRIVILEGE_RAW)
            return -errno;
    }
    int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return errno == EPERM ? -EACCES : -errno;
    *raw = 0;
    return fd;
}

/* The type of the replies to our requests. */
static uint8_t reply_type(const fp_config *c) {
    return c->icmp_timestamp ? FP_ICMP4_TIMESTAMP_REPLY : FP_ICMP4_ECHO_REPLY;
}

/* Raw sockets see every ICMP message the host receives; let the kernel drop
 * the kinds we never want (requests, including our own on loopback). */
static int install_kernel_filter(const fp_config *c, int fd, int af) {
    if (af == AF_INET) {
        struct icmp_filter filter = {
            ~((1u << reply_type(c)) | (1u << FP_ICMP4_UNREACH) |
              (1u << FP_ICMP4_TIME_EXCEEDED) | (1u << FP_ICMP4_PARAM_PROBLEM))};
        return setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof filter) < 0 ? -errno : 0;
    }
    struct icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(FP_ICMP6_ECHO_REPLY, &filter);
    ICMP6_FILTER_SETPASS(FP_ICMP6_UNREACH, &filter);
    ICMP6_FILTER_SETPASS(FP_ICMP6_PACKET_TOO_BIG, &filter);
    ICMP6_FILTER_SETPASS(FP_ICMP6_TIME_EXCEEDED, &filter);
    ICMP6_FILTER_SETPASS(FP_ICMP6_PARAM_PROBLEM, &filter);
    return setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) < 0 ? -errno : 0;
}

int fp_socket_set_receive_buffer(int fd, int bytes) {
    /* FORCE passes net.core.rmem_max when we may (CAP_NET_ADMIN). */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) == 0)
        return 0;
    return set_int_option(fd, SOL_SOCKET, SO_RCVBUF, bytes);
}

static int configure_socket(const fp_config *c, int fd, int af, int raw, int rcvbuf) {
    int rc = set_int_option(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
    if (rc == 0 && raw)
        rc = install_kernel_filter(c, fd, af);
    if (af == AF_INET) {
        if (rc == 0 && !raw)
            rc = set_int_option(fd, IPPROTO_IP, IP_RECVERR, 1);
        if (rc == 0 && !raw)
            rc = set_int_option(fd, IPPROTO_IP, IP_RECVTTL, 1);
        if (rc == 0 && !raw && c->receive_tos)
            rc = set_int_option(fd, IPPROTO_IP, IP_RECVTOS, 1);
        if (rc == 0 && !raw && c->receive_destination)
            rc = set_int_option(fd, IPPROTO_IP, IP_PKTINFO, 1);
        if (rc == 0 && c->ttl >= 0)
            rc = fp_socket_set_ttl(fd, af, c->ttl);
        if (rc == 0 && c->tos >= 0)
            rc = set_int_option(fd, IPPROTO_IP, IP_TOS, c->tos);
        /* The kernel's default sets DF on our probes too, but still draws each one an IP ID
         * from its shared hashed counters: 3% of a round's CPU. Set this way, DF comes with ID
         * 0 (RFC 6864). Only for probes of at most 552 bytes: the kernel never takes a path's
         * MTU below that (route/min_pmtu), so the default would not fragment them either. */
        if (rc == 0 && c->dont_fragment)
            rc = set_int_option(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
        else if (rc == 0 && FP_IPV4_MIN_HEADER + FP_ICMP_HEADER_LEN + c->payload_len <= 552)
            rc = set_int_option(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
    } else {
        if (rc == 0 && !raw)
            rc = set_int_option(fd, IPPROTO_IPV6, IPV6_RECVERR, 1);
        if (rc == 0)
            rc = set_int_option(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
        if (rc == 0 && c->receive_tos)
            rc = set_int_option(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
        if (rc == 0 && c->receive_destination)
            rc = set_int_option(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
        if (rc == 0 && c->ttl >= 0)
            rc = fp_socket_set_ttl(fd, af, c->ttl);
        if (rc == 0 && c->tos >= 0)
            rc = set_int_option(fd, IPPROTO_IPV6, IPV6_TCLASS, c->tos);
        if (rc == 0 && c->dont_fragment)
            rc = set_int_option(fd, IPPROTO_IPV6, IPV6_DONTFRAG, 1);
    }
    if (rc == 0 && c->fwmark != 0)
        rc = set_int_option(fd, SOL_SOCKET, SO_MARK, (int)c->fwmark);
    /* Both take the index in network byte order. */
    if (rc == 0 && c->out_interface != 0)
        rc = set_int_option(fd, af == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
                            af == AF_INET ? IP_UNICAST_IF : IPV6_UNICAST_IF,
                            (int)htonl(c->out_interface));
    if (rc == 0 && c->interface[0] &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, c->interface,
                   (socklen_t)strlen(c->interface)) < 0)
        rc = -errno;
    if (rc == 0)
        rc = fp_socket_set_receive_buffer(fd, rcvbuf);
    if (rc != 0)
        return rc;
    /* Datagram sockets need a bound port: the kernel uses it as the echo
     * identifier, and we must know it to match quoted errors. */
    const struct sockaddr *source = af == AF_INET ? (const struct sockaddr *)&c->source4
                                                  : (const struct sockaddr *)&c->source6;
    socklen_t source_len = af == AF_INET ? sizeof c->source4 : sizeof c->source6;
    struct sockaddr_in6 any;
    if (source->sa_family == AF_UNSPEC) {
        if (raw)
            return 0;
        memset(&any, 0, sizeof any);
        any.sin6_family = (sa_family_t)af;
        source = (const struct sockaddr *)&any;
    }
    if (bind(fd, source, source_len) < 0)
        return -errno;
    return 0;
}

static int socket_identifier(int fd, int raw, uint16_t *ident) {
    if (raw) {
        /* Raw sockets leave the identifier to us; the cookie, not this,
         * is what tells two engines in one process apart. */
        if (getrandom(ident, sizeof *ident, 0) != sizeof *ident)
            return -errno;
        return 0;
    }
    struct sockaddr_in6 bound;
    socklen_t length = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &length) < 0)
        return -errno;
    /* sin_port and sin6_port sit at the same offset. */
    *ident = ntohs(bound.sin6_port);
    return 0;
}

/* A raw socket is handed every echo reply the machine receives, every other
 * pinger's included, and a busy host's could cost us a wake-up each. This
 * classic BPF program makes the kernel drop all but replies (echo or
 * timestamp, as we send) carrying our identifier and errors quoting a
 * request that carries it. An
 * IPv4 raw socket's filter sees the IP header first; an IPv6 one's starts at
 * the ICMPv6 header. Loads past the end of a packet make it return 0: drop. */
static int attach_identifier_filter(int fd, int af, uint8_t reply, uint16_t ident) {
    enum { ACCEPT = 0xffff, DROP = 0 };
    struct sock_filter ipv4[] = {
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),                 /* X = IP header length */
        BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),                  /* A = ICMP type */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, reply, 0, 2),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4),                  /* A = identifier */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ident, 12, 13),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FP_ICMP4_UNREACH, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FP_ICMP4_TIME_EXCEEDED, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FP_ICMP4_PARAM_PROBLEM, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, DROP),
        /* An error: X += 8 + the quoted IP header's length, to the quoted ICMP. */
        BPF_STMT(BPF_LD | BPF_B | BPF_IND, 8),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x0f),
        BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 2),
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 8),
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4),                  /* the quoted identifier */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ident, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, ACCEPT),
        BPF_STMT(BPF_RET | BPF_K, DROP),
    };
    struct sock_filter ipv6[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),                  /* A = ICMPv6 type */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FP_ICMP6_ECHO_REPLY, 0, 2),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4),                  /* A = identifier */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ident, 3, 4),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, FP_ICMP6_PARAM_PROBLEM, 3, 0),
        /* An error (types 1-4, the ICMPv6 filter passed no others): the
         * quoted echo's identifier, past 8 bytes of ICMPv6 and 40 of IPv6. */
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, FP_ICMP_HEADER_LEN + FP_IPV6_HEADER_LEN + 4),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ident, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, ACCEPT),
        BPF_STMT(BPF_RET | BPF_K, DROP),
    };
    struct sock_fprog program = af == AF_INET
        ? (struct sock_fprog){sizeof ipv4 / sizeof ipv4[0], ipv4}
        : (struct sock_fprog){sizeof ipv6 / sizeof ipv6[0], ipv6};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0)
        return -errno;
    /* What arrived before the filter was attached is not ours: we have sent
     * nothing yet. */
    uint8_t discard[64];
    while (recv(fd, discard, sizeof discard, MSG_DONTWAIT | MSG_TRUNC) >= 0)
        ;
    return 0;
}

int fp_socket_set_ttl(int fd, int af, int ttl) {
    /* Both options take -1 for the system's default. */
    if (af == AF_INET)
        return set_int_option(fd, IPPROTO_IP, IP_TTL, ttl);
    return set_int_option(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
}

int fp_socket_open(const fp_config *config, int af, int rcvbuf, fp_socket *out) {
    int raw = 0;
    /* Datagram ICMP sockets carry echo requests only. */
    fp_privilege privilege = config->icmp_timestamp ? FP_PRIVILEGE_RAW : config->privilege;
    int fd = create_icmp_socket(privilege, af, &raw);
    if (fd < 0)
        return fd;
    uint16_t ident = 0;
    int rc = configure_socket(config, fd, af, raw, rcvbuf);
    if (rc == 0)
        rc = socket_identifier(fd, raw, &ident);
    if (rc == 0 && raw)
        rc = attach_identifier_filter(fd, af, reply_type(config), ident);
    if (rc != 0) {
        /* Not yet handed to anyone: this is its only owner. */
        close(fd);
        return rc;
    }
    *out = (fp_socket){fd, raw, ident};
    return 0;
}
