/*
 * The Linux peer of `build-image bench`: the static /init of the Linux
 * guest's initramfs.
 *
 * It runs the Linux side of every benchmark case and prints one line per
 * case, in the same form as our in-guest program (components/bench):
 *
 *     BENCH name=<case> iters=<N> median=<X> min=<Y>
 *
 * X and Y are guest instructions: under QEMU `-icount shift=0,sleep=off`
 * one TSC tick is one guest instruction, so `lfence; rdtsc` pairs count
 * instructions deterministically. The cost of an empty pair is measured
 * first and subtracted from every sample, as on our side. Then it powers
 * the machine off through QEMU's isa-debug-exit device (port 0xf4).
 *
 * Iteration counts must equal those of components/bench/src/main.rs:
 * build-image refuses to compare cases whose counts differ.
 *
 * Built by build-image with `gcc -O2 -static`; no other dependency.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Iteration counts: the same as components/bench. */
#define ITERS_SYSCALL 10000
#define ITERS_MEMCPY 1000
#define ITERS_MESSAGE 1000
#define ITERS_ROUNDTRIP 1000
#define ITERS_WAKEUP 1000
#define ITERS_PROCESS 100

#define ITERS_BLOCK_SEQUENTIAL 32
#define ITERS_BLOCK_RANDOM 256
#define ITERS_NET_RX 8
#define ITERS_NET_RR 100

#define MAX_ITERS 10000
#define DEBUG_EXIT_PORT 0xf4
#define MEMCPY_BYTES 65536
#define MAX_MESSAGE 65536

static uint64_t samples[MAX_ITERS];
static uint64_t overhead;
static char self_path[] = "/init";

/* The guest TSC; `lfence` keeps earlier instructions from moving past it. */
static inline uint64_t tsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts samples[0..n), subtracts the pair overhead, prints the BENCH line. */
static void report(const char *name, int n)
{
    qsort(samples, n, sizeof samples[0], compare_u64);
    uint64_t median = samples[n / 2], min = samples[0];
    median = median > overhead ? median - overhead : 0;
    min = min > overhead ? min - overhead : 0;
    printf("BENCH name=%s iters=%d median=%llu min=%llu\n", name, n,
           (unsigned long long)median, (unsigned long long)min);
    fflush(stdout);
}

static void fail(const char *what)
{
    printf("BENCH-ERROR %s: %s\n", what, strerror(errno));
    fflush(stdout);
}

static void power_off(int status)
{
    fflush(stdout);
    if (ioperm(DEBUG_EXIT_PORT, 4, 1) == 0)
        outb((unsigned char)status, DEBUG_EXIT_PORT);
    printf("BENCH-ERROR power off through port 0xf4 failed: %s\n", strerror(errno));
    fflush(stdout);
    for (;;)
        pause();
}

static void measure_overhead(void)
{
    for (int i = 0; i < ITERS_SYSCALL; i++) {
        uint64_t t0 = tsc();
        uint64_t t1 = tsc();
        samples[i] = t1 - t0;
    }
    qsort(samples, ITERS_SYSCALL, sizeof samples[0], compare_u64);
    overhead = samples[0];
    printf("BENCH name=tsc_overhead iters=%d median=%llu min=%llu\n", ITERS_SYSCALL,
           (unsigned long long)samples[ITERS_SYSCALL / 2], (unsigned long long)samples[0]);
}

static void bench_getpid(void)
{
    for (int i = 0; i < ITERS_SYSCALL; i++) {
        uint64_t t0 = tsc();
        syscall(SYS_getpid);
        samples[i] = tsc() - t0;
    }
    report("null_syscall", ITERS_SYSCALL);
}

static void bench_bad_syscall(void)
{
    for (int i = 0; i < ITERS_SYSCALL; i++) {
        uint64_t t0 = tsc();
        syscall(0xffff);
        samples[i] = tsc() - t0;
    }
    report("bad_syscall", ITERS_SYSCALL);
}

