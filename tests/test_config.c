/*
 * test_config.c - the configuration loader (src/config.c): the files in
 * tests/conf/good must load, the files in tests/conf/bad must fail with the
 * message and line their header announces, routes are matched as
 * documented, and every key the parser accepts is in wsrelayd.conf(5).
 *
 * A bad file starts with
 *	# expect: <text the message after "file:line: " contains>
 *	# line: <the line in the message>
 * and may go on with
 *	# file: <the file in the message, relative to the bad file's folder>
 * when the error is in a file it includes.
 *
 * Paths are relative to $srcdir (the top source folder, default ".").
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "handler/handler.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAXFILES 256
#define PATHLEN 4096
#define ERRLEN 1024

static char *good_files[MAXFILES];
static int ngood = -1;		/* -1: the folder could not be read */
static char *bad_files[MAXFILES];
static int nbad = -1;

static const char *
srcdir(void)
{
	const char *s = getenv("srcdir");

	return s != NULL && *s != '\0' ? s : ".";
}

/* $srcdir/rel into buf. */
static void
src_path(char *buf, size_t len, const char *rel)
{
	int n;

	n = snprintf(buf, len, "%s/%s", srcdir(), rel);
	ck_assert_msg(n > 0 && (size_t)n < len, "path too long: %s", rel);
}

/* $srcdir/tests/conf/<sub>/<name> into buf. */
static void
conf_path(char *buf, size_t len, const char *sub, const char *name)
{
	char rel[PATHLEN];

	ck_assert(snprintf(rel, sizeof(rel), "tests/conf/%s/%s", sub, name) <
	    (int)sizeof(rel));
	src_path(buf, len, rel);
}

static int
is_conf(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 &&
	    strcmp(d->d_name + n - 5, ".conf") == 0;
}

/* The *.conf names in $srcdir/tests/conf/<sub>, sorted; -1 if unreadable. */
static int
list_confs(const char *sub, char **names)
{
	char dir[PATHLEN];
	struct dirent **list;
	int i, n;

	snprintf(dir, sizeof(dir), "%s/tests/conf/%s", srcdir(), sub);
	if ((n = scandir(dir, &list, is_conf, alphasort)) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (i < MAXFILES)
			names[i] = strdup(list[i]->d_name);
		free(list[i]);
	}
	free(list);
	return n < MAXFILES ? n : MAXFILES;
}

