/*
 * main.c - wsrelayd: options, signals, the daemon's life, sd_notify.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "config.h"
#include "log.h"
#include "net/server.h"
#include "net/tls.h"
#include "ws.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/wsrelayd/wsrelayd.conf"

struct daemon {
	struct event_base *base;
	struct server *srv;
	struct config *cfg;
	const char *file;
	int debug;
	int stopping;
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: wsrelayd [-dfhnv] [-c file]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -d       debug: log everything to stderr; implies -f\n"
	    "  -f       stay in the foreground and log to stderr\n"
	    "  -h       this help\n"
	    "  -n       check the configuration and exit (0 valid, 1 not)\n"
	    "  -v       print the version and exit\n", DEFAULT_CONFIG);
	exit(status);
}

static void
notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	(void)sd_notify(0, state);
#else
	(void)state;
#endif
}

static void
apply_log(const struct daemon *d, const struct config *cfg)
{
	enum log_level level;

	if (d->debug)
		return;
	if (log_level_parse(cfg->log_level, &level) == 0)
		log_set_level(level);
}

static void
on_stopped(void *arg)
{
	struct daemon *d = arg;

	event_base_loopexit(d->base, NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct config *cfg;
	char err[1024];

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (d->stopping)
			return;
		d->stopping = 1;
		log_info("%s: closing %zu connections and exiting",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT",
		    server_sessions(d->srv));
		notify("STOPPING=1");
		server_shutdown(d->srv, on_stopped, d);
		break;
	case SIGHUP:
#ifdef HAVE_LIBSYSTEMD
		{
			struct timespec ts;
			char msg[64];

			clock_gettime(CLOCK_MONOTONIC, &ts);
			snprintf(msg, sizeof(msg),
			    "RELOADING=1\nMONOTONIC_USEC=%llu",
			    (unsigned long long)ts.tv_sec * 1000000ULL +
			    (unsigned long long)ts.tv_nsec / 1000);
			notify(msg);
		}
#endif
		if ((cfg = config_load(d->file, err, sizeof(err))) == NULL) {
			log_warnx("reload refused, keeping the running "
			    "configuration: %s", err);
		} else if (server_reload(d->srv, cfg, err, sizeof(err)) != 0) {
			log_warnx("reload refused, keeping the running "
			    "configuration: %s", err);
			config_unref(cfg);
		} else {
			config_unref(d->cfg);
			d->cfg = cfg;
			apply_log(d, cfg);
			log_info("reloaded %s: %zu routes, %zu listeners",
			    d->file, cfg->nroutes, cfg->nlisteners);
		}
		notify("READY=1");
		break;
	case SIGUSR1:
		server_log_stats(d->srv);
		break;
	}
}

/*
 * glibc gives the top of the heap back to the kernel once 128 KiB of it
 * is free, and takes it again on the next allocation: for a server whose
 * buffers come and go by the message, that is a brk() and fresh page
 * faults per message (measured: broadcast of 1 KiB messages to 100
 * clients ran 5x slower).  Keep up to 32 MiB of free heap instead, and
 * serve allocations below 4 MiB (in-place frames go to 1 MiB) from the
 * heap rather than from mmap().
 */
static void
tune_malloc(void)
{
#if defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
	(void)mallopt(M_TRIM_THRESHOLD, 32 << 20);
	(void)mallopt(M_TOP_PAD, 1 << 20);
	(void)mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Detach.  The parent waits on a pipe until the daemon says whether it
 * started (after its listeners are open), and exits with that status.
 * Returns the pipe's write end, for ready().
 */
static int
daemonize(int keep_stderr)
{
	int fd, p[2];
	char st = 1, why[512];
	ssize_t n;

	if (pipe(p) == -1)
		fatal("pipe");
	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		close(p[1]);
		if (read(p[0], &st, 1) != 1)
			st = 1;
		/* What follows the status is why the start failed. */
		while ((n = read(p[0], why, sizeof(why))) > 0)
			(void)fwrite(why, 1, (size_t)n, stderr);
		_exit(st);
	}
	close(p[0]);
	if (setsid() == -1)
		fatal("setsid");
	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		_exit(0);
	}
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		if (!keep_stderr)
			(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return p[1];
}