static char copy_source[MEMCPY_BYTES], copy_destination[MEMCPY_BYTES];

static void bench_memcpy(void)
{
    memset(copy_source, 0x5a, sizeof copy_source);
    for (int i = 0; i < ITERS_MEMCPY; i++) {
        uint64_t t0 = tsc();
        memcpy(copy_destination, copy_source, MEMCPY_BYTES);
        __asm__ volatile("" ::"r"(copy_destination) : "memory");
        samples[i] = tsc() - t0;
    }
    report("memcpy_64k", ITERS_MEMCPY);
}

static char message[MAX_MESSAGE], reply[MAX_MESSAGE];

/* Write + read of one message through a socket pair, in one process: the
 * peer of a channel write + read. SOCK_SEQPACKET keeps message boundaries,
 * as a channel does. */
static void bench_socket_write_read(size_t size, const char *name)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) != 0) {
        fail("socketpair");
        return;
    }
    int buffer = 4 * MAX_MESSAGE;
    setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    setsockopt(pair[1], SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    for (int i = 0; i < ITERS_MESSAGE; i++) {
        uint64_t t0 = tsc();
        if (write(pair[0], message, size) != (ssize_t)size ||
            read(pair[1], reply, sizeof reply) != (ssize_t)size) {
            fail(name);
            break;
        }
        samples[i] = tsc() - t0;
    }
    close(pair[0]);
    close(pair[1]);
    report(name, ITERS_MESSAGE);
}

/* Round trips between two processes over a pair of pipes or a socket pair:
 * the child echoes what it reads. `to_child[1]`/`from_child[0]` are the
 * parent's ends. */
static void roundtrip(int to_child_read, int to_child_write, int from_child_read,
                      int from_child_write, size_t size, const char *name)
{
    pid_t child = fork();
    if (child < 0) {
        fail("fork");
        return;
    }
    if (child == 0) {
        close(to_child_write);
        if (from_child_read != to_child_write)
            close(from_child_read);
        for (int i = 0; i < ITERS_ROUNDTRIP; i++) {
            ssize_t got = read(to_child_read, reply, sizeof reply);
            if (got < 0 || write(from_child_write, reply, (size_t)got) != got)
                _exit(1);
        }
        _exit(0);
    }
    close(to_child_read);
    if (from_child_write != to_child_read)
        close(from_child_write);
    for (int i = 0; i < ITERS_ROUNDTRIP; i++) {
        uint64_t t0 = tsc();
        if (write(to_child_write, message, size) != (ssize_t)size ||
            read(from_child_read, reply, sizeof reply) != (ssize_t)size) {
            fail(name);
            break;
        }
        samples[i] = tsc() - t0;
    }
    close(to_child_write);
    if (from_child_read != to_child_write)
        close(from_child_read);
    waitpid(child, NULL, 0);
    report(name, ITERS_ROUNDTRIP);
}

static void bench_pipe_roundtrip(size_t size, const char *name)
{
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) {
        fail("pipe");
        return;
    }
    roundtrip(to_child[0], to_child[1], from_child[0], from_child[1], size, name);
}

static void bench_unix_roundtrip(size_t size, const char *name)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) != 0) {
        fail("socketpair");
        return;
    }
    /* The parent uses pair[0] both ways, the child pair[1]. */
    roundtrip(pair[1], pair[0], pair[0], pair[1], size, name);
}

/* A process blocked in read(2) on an eventfd is woken by a write from
 * another: the peer of a port wake-up by a user packet. The sample runs from
 * just before the write to the first instruction after the sleeper's read
 * returns; the sleeper sends its TSC back through a pipe. */