/* Load $srcdir/tests/conf/good/<name>, which must succeed. */
static struct config *
load_good(const char *name)
{
	char path[PATHLEN], err[ERRLEN] = "";
	struct config *c;

	conf_path(path, sizeof(path), "good", name);
	c = config_load(path, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s does not load: %s", path, err);
	return c;
}

static const struct route *
route_named(const struct config *c, const char *path)
{
	size_t i;

	for (i = 0; i < c->nroutes; i++)
		if (strcmp(c->routes[i].path, path) == 0)
			return &c->routes[i];
	ck_abort_msg("no route \"%s\" in %s", path, c->file);
	return NULL;
}

/* A handler setting of a route, read through the handler's own table. */
static const struct opt *
hopt(const struct route *r, const char *name)
{
	const struct opt *o;

	ck_assert_ptr_nonnull(r->handler);
	for (o = r->handler->opts; o != NULL && o->name != NULL; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	ck_abort_msg("handler %s has no option '%s'", r->handler->name, name);
	return NULL;
}

static long long
hopt_int(const struct route *r, const char *name)
{
	const struct opt *o = hopt(r, name);
	const char *b = r->hconf;

	ck_assert_int_eq(o->type, OPT_INT);
	return *(const long long *)(const void *)(b + o->off);
}

/* OPT_BOOL and OPT_ENUM (the index). */
static int
hopt_index(const struct route *r, const char *name)
{
	const struct opt *o = hopt(r, name);
	const char *b = r->hconf;

	ck_assert(o->type == OPT_BOOL || o->type == OPT_ENUM);
	return *(const int *)(const void *)(b + o->off);
}

static const char *
hopt_choice(const struct route *r, const char *name)
{
	const struct opt *o = hopt(r, name);

	ck_assert_int_eq(o->type, OPT_ENUM);
	return o->choices[hopt_index(r, name)];
}

static const char *
hopt_string(const struct route *r, const char *name)
{
	const struct opt *o = hopt(r, name);
	const char *b = r->hconf;

	ck_assert_int_eq(o->type, OPT_STRING);
	return *(char *const *)(const void *)(b + o->off);
}

/* ------------------------------------------------------------ good files */

START_TEST(good_dir_listed)
{
	ck_assert_msg(ngood > 0, "no *.conf in %s/tests/conf/good", srcdir());
}
END_TEST

START_TEST(good_loads)
{
	struct config *c;
	size_t i;

	c = load_good(good_files[_i]);
	ck_assert_uint_ge(c->nlisteners, 1);
	ck_assert_uint_ge(c->nroutes, 1);
	ck_assert_int_eq(c->refs, 1);
	for (i = 0; i < c->nroutes; i++) {
		const struct route *r = &c->routes[i];

		ck_assert_ptr_nonnull(r->handler);
		ck_assert_ptr_eq(handler_find(r->handler->name), r->handler);
		ck_assert_msg(r->path[0] == '/' && strchr(r->path, '*') == NULL,
		    "route path \"%s\"", r->path);
		ck_assert_int_gt(r->line, 0);
		ck_assert_int_lt(r->limits.output_low, r->limits.output_high);
	}
	for (i = 0; i < c->nlisteners; i++)
		ck_assert_msg((c->listeners[i].path == NULL) !=
		    (c->listeners[i].address == NULL),
		    "listener %zu: path or address, exactly one", i);
	config_unref(c);
}
END_TEST

START_TEST(good_minimal)
{
	struct config *c = load_good("minimal.conf");
	const struct route *r;

	ck_assert_uint_eq(c->nlisteners, 1);
	ck_assert_str_eq(c->listeners[0].address, "0.0.0.0");
	ck_assert_int_eq(c->listeners[0].port, 8080);
	ck_assert_ptr_null(c->listeners[0].path);
	ck_assert_int_eq(c->listeners[0].backlog, 511);
	ck_assert_int_eq(c->listeners[0].line, 2);
	ck_assert_uint_eq(c->nroutes, 1);
	r = &c->routes[0];
	ck_assert_str_eq(r->path, "/echo");
	ck_assert_int_eq(r->prefix, 0);
	ck_assert_ptr_eq(r->handler, &handler_echo);
	ck_assert_int_eq(r->line, 3);
	/* Defaults everywhere else. */
	ck_assert_str_eq(c->log_level, "info");
	ck_assert_str_eq(c->log_target, "auto");
	ck_assert_int_eq(c->limits.max_connections, 10000);
	ck_assert_int_eq(c->limits.max_header_bytes, 8192);
	ck_assert_int_eq(c->limits.max_headers, 100);
	ck_assert_int_eq(c->limits.handshake_timeout, 10);
	ck_assert_int_eq(c->limits.close_timeout, 5);
	ck_assert_int_eq(c->limits.shutdown_timeout, 10);
	ck_assert_int_eq(r->limits.max_message_size, 1 << 20);
	ck_assert_int_eq(r->limits.max_frame_size, 1 << 20);
	ck_assert_int_eq(r->limits.idle_timeout, 300);
	ck_assert_int_eq(r->limits.ping_interval, 30);
	ck_assert_int_eq(r->limits.pong_timeout, 30);
	ck_assert_int_eq(r->limits.output_high, 1 << 20);
	ck_assert_int_eq(r->limits.output_low, 256 << 10);
	ck_assert_uint_eq(c->ws.max_head_bytes, 8192);
	ck_assert_uint_eq(r->ws.max_message_size, 1 << 20);
	config_unref(c);
}
END_TEST

START_TEST(good_handlers)
{
	struct config *c = load_good("handlers.conf");
	const struct route *r;

	ck_assert_str_eq(c->log_level, "debug");
	ck_assert_str_eq(c->log_target, "stderr");
	ck_assert_uint_eq(c->nlisteners, 2);
	ck_assert_str_eq(c->listeners[0].address, "127.0.0.1");
	ck_assert_int_eq(c->listeners[0].port, 1);
	ck_assert_int_eq(c->listeners[0].backlog, 1);
	ck_assert_int_eq(c->listeners[1].port, 65535);
	ck_assert_int_eq(c->listeners[1].backlog, 65535);
	ck_assert_int_eq(c->limits.max_connections, 1000000);
	ck_assert_int_eq(c->limits.max_header_bytes, 256);
	ck_assert_int_eq(c->limits.max_headers, 1);
	ck_assert_int_eq(c->limits.handshake_timeout, 3600);
	ck_assert_int_eq(c->limits.close_timeout, 1);
	ck_assert_int_eq(c->limits.shutdown_timeout, 0);
	ck_assert_uint_eq(c->ws.max_head_bytes, 256);
	ck_assert_uint_eq(c->ws.max_headers, 1);
	ck_assert_uint_eq(c->nroutes, 6);

	r = route_named(c, "/echo");
	ck_assert_ptr_eq(r->handler, &handler_echo);
	ck_assert_int_eq(r->limits.max_message_size, 1);
	ck_assert_int_eq(r->limits.max_frame_size, 1LL << 30);
	ck_assert_int_eq(r->limits.idle_timeout, 0);
	ck_assert_int_eq(r->limits.ping_interval, 86400);
	ck_assert_int_eq(r->limits.pong_timeout, 1);
	ck_assert_int_eq(r->limits.output_high, 1024);
	ck_assert_int_eq(r->limits.output_low, 0);

	r = route_named(c, "/room/");
	ck_assert_int_eq(r->prefix, 1);
	ck_assert_ptr_eq(r->handler, &handler_broadcast);
	ck_assert_str_eq(hopt_choice(r, "room"), "path");
	ck_assert_int_eq(hopt_index(r, "include_sender"), 1);
	ck_assert_int_eq(hopt_int(r, "max_output"), 1024);
	ck_assert_str_eq(hopt_choice(r, "slow_policy"), "close");

	r = route_named(c, "/lobby");
	ck_assert_int_eq(r->prefix, 0);
	ck_assert_ptr_eq(r->handler, &handler_broadcast);
	ck_assert_str_eq(hopt_choice(r, "room"), "route");
	ck_assert_int_eq(hopt_index(r, "include_sender"), 0);
	ck_assert_int_eq(hopt_int(r, "max_output"), 1LL << 30);
	ck_assert_str_eq(hopt_choice(r, "slow_policy"), "drop");

	r = route_named(c, "/tcp");
	ck_assert_ptr_eq(r->handler, &handler_backend);
	ck_assert_str_eq(hopt_string(r, "backend"), "127.0.0.1:7000");
	ck_assert_str_eq(hopt_choice(r, "mode"), "binary");
	ck_assert_int_eq(hopt_int(r, "connect_timeout"), 1);
	ck_assert_int_eq(hopt_int(r, "max_line"), 1);

	r = route_named(c, "/tcp6/");
	ck_assert_int_eq(r->prefix, 1);
	ck_assert_str_eq(hopt_string(r, "backend"), "[::1]:65535");
	ck_assert_str_eq(hopt_choice(r, "mode"), "text");
	ck_assert_int_eq(hopt_int(r, "connect_timeout"), 600);
	ck_assert_int_eq(hopt_int(r, "max_line"), 1LL << 30);

	r = route_named(c, "/unix");
	ck_assert_str_eq(hopt_string(r, "backend"),
	    "unix:/run/wsrelayd-test/service.sock");
	ck_assert_str_eq(hopt_choice(r, "mode"), "line");
	ck_assert_int_eq(hopt_int(r, "connect_timeout"), 10);
	ck_assert_int_eq(hopt_int(r, "max_line"), 65536);
	ck_assert_int_eq(r->limits.max_message_size, 1LL << 30);
	ck_assert_int_eq(r->limits.max_frame_size, 1);
	ck_assert_int_eq(r->limits.idle_timeout, 86400);
	ck_assert_int_eq(r->limits.ping_interval, 0);
	ck_assert_int_eq(r->limits.pong_timeout, 3600);
	ck_assert_int_eq(r->limits.output_high, 1LL << 30);
	ck_assert_int_eq(r->limits.output_low, (1LL << 30) - 1);
	ck_assert_uint_eq(r->ws.max_message_size, 1U << 30);
	ck_assert_uint_eq(r->ws.max_frame_size, 1);
	ck_assert_uint_eq(r->ws.max_head_bytes, 256);
	config_unref(c);
}
END_TEST

START_TEST(good_ipv6)
{
	struct config *c = load_good("listen-ipv6.conf");

	ck_assert_uint_eq(c->nlisteners, 3);
	ck_assert_str_eq(c->listeners[0].address, "::");
	ck_assert_int_eq(c->listeners[0].port, 8080);
	ck_assert_str_eq(c->listeners[1].address, "::1");
	ck_assert_int_eq(c->listeners[1].port, 8081);
	ck_assert_int_eq(c->listeners[1].backlog, 16);
	ck_assert_str_eq(c->listeners[2].address, "127.0.0.1");
	ck_assert_int_eq(c->listeners[2].line, 5);
	config_unref(c);
}
END_TEST

START_TEST(good_unix)
{
	struct config *c = load_good("listen-unix.conf");

	ck_assert_uint_eq(c->nlisteners, 3);
	ck_assert_str_eq(c->listeners[0].path, "/run/wsrelayd-test/a.sock");
	ck_assert_ptr_null(c->listeners[0].address);
	/* "mode = 0600;" in the file: an octal file mode. */
	ck_assert_msg(c->listeners[0].mode == 0600,
	    "mode = 0600 read as %#llo", c->listeners[0].mode);
	ck_assert_str_eq(c->listeners[1].path, "/run/wsrelayd-test/b.sock");
	ck_assert_int_eq(c->listeners[1].mode, 0660);
	ck_assert_ptr_null(c->listeners[2].path);
	ck_assert_str_eq(c->listeners[2].address, "0.0.0.0");
	config_unref(c);
}
END_TEST

START_TEST(good_route_limits)
{
	struct config *c = load_good("route-limits.conf");
	const struct route *r;

	/* /fast overrides some limits and keeps the global others. */
	r = route_named(c, "/fast");
	ck_assert_int_eq(r->limits.max_message_size, 65536);
	ck_assert_int_eq(r->limits.max_frame_size, 16384);
	ck_assert_int_eq(r->limits.idle_timeout, 0);
	ck_assert_int_eq(r->limits.output_high, 4096);
	ck_assert_int_eq(r->limits.output_low, 1024);
	ck_assert_int_eq(r->limits.ping_interval, 20);
	ck_assert_int_eq(r->limits.pong_timeout, 15);
	ck_assert_uint_eq(r->ws.max_message_size, 65536);
	ck_assert_uint_eq(r->ws.max_frame_size, 16384);

	/* /plain has the global values, not the built-in defaults. */
	r = route_named(c, "/plain");
	ck_assert_int_eq(r->limits.max_message_size, 500000);
	ck_assert_int_eq(r->limits.max_frame_size, 400000);
	ck_assert_int_eq(r->limits.idle_timeout, 120);
	ck_assert_int_eq(r->limits.ping_interval, 20);
	ck_assert_int_eq(r->limits.pong_timeout, 15);
	ck_assert_int_eq(r->limits.output_high, 600000);
	ck_assert_int_eq(r->limits.output_low, 100000);
	ck_assert_uint_eq(r->ws.max_message_size, 500000);
	ck_assert_uint_eq(r->ws.max_frame_size, 400000);

	r = route_named(c, "/low/");
	ck_assert_int_eq(r->prefix, 1);
	ck_assert_int_eq(r->limits.output_low, 0);
	ck_assert_int_eq(r->limits.output_high, 600000);
	ck_assert_int_eq(r->limits.idle_timeout, 120);

	/* The global group itself is unchanged by the overrides. */
	ck_assert_int_eq(c->limits.route.idle_timeout, 120);
	ck_assert_int_eq(c->limits.route.output_high, 600000);
	config_unref(c);
}
END_TEST

START_TEST(good_compression)
{
	struct config *c = load_good("compression.conf");
	const struct route *r;

	r = route_named(c, "/z");
	ck_assert_int_eq(r->compression, 1);
	ck_assert_int_eq(r->deflate.server_max_window_bits, 10);
	ck_assert_int_eq(r->deflate.client_max_window_bits, 9);
	ck_assert_int_eq(r->deflate.mem_level, 4);
	ck_assert_int_eq(r->deflate.level, 1);
	ck_assert_uint_eq(r->deflate.min_size, 0);
	ck_assert_int_eq(r->deflate.server_no_context_takeover, 1);
	ck_assert_int_eq(r->deflate.client_no_context_takeover, 1);

	/* The defaults. */
	r = route_named(c, "/d");
	ck_assert_int_eq(r->compression, 1);
	ck_assert_int_eq(r->deflate.server_max_window_bits, 15);
	ck_assert_int_eq(r->deflate.client_max_window_bits, 15);
	ck_assert_int_eq(r->deflate.mem_level, 8);
	ck_assert_int_eq(r->deflate.level, 6);
	ck_assert_uint_eq(r->deflate.min_size, 64);
	ck_assert_int_eq(r->deflate.server_no_context_takeover, 0);
	ck_assert_int_eq(r->deflate.client_no_context_takeover, 0);
	ck_assert_int_eq(route_named(c, "/off")->compression, 0);
	config_unref(c);
}
END_TEST

START_TEST(good_include)
{
	struct config *c = load_good("include.conf");
	const struct route *r;

	ck_assert_uint_eq(c->nroutes, 2);
	r = route_named(c, "/echo");
	ck_assert_ptr_eq(r->handler, &handler_echo);
	r = route_named(c, "/chat/");
	ck_assert_int_eq(r->prefix, 1);
	ck_assert_ptr_eq(r->handler, &handler_broadcast);
	ck_assert_str_eq(hopt_choice(r, "room"), "path");
	config_unref(c);
}
END_TEST

START_TEST(good_tls)
{
	struct config *c = load_good("tls.conf");
	const struct tls_conf *t;

	ck_assert_uint_eq(c->nlisteners, 4);
	/* One certificate, every default. */
	t = c->listeners[0].tls;
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->ncerts, 1);
	ck_assert_str_eq(t->certs[0].certificate, "/etc/wsrelayd/a.pem");
	ck_assert_str_eq(t->certs[0].key, "/etc/wsrelayd/a.key");
	ck_assert_uint_eq(t->certs[0].server_names.n, 0);
	ck_assert_int_eq(t->certs[0].line, 4);
	ck_assert_int_eq(t->min_protocol, 0);
	ck_assert_ptr_null(t->ciphers);
	ck_assert_ptr_null(t->ciphersuites);
	ck_assert_ptr_null(t->client_ca);
	ck_assert_int_eq(t->verify_client, TLS_VERIFY_NONE);
	/* A list only: its first is the default; a client_ca alone means
	   "require". */
	t = c->listeners[1].tls;
	ck_assert_uint_eq(t->ncerts, 2);
	ck_assert_str_eq(t->certs[0].certificate, "/etc/wsrelayd/b.pem");
	ck_assert_str_eq(t->certs[1].key, "/etc/wsrelayd/c.key");
	ck_assert_uint_eq(t->certs[1].server_names.n, 2);
	ck_assert_str_eq(t->certs[1].server_names.v[1], "*.c.example.com");
	ck_assert_int_eq(t->min_protocol, 1);
	ck_assert_str_eq(t->ciphers, "ECDHE+AESGCM");
	ck_assert_str_eq(t->ciphersuites, "TLS_AES_128_GCM_SHA256");
	ck_assert_str_eq(t->client_ca, "/etc/wsrelayd/clients.pem");
	ck_assert_int_eq(t->verify_client, TLS_VERIFY_REQUIRE);
	/* certificate and key first, then the list. */
	t = c->listeners[2].tls;
	ck_assert_uint_eq(t->ncerts, 2);
	ck_assert_str_eq(t->certs[0].certificate, "/etc/wsrelayd/a.pem");
	ck_assert_str_eq(t->certs[1].certificate, "/etc/wsrelayd/d.pem");
	ck_assert_int_eq(t->verify_client, TLS_VERIFY_OPTIONAL);
	ck_assert_ptr_null(c->listeners[3].tls);
	config_unref(c);
}
END_TEST

START_TEST(good_backend_tls)
{
	struct config *c = load_good("backend-tls.conf");
	const struct route *r;

	r = route_named(c, "/system");
	ck_assert_int_eq(hopt_index(r, "tls"), 1);
	ck_assert_int_eq(hopt_index(r, "tls_verify"), 1);
	ck_assert_ptr_null(hopt_string(r, "tls_ca"));
	ck_assert_ptr_null(hopt_string(r, "tls_server_name"));
	r = route_named(c, "/named");
	ck_assert_str_eq(hopt_string(r, "tls_server_name"),
	    "service.example.com");
	r = route_named(c, "/test");
	ck_assert_int_eq(hopt_index(r, "tls_verify"), 0);
	r = route_named(c, "/plain");
	ck_assert_int_eq(hopt_index(r, "tls"), 0);
	config_unref(c);
}
END_TEST

START_TEST(good_comments)
{
	struct config *c = load_good("comments.conf");

	ck_assert_str_eq(c->log_level, "warn");
	ck_assert_uint_eq(c->nlisteners, 1);
	ck_assert_int_eq(c->listeners[0].port, 8080);
	ck_assert_uint_eq(c->nroutes, 1);
	ck_assert_str_eq(c->routes[0].path, "/echo");
	ck_assert_int_eq(c->routes[0].line, 18);
	config_unref(c);
}
END_TEST

START_TEST(shipped_example)
{
	char path[PATHLEN], err[ERRLEN] = "";
	struct config *c;
	const struct route *r;

	src_path(path, sizeof(path), "etc/wsrelayd.conf");
	c = config_load(path, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s does not load: %s", path, err);
	ck_assert_uint_ge(c->nlisteners, 1);

	r = config_route(c, "/echo", 5);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->path, "/echo");
	ck_assert_int_eq(r->prefix, 0);
	ck_assert_ptr_eq(r->handler, &handler_echo);

	r = config_route(c, "/chat/lobby", 11);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->path, "/chat/");
	ck_assert_int_eq(r->prefix, 1);
	ck_assert_ptr_eq(r->handler, &handler_broadcast);
	config_unref(c);
}
END_TEST

