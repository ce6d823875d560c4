/* ktest_loader: the userspace half of the ktest_loader scheduler, built the
 * way upstream sched_ext schedulers are (a bpftool skeleton, the system
 * libbpf, the loader attaches struct_ops itself), so ktest's loader form
 * (`AttachScheduler: {command: [...]}`) has a real one to run.
 *
 *   ktest_loader [--slice-us N] [--interval-ms N] [--fail-early]
 *   ktest_loader --stats   (asks a running one over its stats socket and
 *                           prints the reply line)
 *
 * --slice-us sets the .rodata slice_ns before the load (default 20000).
 * Once attached it prints "ktest_loader: attached" and then, every
 * --interval-ms (default 500), one JSON line of stats on stdout:
 *   {"nr_enqueued":N,"nr_dispatched":N,"nr_running":N,"nr_tasks":N,"nr_events":N}
 * The same stats are served on the unix socket
 * /var/run/scx/ktest_loader/stats in the scx_stats protocol: each request
 * line {"req":"stats","args":{"target":"top"}} gets the line
 * {"errno":0,"args":{"resp":{...stats...}}}; anything else gets
 * {"errno":22,"args":{}}.
 * SIGINT or SIGTERM: destroys the link and exits 0. When the kernel
 * kicks the scheduler out (its ops.exit ran: exit_kind is set), it prints
 * the exit kind, reason and message and exits 2. --fail-early prints a
 * line and exits 3 before loading anything. Other failures exit 1.
 * The ringbuf loader_events is never consumed, on purpose (captures read
 * its pending records).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <linux/types.h>

typedef __u64 u64;
typedef __u32 u32;
typedef __s32 s32;

#include <linux/types.h>

#include "ktest_loader.h"
#include "ktest_loader.skel.h"

#define STATS_DIR "/var/run/scx/ktest_loader"
#define STATS_PATH STATS_DIR "/stats"
#define MAX_CLIENTS 8
#define MAX_REQUEST 4096

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct client {
	int fd;
	size_t len;
	char buf[MAX_REQUEST];
};

static int stats_json(const struct ktest_loader_bpf *skel, char *out, size_t size)
{
	const struct ktest_loader_bpf__bss *b = skel->bss;

	return snprintf(out, size,
			"{\"nr_enqueued\":%llu,\"nr_dispatched\":%llu,\"nr_running\":%llu,"
			"\"nr_tasks\":%llu,\"nr_events\":%llu}",
			(unsigned long long)b->nr_enqueued, (unsigned long long)b->nr_dispatched,
			(unsigned long long)b->nr_running, (unsigned long long)b->nr_tasks,
			(unsigned long long)b->nr_events);
}

static void mkdirs(const char *path)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
	mkdir(buf, 0755);
}

static int stats_socket(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	mkdirs(STATS_DIR);
	unlink(STATS_PATH);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", STATS_PATH);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, MAX_CLIENTS) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Answers every complete request line in c->buf; false: drop the client. */