static void bench_wakeup(void)
{
    int event = eventfd(0, 0), back[2];
    if (event < 0 || pipe(back) != 0) {
        fail("eventfd");
        return;
    }
    pid_t child = fork();
    if (child < 0) {
        fail("fork");
        return;
    }
    if (child == 0) {
        for (int i = 0; i < ITERS_WAKEUP; i++) {
            uint64_t value;
            if (read(event, &value, sizeof value) != sizeof value)
                _exit(1);
            uint64_t woke = tsc();
            if (write(back[1], &woke, sizeof woke) != sizeof woke)
                _exit(1);
        }
        _exit(0);
    }
    for (int i = 0; i < ITERS_WAKEUP; i++) {
        uint64_t one = 1, woke;
        /* Let the child block first: it runs while we wait for its answer
         * of the previous round, and yields to us only when blocked. */
        uint64_t t0 = tsc();
        if (write(event, &one, sizeof one) != sizeof one ||
            read(back[0], &woke, sizeof woke) != sizeof woke) {
            fail("wakeup");
            break;
        }
        samples[i] = woke - t0;
    }
    waitpid(child, NULL, 0);
    close(event);
    close(back[0]);
    close(back[1]);
    report("port_wakeup", ITERS_WAKEUP);
}

static void bench_fork_exec_wait(void)
{
    for (int i = 0; i < ITERS_PROCESS; i++) {
        uint64_t t0 = tsc();
        pid_t child = fork();
        if (child == 0) {
            char *argv[] = {self_path, "exit", NULL};
            char *envp[] = {NULL};
            execve(self_path, argv, envp);
            _exit(127);
        }
        int status = 0;
        if (child < 0 || waitpid(child, &status, 0) != child || status != 0) {
            fail("fork+exec+wait");
            break;
        }
        samples[i] = tsc() - t0;
    }
    report("process_create", ITERS_PROCESS);
}

/*
 * Counting what the system ran while it waits for a device: an
 * idle-priority (SCHED_IDLE) spinner runs whenever nothing else can, two
 * instructions per turn, so the CPU never halts (under -icount sleep=off a
 * halt would skip virtual time); the TSC interval less the spinner's turns
 * is what everything else ran. Ours subtracts the kernel's idle ticks
 * (info::CPU_STATS) instead. Used by the block and network cases.
 */
static volatile uint64_t *spins;

/* Instructions run by everything but the spinner so far. */
static uint64_t busy(void)
{
    return tsc() - 2 * *spins;
}

static pid_t start_spinner(void)
{
    spins = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (spins == MAP_FAILED) {
        fail("mmap (spinner)");
        return -1;
    }
    *spins = 0;
    pid_t child = fork();
    if (child == 0) {
        struct sched_param param = {0};
        if (sched_setscheduler(0, SCHED_IDLE, &param) != 0)
            _exit(1);
        __asm__ volatile("1: incq (%0)\n\tjmp 1b" ::"r"(spins) : "memory");
    }
    if (child < 0)
        fail("fork (spinner)");
    return child;
}

/*
 * The block-device cases: /dev/vda, the benchmark disk (64 MiB, the same
 * image our side reads), with O_DIRECT so that every read reaches the
 * device, as ours does. A sample counts what the system ran (the TSC less
 * the idle spinner's turns), as ours does (less the kernel's idle ticks).
 * Debian builds virtio and virtio_blk as modules:
 * the initramfs carries them in /lib/modules and this loads them (in
 * dependency order), then mounts devtmpfs to find the disk.
 */
#define DISK_PAGES 16384
#define SEQUENTIAL_BYTES (1 << 20)

static const char *const block_modules[] = {
    "/lib/modules/virtio_ring.ko",
    "/lib/modules/virtio.ko",
    "/lib/modules/virtio_pci_legacy_dev.ko",
    "/lib/modules/virtio_pci_modern_dev.ko",
    "/lib/modules/virtio_pci.ko",
    "/lib/modules/virtio_blk.ko",
};

/* Knuth's MMIX LCG, as in components/bench/src/bin/blkbench.rs. */
static uint64_t next_page(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (*state >> 33) % DISK_PAGES;
}