START_TEST(missing_file)
{
	char path[PATHLEN], err[ERRLEN] = "";

	conf_path(path, sizeof(path), "good", "no-such-file.conf");
	ck_assert_ptr_null(config_load(path, err, sizeof(err)));
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 &&
	    err[strlen(path)] == ':', "error \"%s\"", err);
}
END_TEST

/* ------------------------------------------------------------- bad files */

struct expect {
	char text[512];
	int line;
	char file[PATHLEN];	/* the file named in the message */
};

static void
chomp(char *s)
{
	s[strcspn(s, "\r\n")] = '\0';
}

/* Read the header of bad file path into e. */
static void
read_expect(const char *path, struct expect *e)
{
	char buf[1024], *end;
	const char *slash;
	FILE *f;

	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_msg(fgets(buf, sizeof(buf), f) != NULL &&
	    strncmp(buf, "# expect: ", 10) == 0,
	    "%s: line 1 is not \"# expect: <text>\"", path);
	chomp(buf);
	ck_assert_msg(snprintf(e->text, sizeof(e->text), "%s", buf + 10) <
	    (int)sizeof(e->text), "%s: expectation too long", path);
	ck_assert_msg(e->text[0] != '\0', "%s: empty expectation", path);
	ck_assert_msg(fgets(buf, sizeof(buf), f) != NULL &&
	    strncmp(buf, "# line: ", 8) == 0,
	    "%s: line 2 is not \"# line: N\"", path);
	e->line = (int)strtol(buf + 8, &end, 10);
	ck_assert_msg(end != buf + 8 && (*end == '\n' || *end == '\0'),
	    "%s: line 2 is not \"# line: N\"", path);
	ck_assert(snprintf(e->file, sizeof(e->file), "%s", path) <
	    (int)sizeof(e->file));
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    strncmp(buf, "# file: ", 8) == 0) {
		chomp(buf);
		slash = strrchr(path, '/');
		ck_assert_msg(snprintf(e->file, sizeof(e->file), "%.*s/%s",
		    (int)(slash - path), path, buf + 8) < (int)sizeof(e->file),
		    "%s: file name too long", path);
	}
	fclose(f);
}

