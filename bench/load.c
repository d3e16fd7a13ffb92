/* The benchmark's load: N processes that look like a busy host.
 *
 *   load N [NETNS]
 *
 * Every process holds 20 open files; of each ten, five hold a TCP connection to a listener on
 * loopback (IPv4 and IPv6 in turn), one a bound UDP socket, one a unix socket pair, three only
 * files. About 10% of the processes live in NETNS (default 8) extra network namespaces, each with
 * its own loopback and listener. The main process accepts and holds the server side of every
 * connection, prints "ready PROCESSES" and waits; the caller ends the whole process group.
 * Loopback only; root is needed for the extra namespaces. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILES 20

static void die(const char *what) { perror(what); exit(1); }

static int listener(int family, int *port) {
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(fd, (void *)&a, sizeof a)) die("bind4");
        socklen_t l = sizeof a;
        getsockname(fd, (void *)&a, &l);
        *port = ntohs(a.sin_port);
    } else {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
        if (bind(fd, (void *)&a, sizeof a)) die("bind6");
        socklen_t l = sizeof a;
        getsockname(fd, (void *)&a, &l);
        *port = ntohs(a.sin6_port);
    }
    if (listen(fd, 4096)) die("listen");
    return fd;
}

/* Closed with a reset when the load is killed: no TIME_WAIT left to count in the next run. */
static void no_linger(int fd) {
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

static int connect_to(int family, int port) {
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    no_linger(fd);
    int rc;
    if (family == AF_INET) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        rc = connect(fd, (void *)&a, sizeof a);
    } else {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_loopback};
        rc = connect(fd, (void *)&a, sizeof a);
    }
    return rc == 0 ? fd : -1;
}

/* What one process of the load holds, then it sleeps until killed. */
static void child(int i, int port4, int port6) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Drop what fork copied from the parent (listeners, connections accepted so far). */
    close_range(3, ~0U, 0);
    for (int f = 0; f < FILES; f++) open(f % 2 ? "/etc/passwd" : "/etc/hostname", O_RDONLY);
    switch (i % 10) {
    case 0: case 2: case 4: connect_to(AF_INET, port4); break;
    case 1: case 3: connect_to(port6 ? AF_INET6 : AF_INET, port6 ? port6 : port4); break;
    case 5: {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bind(u, (void *)&a, sizeof a);
        break;
    }
    case 6: { int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv); break; }
    default: break;
    }
    for (;;) pause();
}

struct acceptor { int fds[2]; int n; int want; };

/* Accepts and keeps every connection until `want` were taken. */
static void *accept_all(void *p) {
    struct acceptor *a = p;
    struct pollfd pf[2] = {{.fd = a->fds[0], .events = POLLIN}, {.fd = a->fds[1], .events = POLLIN}};
    int nfds = a->fds[1] >= 0 ? 2 : 1;
    while (__atomic_load_n(&a->n, __ATOMIC_SEQ_CST) < a->want) {
        if (poll(pf, nfds, 1000) <= 0) continue;
        for (int k = 0; k < nfds; k++)
            if (pf[k].revents & POLLIN) {
                int c = accept4(pf[k].fd, NULL, NULL, SOCK_NONBLOCK);
                if (c >= 0) no_linger(c);
                if (c >= 0) __atomic_add_fetch(&a->n, 1, __ATOMIC_SEQ_CST);
            }
    }
    return NULL;
}

static int tcp_count(int first, int count) {
    int n = 0;
    for (int i = first; i < first + count; i++)
        if (i % 10 <= 4) n++;
    return n;
}

static void lo_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r = {0};
    strcpy(r.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &r)) die("SIOCGIFFLAGS");
    r.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &r)) die("SIOCSIFFLAGS");
    close(s);
}

/* Starts `count` processes (index `first` on) connected to listeners of the current netns,
 * accepts their connections, and returns once all are held. */
static void populate(int first, int count) {
    int p4, p6 = 0;
    int l4 = listener(AF_INET, &p4);
    int l6 = listener(AF_INET6, &p6);
    struct acceptor acc = {.fds = {l4, l6}, .n = 0, .want = tcp_count(first, count)};
    pthread_t t;
    pthread_create(&t, NULL, accept_all, &acc);
    for (int i = first; i < first + count; i++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) child(i, p4, p6);
    }
    pthread_join(t, NULL);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: load N [NETNS]\n"); return 2; }
    int n = atoi(argv[1]);
    int nns = argc > 2 ? atoi(argv[2]) : 8;
    int extra = n / 10;
    if (nns <= 0 || extra < nns) { nns = 0; extra = 0; }
    signal(SIGCHLD, SIG_IGN);
    int ready[2];
    if (pipe(ready)) die("pipe");
    /* Extra namespaces: a leader each, that unshares its netns and starts its share. */
    int per = nns ? extra / nns : 0;
    for (int k = 0; k < nns; k++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (unshare(CLONE_NEWNET)) die("unshare(CLONE_NEWNET)");
            lo_up();
            populate(n - extra + k * per + 1, per - 1); /* the leader is one of them */
            char c = 1;
            if (write(ready[1], &c, 1) != 1) die("write");
            for (;;) pause();
        }
    }
    int root_count = n - nns * per - 1; /* the main process is one of them */
    populate(0, root_count > 0 ? root_count : 0);
    for (int k = 0; k < nns; k++) {
        char c;
        if (read(ready[0], &c, 1) != 1) die("read");
    }
    printf("ready %d\n", root_count + 1 + nns * per);
    fflush(stdout);
    for (;;) pause();
}