static int open_disk(void)
{
    for (size_t i = 0; i < sizeof block_modules / sizeof block_modules[0]; i++) {
        int fd = open(block_modules[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)) {
            fail(block_modules[i]);
            return -1;
        }
        close(fd);
    }
    if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0 && errno != EBUSY) {
        fail("mount devtmpfs");
        return -1;
    }
    /* The disk appears once virtio_blk has probed it. */
    for (int tries = 0; tries < 1000; tries++) {
        int fd = open("/dev/vda", O_RDONLY | O_DIRECT);
        if (fd >= 0)
            return fd;
        usleep(10000);
    }
    fail("open /dev/vda");
    return -1;
}

static void bench_block(void)
{
    int fd = open_disk();
    if (fd < 0)
        return;
    void *buffer;
    if (posix_memalign(&buffer, 4096, SEQUENTIAL_BYTES) != 0) {
        fail("posix_memalign");
        return;
    }
    pid_t spinner = start_spinner();
    if (spinner < 0)
        return;
    for (int i = 0; i < ITERS_BLOCK_SEQUENTIAL; i++) {
        uint64_t t0 = busy();
        ssize_t got = pread(fd, buffer, SEQUENTIAL_BYTES, (off_t)i * SEQUENTIAL_BYTES);
        samples[i] = busy() - t0;
        if (got != SEQUENTIAL_BYTES)
            fail("pread 1 MiB");
    }
    report("blk_seq_read_1m", ITERS_BLOCK_SEQUENTIAL);
    uint64_t state = 1;
    for (int i = 0; i < ITERS_BLOCK_RANDOM; i++) {
        uint64_t page = next_page(&state);
        uint64_t t0 = busy();
        ssize_t got = pread(fd, buffer, 4096, (off_t)page * 4096);
        samples[i] = busy() - t0;
        if (got != 4096)
            fail("pread 4 KiB");
    }
    report("blk_rand_read_4k", ITERS_BLOCK_RANDOM);
    kill(spinner, SIGKILL);
    waitpid(spinner, NULL, 0);
    free(buffer);
    close(fd);
}

/*
 * The network cases: the same servers as components/bench/src/bin/netbench.rs
 * on the same ports, reached by build-image's host client through QEMU's
 * user network (host forwards to 10.0.2.15). The address is static, the
 * one DHCP gives ours. A sample counts the instructions the whole system
 * ran: the TSC interval less those of the idle spinner (above).
 */
#define RX_BYTES (4 << 20)
#define REQUEST_BYTES 64
#define RX_PORT 5001
#define RR_PORT 5002

static const char *const net_modules[] = {
    "/lib/modules/failover.ko",
    "/lib/modules/net_failover.ko",
    "/lib/modules/virtio_net.ko",
};

static int configure(int s, const char *name, const char *address, const char *mask)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    if (address) {
        sin->sin_family = AF_INET;
        inet_pton(AF_INET, address, &sin->sin_addr);
        if (ioctl(s, SIOCSIFADDR, &ifr) != 0)
            return -1;
        inet_pton(AF_INET, mask, &sin->sin_addr);
        if (ioctl(s, SIOCSIFNETMASK, &ifr) != 0)
            return -1;
    }
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        return -1;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(s, SIOCSIFFLAGS, &ifr);
}

static int listen_on(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (s < 0 || bind(s, (struct sockaddr *)&at, sizeof at) != 0 || listen(s, 4) != 0) {
        fail("listen");
        return -1;
    }
    return s;
}