START_TEST(bad_dir_listed)
{
	ck_assert_msg(nbad > 0, "no *.conf in %s/tests/conf/bad", srcdir());
}
END_TEST

START_TEST(bad_fails)
{
	char path[PATHLEN], err[ERRLEN], prefix[PATHLEN + 32];
	struct expect e;
	struct config *c;
	size_t plen;

	conf_path(path, sizeof(path), "bad", bad_files[_i]);
	read_expect(path, &e);
	memset(err, 0, sizeof(err));
	c = config_load(path, err, sizeof(err));
	if (c != NULL) {
		config_unref(c);
		ck_abort_msg("%s was accepted; expected %s:%d: ...%s...",
		    path, e.file, e.line, e.text);
	}
	ck_assert(snprintf(prefix, sizeof(prefix), "%s:%d: ", e.file,
	    e.line) < (int)sizeof(prefix));
	plen = strlen(prefix);
	ck_assert_msg(strncmp(err, prefix, plen) == 0 &&
	    strstr(err + plen, e.text) != NULL,
	    "%s:\n  expected \"%s...%s...\"\n  got      \"%s\"",
	    bad_files[_i], prefix, e.text, err);
	ck_assert_msg(strchr(err, '\n') == NULL, "a newline in \"%s\"", err);
}
END_TEST

