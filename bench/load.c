/* The benchmark's load: N processes that look like a busy host.
 *
 *   load N [NETNS] [PROFILE]
 *
 * Every process holds 20 open files; of each ten, five hold a TCP connection to a listener on
 * loopback (IPv4 and IPv6 in turn), one a bound UDP socket, one a unix socket pair, three only
 * files. About 10% of the processes live in NETNS (default 8) extra network namespaces, each with
 * its own loopback and listener, as containers' would. The main process accepts and holds the
 * server side of every connection, prints "ready PROCESSES" and waits; the caller ends the whole
 * process group. Loopback only; root is needed for the extra namespaces.
 *
 * PROFILE says what kinds of process make up the load:
 *   uniform   every process forked from one parent, nothing executed: their maps, environment,
 *             command line and cgroup are byte-identical (a pre-fork server at its kindest);
 *   mixed     (the default) mixed:exec=35,interp=2,threads=15,fds=4, where, of each hundred
 *             processes, `exec` are executed one by one (this binary again, dynamically linked:
 *             their own randomised maps, arguments and environment), `interp` are Python
 *             interpreters doing the same (hundreds of lines of maps, a realistic environment),
 *             `threads` are forked with 8 threads each, and the rest forked as in `uniform`; and
 *             `fds` processes (a number, not a share) hold 2,000 descriptors each. Any of the four
 *             can be given, the others keeping these values. Python missing: its share is
 *             executed as `exec`. */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILES 20
#define THREADS 8
#define MANY_FDS 2000

static void die(const char *what) { perror(what); exit(1); }

enum kind { PREFORK, EXEC, INTERP, THREADED, MANYFDS };

/* The mixed profile's shares, per hundred processes, and how many hold many descriptors. */
static int share_exec = 35, share_interp = 2, share_threads = 15, many_fds = 4;
static char self_path[4096];
static const char *python = "/usr/bin/python3";

/* What process `i` of the load is. The first few of the host's own namespace hold many fds. */
static enum kind kind_of(int i) {
    if (i > 0 && i <= many_fds) return MANYFDS;
    int b = i % 100;
    if (b < share_exec) return EXEC;
    b -= share_exec;
    if (b < share_interp) return INTERP;
    b -= share_interp;
    if (b < share_threads) return THREADED;
    return PREFORK;
}

/* The interpreter's part: the same files and sockets as `child`, then it waits. */
static const char *PY =
    "import ctypes, os, signal, socket, struct, sys\n"
    "# What a service's interpreter has loaded: its extension modules' maps.\n"
    "for m in ('ssl', 'hashlib', 'json', 'decimal', 'sqlite3', 'zlib', 'bz2', 'lzma', 'asyncio', 'uuid', 'csv'):\n"
    "    try: __import__(m)\n"
    "    except ImportError: pass\n"
    "ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL\n"
    "i, p4, p6 = map(int, sys.argv[1:4])\n"
    "keep = [open('/etc/passwd' if f % 2 else '/etc/hostname') for f in range(20)]\n"
    "def conn(fam, host, port):\n"
    "    s = socket.socket(fam, socket.SOCK_STREAM)\n"
    "    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n"
    "    s.connect((host, port))\n"
    "    return s\n"
    "k = i % 10\n"
    "if k in (0, 2, 4): keep.append(conn(socket.AF_INET, '127.0.0.1', p4))\n"
    "elif k in (1, 3): keep.append(conn(socket.AF_INET6, '::1', p6) if p6 else conn(socket.AF_INET, '127.0.0.1', p4))\n"
    "elif k == 5:\n"
    "    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0)); keep.append(u)\n"
    "elif k == 6: keep.extend(socket.socketpair())\n"
    "while True: signal.pause()\n";

static void *sleeper(void *p) { (void)p; for (;;) pause(); return NULL; }

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
static void child(int i, int port4, int port6, enum kind kind) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Drop what fork copied from the parent (listeners, connections accepted so far). */
    close_range(3, ~0U, 0);
    if (kind == EXEC || kind == INTERP) {
        char a[3][16];
        snprintf(a[0], sizeof a[0], "%d", i);
        snprintf(a[1], sizeof a[1], "%d", port4);
        snprintf(a[2], sizeof a[2], "%d", port6);
        /* An environment of its own: what a service's process gets, one value apart. */
        char id[64], req[64];
        snprintf(id, sizeof id, "LOAD_WORKER=%d", i);
        snprintf(req, sizeof req, "REQUEST_ID=%08x%08x", (unsigned)rand(), (unsigned)i * 2654435761u);
        setenv("LOAD_WORKER", id + 12, 1);
        setenv("REQUEST_ID", req + 11, 1);
        if (kind == INTERP && access(python, X_OK) == 0)
            execl(python, "python3", "-c", PY, a[0], a[1], a[2], (char *)NULL);
        execl(self_path, "load-worker", "--worker", a[0], a[1], a[2], (char *)NULL);
        die("exec");
    }
    for (int f = 0; f < FILES; f++) open(f % 2 ? "/etc/passwd" : "/etc/hostname", O_RDONLY);
    if (kind == THREADED)
        for (int t = 0; t < THREADS; t++) {
            pthread_t th;
            pthread_create(&th, NULL, sleeper, NULL);
        }
    if (kind == MANYFDS) {
        struct rlimit r = {MANY_FDS + 256, MANY_FDS + 256};
        setrlimit(RLIMIT_NOFILE, &r);
        for (int f = 0; f < MANY_FDS - 40; f++) open(f % 3 ? "/dev/null" : "/etc/hostname", O_RDONLY);
        for (int p = 0; p < 10; p++) { int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv); }
    }
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
        if (pid == 0) child(i, p4, p6, kind_of(i));
    }
    pthread_join(t, NULL);
}

/* PROFILE: `uniform`, `mixed` or `mixed:KEY=VALUE,...` (the header comment). */
static void profile(const char *p) {
    if (strcmp(p, "uniform") == 0) {
        share_exec = share_interp = share_threads = many_fds = 0;
        return;
    }
    if (strncmp(p, "mixed", 5) != 0 || (p[5] != 0 && p[5] != ':')) {
        fprintf(stderr, "load: unknown profile %s (uniform, mixed[:exec=N,interp=N,threads=N,fds=N])\n", p);
        exit(2);
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", p[5] ? p + 6 : "");
    for (char *save, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        int v;
        if (sscanf(kv, "exec=%d", &v) == 1) share_exec = v;
        else if (sscanf(kv, "interp=%d", &v) == 1) share_interp = v;
        else if (sscanf(kv, "threads=%d", &v) == 1) share_threads = v;
        else if (sscanf(kv, "fds=%d", &v) == 1) many_fds = v;
        else { fprintf(stderr, "load: %s: not exec=, interp=, threads= or fds=\n", kv); exit(2); }
    }
    if (share_exec < 0 || share_interp < 0 || share_threads < 0 || many_fds < 0
        || share_exec + share_interp + share_threads > 100) {
        fprintf(stderr, "load: shares are per hundred, from 0, at most 100 together\n");
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--worker") == 0) {
        /* An executed process of the load: fds and sockets as a forked one. */
        child(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), PREFORK);
    }
    if (argc < 2) { fprintf(stderr, "usage: load N [NETNS] [PROFILE]\n"); return 2; }
    ssize_t len = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (len <= 0) die("readlink /proc/self/exe");
    self_path[len] = 0;
    profile(argc > 3 ? argv[3] : "mixed");
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