/* One request + reply connection; false if it failed. */
static int serve_request(int server)
{
    char request[REQUEST_BYTES];
    int c = accept(server, NULL, NULL);
    if (c < 0)
        return 0;
    size_t got = 0;
    while (got < REQUEST_BYTES) {
        ssize_t n = read(c, request + got, REQUEST_BYTES - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    int ok = got == REQUEST_BYTES && write(c, request, REQUEST_BYTES) == REQUEST_BYTES;
    close(c);
    return ok;
}

static void bench_net(void)
{
    for (size_t i = 0; i < sizeof net_modules / sizeof net_modules[0]; i++) {
        int fd = open(net_modules[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)) {
            fail(net_modules[i]);
            return;
        }
        close(fd);
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    configure(s, "lo", NULL, NULL);
    int configured = -1;
    for (int tries = 0; tries < 1000 && configured != 0; tries++) {
        configured = configure(s, "eth0", "10.0.2.15", "255.255.255.0");
        if (configured != 0)
            usleep(10000);
    }
    if (configured != 0) {
        fail("configure eth0");
        return;
    }
    /* A datagram to the gateway: QEMU's user network learns our MAC from
     * the ARP request (ours does DHCP first, to the same effect). */
    struct sockaddr_in gateway = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, "10.0.2.2", &gateway.sin_addr);
    sendto(s, "x", 1, 0, (struct sockaddr *)&gateway, sizeof gateway);
    close(s);
    int sink = listen_on(RX_PORT), server = listen_on(RR_PORT);
    if (sink < 0 || server < 0)
        return;
    pid_t spinner = start_spinner();
    if (spinner < 0)
        return;
    static char buffer[65536];
    printf("NETBENCH-READY\n");
    fflush(stdout);
    int failed = 0;
    for (int i = 0; i < ITERS_NET_RX; i++) {
        uint64_t start = busy();
        size_t received = 0;
        int c = accept(sink, NULL, NULL);
        if (c < 0) {
            failed = 1;
        } else {
            for (;;) {
                ssize_t n = read(c, buffer, sizeof buffer);
                if (n <= 0) {
                    failed |= n < 0;
                    break;
                }
                received += (size_t)n;
            }
            close(c);
        }
        samples[i] = (busy() - start) * (1 << 20) / RX_BYTES;
        failed |= received != RX_BYTES;
    }
    report("net_tcp_rx_mib", ITERS_NET_RX);
    uint64_t last = busy();
    for (int i = 0; i < ITERS_NET_RR; i++) {
        failed |= !serve_request(server);
        uint64_t now = busy();
        samples[i] = now - last;
        last = now;
    }
    failed |= !serve_request(server);
    report("net_tcp_connect_rr_close", ITERS_NET_RR);
    kill(spinner, SIGKILL);
    waitpid(spinner, NULL, 0);
    if (failed)
        fail("a network transfer or round trip");
    close(sink);
    close(server);
}

int main(int argc, char **argv)
{
    uint64_t boot = tsc();
    if (argc > 1 && strcmp(argv[1], "exit") == 0)
        _exit(0); /* the child of the fork + exec + wait case */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t since_clock_start = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;

    printf("BENCH-START linux\n");
    /* Time from reset to the first instruction of /init's main. */
    printf("BENCH name=boot iters=1 median=%llu min=%llu\n", (unsigned long long)boot,
           (unsigned long long)boot);
    /* CLOCK_MONOTONIC starts at timekeeping_init; under icount one
     * nanosecond is one instruction (or idle virtual time). */
    printf("BENCH name=boot_kernel iters=1 median=%llu min=%llu\n",
           (unsigned long long)since_clock_start, (unsigned long long)since_clock_start);
    measure_overhead();
    memset(message, 0xa5, sizeof message);

    bench_getpid();
    bench_bad_syscall();
    bench_memcpy();
    bench_socket_write_read(0, "channel_write_read_0");
    bench_socket_write_read(64, "channel_write_read_64");
    bench_socket_write_read(4096, "channel_write_read_4k");
    bench_socket_write_read(65536, "channel_write_read_64k");
    bench_pipe_roundtrip(1, "pipe_roundtrip_1");
    bench_pipe_roundtrip(64, "pipe_roundtrip_64");
    bench_unix_roundtrip(0, "unix_roundtrip_0");
    bench_unix_roundtrip(64, "unix_roundtrip_64");
    bench_wakeup();
    bench_fork_exec_wait();
    bench_block();
    bench_net();

    printf("BENCH-END\n");
    power_off(0);
}