/* A short buffer truncates the message and never overflows. */
START_TEST(bad_short_buffer)
{
	char path[PATHLEN], err[16];
	size_t n;

	conf_path(path, sizeof(path), "bad", "top-unknown.conf");
	memset(err, 'x', sizeof(err));
	ck_assert_ptr_null(config_load(path, err, 8));
	n = strnlen(err, sizeof(err));
	ck_assert_uint_lt(n, 8);
	ck_assert_int_eq(err[8], 'x');
}
END_TEST

/* --------------------------------------------------------------- routing */

static const char *
routed(const struct config *c, const char *path)
{
	static char buf[256];
	const struct route *r = config_route(c, path, strlen(path));

	if (r == NULL)
		return "NULL";
	snprintf(buf, sizeof(buf), "%s%s", r->path, r->prefix ? "*" : "");
	return buf;
}

static const struct {
	const char *request;
	const char *route;	/* path and "*" for a prefix, or "NULL" */
} route_cases[] = {
	/* Exact beats prefix, whatever the order of the routes. */
	{ "/chat/special", "/chat/special" },
	{ "/echo", "/echo" },
	/* Longest prefix, whatever the order. */
	{ "/chat/dev/x", "/chat/dev/*" },
	{ "/chat/dev/", "/chat/dev/*" },
	{ "/chat/devx", "/chat/*" },
	{ "/chat/dev", "/chat/*" },
	{ "/api/v1/users", "/api/v1/*" },
	{ "/api/v2/users", "/api/*" },
	{ "/api/v1", "/api/*" },
	/* "/chat" is not under the prefix "/chat/"; "/chat/" and "/chat/x" are. */
	{ "/chat", "NULL" },
	{ "/chat/", "/chat/*" },
	{ "/chat/x", "/chat/*" },
	{ "/chat/special/x", "/chat/*" },
	{ "/echo/", "/echo/*" },
	{ "/echo/a/b", "/echo/*" },
	/* Exact routes match only themselves. */
	{ "/", "/" },
	{ "/echox", "NULL" },
	{ "/ech", "NULL" },
	{ "/nothing", "NULL" },
	{ "", "NULL" },
	{ "//echo", "NULL" },
	{ "/ECHO", "NULL" },
};