static bool serve(const struct ktest_loader_bpf *skel, struct client *c)
{
	char *nl;

	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		char reply[1024];
		size_t line = (size_t)(nl - c->buf);
		int n;

		*nl = '\0';
		if (strstr(c->buf, "\"req\":\"stats\"") || strstr(c->buf, "\"req\": \"stats\"")) {
			char stats[512];

			stats_json(skel, stats, sizeof(stats));
			n = snprintf(reply, sizeof(reply), "{\"errno\":0,\"args\":{\"resp\":%s}}\n", stats);
		} else {
			n = snprintf(reply, sizeof(reply), "{\"errno\":22,\"args\":{}}\n");
		}
		if (write(c->fd, reply, (size_t)n) != n)
			return false;
		memmove(c->buf, nl + 1, c->len - line - 1);
		c->len -= line + 1;
	}
	return c->len < sizeof(c->buf); /* a line longer than the buffer: drop */
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int run(struct ktest_loader_bpf *skel, int listen_fd, int interval_ms)
{
	struct client clients[MAX_CLIENTS];
	long long next = now_ms();
	int nr_clients = 0;

	while (!stop) {
		struct pollfd fds[1 + MAX_CLIENTS];
		long long wait;

		if (skel->bss->exit_kind != 0) {
			fprintf(stderr, "ktest_loader: the scheduler exited (kind %d): %s: %s\n",
				skel->bss->exit_kind, skel->bss->exit_reason, skel->bss->exit_msg);
			return 2;
		}
		if (now_ms() >= next) {
			char stats[512];

			stats_json(skel, stats, sizeof(stats));
			printf("%s\n", stats);
			fflush(stdout);
			next += interval_ms;
		}
		fds[0] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		for (int i = 0; i < nr_clients; i++)
			fds[1 + i] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
		/* Short waits: exit_kind is polled, nothing signals it. */
		wait = next - now_ms();
		if (wait > 50)
			wait = 50;
		if (wait < 0)
			wait = 0;
		if (poll(fds, (nfds_t)(1 + nr_clients), (int)wait) <= 0)
			continue;
		for (int i = nr_clients - 1; i >= 0; i--) {
			struct client *c = &clients[i];
			ssize_t n;

			if (!(fds[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (n > 0) {
				c->len += (size_t)n;
				if (serve(skel, c))
					continue;
			}
			close(c->fd);
			clients[i] = clients[--nr_clients];
		}
		if (listen_fd >= 0 && (fds[0].revents & POLLIN)) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0 && nr_clients < MAX_CLIENTS)
				clients[nr_clients++] = (struct client){ .fd = fd, .len = 0 };
			else if (fd >= 0)
				close(fd);
		}
	}
	for (int i = 0; i < nr_clients; i++)
		close(clients[i].fd);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: ktest_loader [--slice-us N] [--interval-ms N] [--fail-early] | --stats\n");
}

/* --stats: one scx_stats request to a running ktest_loader; prints the reply. */
static int query_stats(void)
{
	static const char request[] = "{\"req\":\"stats\",\"args\":{\"target\":\"top\"}}\n";
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char reply[2048];
	size_t len = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", STATS_PATH);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		fprintf(stderr, "ktest_loader: connecting to %s: %s\n", STATS_PATH, strerror(errno));
		return 1;
	}
	if (write(fd, request, sizeof(request) - 1) != (ssize_t)(sizeof(request) - 1)) {
		fprintf(stderr, "ktest_loader: sending the request: %s\n", strerror(errno));
		return 1;
	}
	while (len < sizeof(reply) - 1 && !memchr(reply, '\n', len)) {
		ssize_t n = read(fd, reply + len, sizeof(reply) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	reply[len] = '\0';
	if (!strchr(reply, '\n')) {
		fprintf(stderr, "ktest_loader: no complete reply (%zu bytes)\n", len);
		return 1;
	}
	fputs(reply, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long slice_us = 20000;
	int interval_ms = 500;
	struct ktest_loader_bpf *skel;
	struct bpf_link *link;
	int listen_fd, ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--stats")) {
			return query_stats();
		} else if (!strcmp(argv[i], "--fail-early")) {
			fprintf(stderr, "ktest_loader: failing early on purpose (--fail-early)\n");
			return 3;
		} else if (!strcmp(argv[i], "--slice-us") && i + 1 < argc) {
			slice_us = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--interval-ms") && i + 1 < argc) {
			interval_ms = atoi(argv[++i]);
		} else {
			usage();
			return 1;
		}
	}
	if (slice_us == 0 || interval_ms <= 0) {
		usage();
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);

	skel = ktest_loader_bpf__open();
	if (!skel) {
		fprintf(stderr, "ktest_loader: opening the skeleton: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->slice_ns = slice_us * 1000;
	ret = ktest_loader_bpf__load(skel);
	if (ret) {
		fprintf(stderr, "ktest_loader: loading: %s\n", strerror(-ret));
		ktest_loader_bpf__destroy(skel);
		return 1;
	}
	link = bpf_map__attach_struct_ops(skel->maps.ktest_loader_ops);
	if (!link) {
		fprintf(stderr, "ktest_loader: attaching ktest_loader_ops: %s\n", strerror(errno));
		ktest_loader_bpf__destroy(skel);
		return 1;
	}
	printf("ktest_loader: attached (slice %llu us)\n", slice_us);
	listen_fd = stats_socket();
	if (listen_fd < 0)
		fprintf(stderr, "ktest_loader: no stats socket at %s: %s\n", STATS_PATH, strerror(errno));

	ret = run(skel, listen_fd, interval_ms);

	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(STATS_PATH);
	}
	bpf_link__destroy(link);
	ktest_loader_bpf__destroy(skel);
	printf("ktest_loader: detached\n");
	return ret;
}
