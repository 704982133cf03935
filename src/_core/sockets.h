/*
 * Opening the ICMP socket of one address family, configured as the engine
 * needs it: raw when permitted (with a kernel filter for the ICMP types we
 * want), else an unprivileged datagram socket (bound, so that we know the
 * identifier the kernel will put in our requests), with receive timestamps,
 * TTL/hop-limit reporting and the user's TTL, TOS, source and interface.
 */
#ifndef FASTPING_SOCKETS_H
#define FASTPING_SOCKETS_H

#include <stdint.h>

#include "config.h"

typedef struct fp_socket {
    int fd;         /* -1 when not open */
    int raw;        /* 1 raw, 0 datagram */
    uint16_t ident; /* the echo identifier our requests carry */
} fp_socket;

/* Opens the socket of family af (AF_INET or AF_INET6). Returns 0, or a
 * negative errno with nothing left open: -EACCES when neither kind of
 * socket is permitted, -EPERM when raw sockets were required and refused. */
int fp_socket_open(const fp_config *config, int af, int rcvbuf, fp_socket *out);

/* Sets the TTL / hop limit of the socket's sends from now on (af AF_INET or
 * AF_INET6); -1 for the system's. Returns 0 or a negative errno. */
int fp_socket_set_ttl(int fd, int af, int ttl);

/* Sets SO_RCVBUF, past net.core.rmem_max when permitted. */
int fp_socket_set_receive_buffer(int fd, int bytes);

#endif