START_TEST(route_match)
{
	struct config *c = load_good("paths.conf");
	const char *got;

	got = routed(c, route_cases[_i].request);
	ck_assert_msg(strcmp(got, route_cases[_i].route) == 0,
	    "\"%s\" routed to %s, expected %s", route_cases[_i].request,
	    got, route_cases[_i].route);
	config_unref(c);
}
END_TEST

/* Only len bytes of the path count (the query is cut off by length). */
START_TEST(route_match_length)
{
	struct config *c = load_good("paths.conf");
	const struct route *r;

	r = config_route(c, "/echo?x=1", 5);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->path, "/echo");
	ck_assert_int_eq(r->prefix, 0);
	r = config_route(c, "/chat/dev/room", 6);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->path, "/chat/");
	ck_assert_ptr_null(config_route(c, "/chat/", 5));
	ck_assert_ptr_eq(config_route(c, "/", 1), route_named(c, "/"));
	config_unref(c);
}
END_TEST

START_TEST(route_catchall)
{
	struct config *c = load_good("catchall.conf");

	ck_assert_str_eq(routed(c, "/echo"), "/echo");
	ck_assert_str_eq(routed(c, "/"), "/*");
	ck_assert_str_eq(routed(c, "/anything/at/all"), "/*");
	ck_assert_str_eq(routed(c, "/echo/x"), "/*");
	ck_assert_str_eq(routed(c, ""), "NULL");
	config_unref(c);
}
END_TEST

