/*
 * What an engine is opened with: its sockets' options and its probes' default
 * timeout and size. In a header of its own because the sockets need it too,
 * and nothing else of the engine.
 */
#ifndef FASTPING_CONFIG_H
#define FASTPING_CONFIG_H

#include <netinet/in.h>
#include <stdint.h>

typedef enum fp_privilege {
    FP_PRIVILEGE_AUTO = 0,     /* raw if permitted, else datagram */
    FP_PRIVILEGE_RAW = 1,      /* raw sockets only */
    FP_PRIVILEGE_DATAGRAM = 2, /* unprivileged ICMP datagram sockets only */
} fp_privilege;

typedef struct fp_config {
    uint64_t timeout_ns;  /* how long a probe may wait for its reply, unless its host has a
                             timeout of its own (fp_engine_set_host_timeout) */
    uint32_t payload_len; /* echo payload bytes, at least FP_TAG_LEN */
    int ttl;              /* IP TTL / hop limit, or -1 for the system's */
    int tos;              /* IP TOS / traffic class, or -1 */
    fp_privilege privilege;
    int icmp_timestamp;   /* 1: ICMPv4 timestamp requests instead of echo requests (icmp.h);
                             they need raw sockets, and IPv6 has no such message */
    int dont_fragment;    /* 1: a probe larger than the path's MTU fails to send (EMSGSIZE)
                             rather than leave in fragments: DF set on IPv4 whatever its size,
                             and IPv6's own fragmenting (by the sender only) turned off */
    int random_payload;   /* 1: each echo request's payload past the tag is random (fping -R),
                             not the fixed filler */
    int receive_tos;      /* 1: each reply's TOS / traffic class is read (fp_event.tos), at
                             the cost of a control message per reply on datagram and IPv6
                             sockets (raw IPv4 ones have it in the header) */
    int receive_destination; /* 1: each reply's destination address (ours) is read
                                (fp_event.to): IP_PKTINFO / IPV6_RECVPKTINFO, at the same
                                cost; raw IPv4 has it in the header */
    uint32_t fwmark;      /* SO_MARK on every socket, for policy routing (ip rule fwmark);
                             0 for none. Setting it needs CAP_NET_ADMIN. */
    /* Source addresses to bind (family AF_UNSPEC for none) and an interface
     * to bind to ("" for none). */
    struct sockaddr_in source4;
    struct sockaddr_in6 source6;
    char interface[16];
    /* The interface to send through (its index, 0 for the routed one): IP_UNICAST_IF /
     * IPV6_UNICAST_IF, which unlike SO_BINDTODEVICE leaves receiving alone (fping --oiface). */
    unsigned int out_interface;
} fp_config;

#endif