/* Tell the waiting parent (if any) the start's outcome, and why. */
static void
ready(int *fd, char status, const char *why)
{
	ssize_t n;

	if (*fd == -1)
		return;
	n = write(*fd, &status, 1);
	if (n == 1 && why != NULL)
		n = write(*fd, why, strlen(why));
	(void)n;
	close(*fd);
	*fd = -1;
}

int
main(int argc, char **argv)
{
	struct daemon d;
	struct event *sigs[5];
	static const int signums[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	char err[1024], *abs;
	int ch, check = 0, foreground = 0, to_stderr, parent = -1;
	size_t i;

	memset(&d, 0, sizeof(d));
	d.file = DEFAULT_CONFIG;
	while ((ch = getopt(argc, argv, "c:dfhnv")) != -1) {
		switch (ch) {
		case 'c':
			d.file = optarg;
			break;
		case 'd':
			d.debug = 1;
			foreground = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'h':
			usage(0);
		case 'n':
			check = 1;
			break;
		case 'v':
			printf("wsrelayd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);

	log_init(1, d.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO, "wsrelayd");
	if ((d.cfg = config_load(d.file, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wsrelayd: %s\n", err);
		return 1;
	}
	if (check) {
		/* Certificates and keys too: what the start would read. */
		if (tls_check_config(d.cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "wsrelayd: %s\n", err);
			config_unref(d.cfg);
			return 1;
		}
		printf("wsrelayd: %s: configuration OK (%zu listeners, "
		    "%zu routes)\n", d.file, d.cfg->nlisteners,
		    d.cfg->nroutes);
		config_unref(d.cfg);
		return 0;
	}
	to_stderr = d.debug || strcmp(d.cfg->log_target, "stderr") == 0 ||
	    (strcmp(d.cfg->log_target, "auto") == 0 && foreground);
	apply_log(&d, d.cfg);

	/* SIGHUP re-reads the file after the daemon moved to "/". */
	if ((abs = realpath(d.file, NULL)) != NULL)
		d.file = abs;
	signal(SIGPIPE, SIG_IGN);
	tune_malloc();
	/* OpenSSL loads its default provider on the first SHA-1: do it now
	   (about 2 MB of library pages), not in the first client's
	   handshake. */
	{
		char accept[29];

		ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
	}
	raise_nofile();
	if (!foreground)
		parent = daemonize(to_stderr);
	log_init(to_stderr, log_get_level(), "wsrelayd");
	log_libevent();

	if ((d.base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	if ((d.srv = server_new(d.base, d.cfg, err, sizeof(err))) == NULL) {
		log_warnx("cannot start: %s", err);
		{
			char msg[1100];

			snprintf(msg, sizeof(msg), "wsrelayd: cannot start: "
			    "%s\n", err);
			ready(&parent, 1, msg);
		}
		notify("STOPPING=1");
		config_unref(d.cfg);
		event_base_free(d.base);
		free(abs);
		return 1;
	}
	for (i = 0; i < sizeof(signums) / sizeof(signums[0]); i++) {
		sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) != 0)
			fatalx("cannot watch signal %d", signums[i]);
	}
	log_info("wsrelayd %s started: %s, %zu routes", PACKAGE_VERSION,
	    d.file, d.cfg->nroutes);
	notify("READY=1");
	ready(&parent, 0, NULL);

	event_base_dispatch(d.base);

	server_log_stats(d.srv);
	server_free(d.srv);
	for (i = 0; i < sizeof(signums) / sizeof(signums[0]); i++)
		event_free(sigs[i]);
	config_unref(d.cfg);
	event_base_free(d.base);
	log_info("exiting");
	free(abs);
	return 0;
}