/* -------------------------------------------------------------- refcount */

START_TEST(ref_unref)
{
	struct config *c = load_good("handlers.conf");

	ck_assert_int_eq(c->refs, 1);
	config_ref(c);
	config_ref(c);
	ck_assert_int_eq(c->refs, 3);
	config_unref(c);
	config_unref(c);
	ck_assert_int_eq(c->refs, 1);
	ck_assert_str_eq(c->routes[0].path, "/echo");
	config_unref(c);	/* freed: ASan reports a leak otherwise */
	config_unref(NULL);
}
END_TEST

/* Loading and freeing every file many times: no leak, no growth. */
START_TEST(load_unload_all)
{
	char path[PATHLEN], err[ERRLEN];
	struct config *c;
	int i, round;

	for (round = 0; round < 20; round++) {
		for (i = 0; i < ngood; i++) {
			conf_path(path, sizeof(path), "good", good_files[i]);
			if ((c = config_load(path, err, sizeof(err))) != NULL)
				config_unref(c);
		}
		for (i = 0; i < nbad; i++) {
			conf_path(path, sizeof(path), "bad", bad_files[i]);
			if ((c = config_load(path, err, sizeof(err))) != NULL)
				config_unref(c);
		}
	}
}
END_TEST

/* -------------------------------------------------------------- man page */

struct keys {
	char *man;		/* the man page, NUL-terminated */
	char missing[4096];
	size_t nmissing;
	size_t nkeys;
};

/* Whether text has a line ".It Ic name" (name then a blank or the end). */
static int
man_has(const char *text, const char *name)
{
	const char *p = text;
	size_t n = strlen(name);

	for (;;) {
		if (strncmp(p, ".It Ic ", 7) == 0 &&
		    strncmp(p + 7, name, n) == 0 &&
		    (p[7 + n] == '\n' || p[7 + n] == ' ' ||
		    p[7 + n] == '\t' || p[7 + n] == '\0'))
			return 1;
		if ((p = strchr(p, '\n')) == NULL)
			return 0;
		p++;
	}
}

static void
check_key(const char *section, const char *name, void *arg)
{
	struct keys *k = arg;
	size_t len = strlen(k->missing);

	k->nkeys++;
	if (k->man != NULL && man_has(k->man, name))
		return;
	k->nmissing++;
	snprintf(k->missing + len, sizeof(k->missing) - len, "%s%s%s%s",
	    len ? ", " : "", section, *section ? "." : "", name);
}

static void
collect_key(const char *section, const char *name, void *arg)
{
	char *list = arg;
	size_t len = strlen(list);

	snprintf(list + len, 4096 - len, " %s.%s", section, name);
}

static char *
read_all(const char *path)
{
	FILE *f;
	char *buf;
	long n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* The enumeration itself covers every table, handlers included. */
START_TEST(keys_enumerated)
{
	static const char *const want[] = {
		".log", ".listen", ".limits", ".routes",
		"log.level", "log.target",
		"listen.address", "listen.port", "listen.path", "listen.mode",
		"listen.backlog",
		"limits.max_connections", "limits.max_header_bytes",
		"limits.max_headers", "limits.handshake_timeout",
		"limits.close_timeout", "limits.shutdown_timeout",
		"limits.max_message_size", "limits.max_frame_size",
		"limits.idle_timeout", "limits.ping_interval",
		"limits.pong_timeout", "limits.output_high_watermark",
		"limits.output_low_watermark",
		"routes.path", "routes.handler", "routes.limits",
		"broadcast.room", "broadcast.include_sender",
		"broadcast.max_output", "broadcast.slow_policy",
		"backend.backend", "backend.mode", "backend.connect_timeout",
		"backend.max_line",
	};
	char list[4096] = "", key[128];
	size_t i;

	config_foreach_key(collect_key, list);
	strcat(list, " ");
	for (i = 0; i < NELEM(want); i++) {
		snprintf(key, sizeof(key), " %s ", want[i]);
		ck_assert_msg(strstr(list, key) != NULL,
		    "config_foreach_key() misses %s:%s", want[i], list);
	}
}
END_TEST

START_TEST(man_documents_every_key)
{
	char path[PATHLEN];
	struct keys k;

	memset(&k, 0, sizeof(k));
	src_path(path, sizeof(path), "man/wsrelayd.conf.5");
	k.man = read_all(path);
	config_foreach_key(check_key, &k);
	free(k.man);
	ck_assert_uint_gt(k.nkeys, 0);
	ck_assert_msg(k.nmissing == 0,
	    "%s%s: %zu of %zu keys have no \".It Ic <name>\" line: %s",
	    path, k.man == NULL ? " (cannot read it)" : "", k.nmissing,
	    k.nkeys, k.missing);
}
END_TEST

/* ----------------------------------------------------------------- suite */

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("good");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, good_dir_listed);
	if (ngood > 0)
		tcase_add_loop_test(tc, good_loads, 0, ngood);
	tcase_add_test(tc, good_minimal);
	tcase_add_test(tc, good_handlers);
	tcase_add_test(tc, good_ipv6);
	tcase_add_test(tc, good_unix);
	tcase_add_test(tc, good_route_limits);
	tcase_add_test(tc, good_include);
	tcase_add_test(tc, good_compression);
	tcase_add_test(tc, good_comments);
	tcase_add_test(tc, good_tls);
	tcase_add_test(tc, good_backend_tls);
	tcase_add_test(tc, shipped_example);
	tcase_add_test(tc, missing_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bad_dir_listed);
	if (nbad > 0)
		tcase_add_loop_test(tc, bad_fails, 0, nbad);
	tcase_add_test(tc, bad_short_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("route");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, route_match, 0, (int)NELEM(route_cases));
	tcase_add_test(tc, route_match_length);
	tcase_add_test(tc, route_catchall);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, ref_unref);
	tcase_add_test(tc, load_unload_all);
	suite_add_tcase(s, tc);

	tc = tcase_create("man");
	tcase_add_test(tc, keys_enumerated);
	tcase_add_test(tc, man_documents_every_key);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed, i;

	ngood = list_confs("good", good_files);
	nbad = list_confs("bad", bad_files);
	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	for (i = 0; i < ngood; i++)
		free(good_files[i]);
	for (i = 0; i < nbad; i++)
		free(bad_files[i]);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
