/*
 * config.c - libconfig to plain structs.  Every setting is a row of a
 * table; errors are "file:line: message" and the first one stops the load.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "config.h"
#include "handler/handler.h"

#define OFF(type, field) offsetof(type, field)

static const char *const log_levels[] = { "error", "warn", "info", "debug",
    NULL };
static const char *const log_targets[] = { "auto", "stderr", "syslog",
    NULL };

struct log_conf {
	int level;
	int target;
};

static const struct opt log_table[] = {
	{ "level", OPT_ENUM, 0, 0, 2, NULL, log_levels,
	    OFF(struct log_conf, level), 0, NULL },
	{ "target", OPT_ENUM, 0, 0, 0, NULL, log_targets,
	    OFF(struct log_conf, target), 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL }
};

static const char *const listen_names[] = { "tls", NULL };

static const struct opt listen_table[] = {
	{ "address", OPT_STRING, 0, 0, 0, "0.0.0.0", NULL,
	    OFF(struct listen_conf, address), 0, NULL },
	{ "port", OPT_INT, 1, 65535, 0, NULL, NULL,
	    OFF(struct listen_conf, port), 0, NULL },
	{ "path", OPT_STRING, 0, 0, 0, NULL, NULL,
	    OFF(struct listen_conf, path), 0, NULL },
	{ "mode", OPT_MODE, 0, 0777, 0660, NULL, NULL,
	    OFF(struct listen_conf, mode), 0, NULL },
	{ "backlog", OPT_INT, 1, 65535, 511, NULL, NULL,
	    OFF(struct listen_conf, backlog), 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL }
};

static const char *const tls_protocols[] = { "TLSv1.2", "TLSv1.3", NULL };
static const char *const tls_verify[] = { "none", "optional", "require",
    NULL };
static const char *const tls_names[] = { "certificates", NULL };

#define TL(f) OFF(struct tls_conf, f)
static const struct opt tls_table[] = {
	{ "certificate", OPT_STRING, 0, 0, 0, NULL, NULL, TL(certificate), 0,
	    NULL },
	{ "key", OPT_STRING, 0, 0, 0, NULL, NULL, TL(key), 0, NULL },
	{ "min_protocol", OPT_ENUM, 0, 0, 0, NULL, tls_protocols,
	    TL(min_protocol), 0, NULL },
	{ "ciphers", OPT_STRING, 0, 0, 0, NULL, NULL, TL(ciphers), 0, NULL },
	{ "ciphersuites", OPT_STRING, 0, 0, 0, NULL, NULL, TL(ciphersuites), 0,
	    NULL },
	{ "client_ca", OPT_STRING, 0, 0, 0, NULL, NULL, TL(client_ca), 0,
	    NULL },
	/* -1 until set: "require" with a client_ca, else "none". */
	{ "verify_client", OPT_ENUM, 0, 0, -1, NULL, tls_verify,
	    TL(verify_client), 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL }
};

#define TC(f) OFF(struct tls_cert_conf, f)
static const struct opt tls_cert_table[] = {
	{ "certificate", OPT_STRING, 0, 0, 0, NULL, NULL, TC(certificate),
	    OPT_REQUIRED, NULL },
	{ "key", OPT_STRING, 0, 0, 0, NULL, NULL, TC(key), OPT_REQUIRED, NULL },
	{ "server_names", OPT_STRINGS, 0, 0, 0, NULL, NULL, TC(server_names), 0,
	    NULL },
	{ NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL }
};

#define RL(f) OFF(struct route_limits, f)
static const struct opt route_limits_table[] = {
	{ "max_message_size", OPT_INT, 1, 1LL << 30, 1 << 20, NULL, NULL,
	    RL(max_message_size), 0, "bytes" },
	{ "max_frame_size", OPT_INT, 1, 1LL << 30, 1 << 20, NULL, NULL,
	    RL(max_frame_size), 0, "bytes" },
	{ "idle_timeout", OPT_INT, 0, 86400, 300, NULL, NULL,
	    RL(idle_timeout), 0, "seconds" },
	{ "ping_interval", OPT_INT, 0, 86400, 30, NULL, NULL,
	    RL(ping_interval), 0, "seconds" },
	{ "pong_timeout", OPT_INT, 1, 3600, 30, NULL, NULL,
	    RL(pong_timeout), 0, "seconds" },
	{ "output_high_watermark", OPT_INT, 1024, 1LL << 30, 1 << 20, NULL,
	    NULL, RL(output_high), 0, "bytes" },
	{ "output_low_watermark", OPT_INT, 0, 1LL << 30, 256 << 10, NULL,
	    NULL, RL(output_low), 0, "bytes" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL }
};

#define GL(f) OFF(struct global_limits, f)
static const struct opt global_limits_table[] = {
	{ "max_connections", OPT_INT, 1, 1000000, 10000, NULL, NULL,
	    GL(max_connections), 0, NULL },
	{ "max_header_bytes", OPT_INT, 256, 65536, 8192, NULL, NULL,
	    GL(max_header_bytes), 0, "bytes" },
	{ "max_headers", OPT_INT, 1, 1000, 100, NULL, NULL,
	    GL(max_headers), 0, NULL },
	{ "handshake_timeout", OPT_INT, 1, 3600, 10, NULL, NULL,
	    GL(handshake_timeout), 0, "seconds" },
	{ "close_timeout", OPT_INT, 1, 3600, 5, NULL, NULL,
	    GL(close_timeout), 0, "seconds" },
	{ "shutdown_timeout", OPT_INT, 0, 3600, 10, NULL, NULL,
	    GL(shutdown_timeout), 0, "seconds" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL }
};

static const char *const top_names[] = { "log", "listen", "limits",
    "routes", NULL };
static const char *const route_names[] = { "path", "handler", "limits",
    NULL };

#define RT(f) OFF(struct route, f)
static const struct opt route_table[] = {
	{ "subprotocols", OPT_STRINGS, 0, 0, 0, NULL, NULL, RT(subprotocols),
	    0, NULL },
	{ "require_subprotocol", OPT_BOOL, 0, 1, 0, NULL, NULL,
	    RT(require_subprotocol), 0, NULL },
	{ "origins", OPT_STRINGS, 0, 0, 0, NULL, NULL, RT(origins), 0, NULL },
	{ "allow_missing_origin", OPT_BOOL, 0, 1, 1, NULL, NULL,
	    RT(allow_missing_origin), 0, NULL },
	{ "compression", OPT_BOOL, 0, 1, 0, NULL, NULL, RT(compression), 0,
	    NULL },
	{ "deflate_window_bits", OPT_INT, 8, 15, 15, NULL, NULL,
	    RT(dfl.window_bits), 0, "bits" },
	{ "deflate_client_window_bits", OPT_INT, 8, 15, 15, NULL, NULL,
	    RT(dfl.client_window_bits), 0, "bits" },
	{ "deflate_mem_level", OPT_INT, 1, 9, 8, NULL, NULL,
	    RT(dfl.mem_level), 0, NULL },
	{ "deflate_level", OPT_INT, 0, 9, 6, NULL, NULL, RT(dfl.level), 0,
	    NULL },
	{ "deflate_min_size", OPT_INT, 0, 1LL << 30, 64, NULL, NULL,
	    RT(dfl.min_size), 0, "bytes" },
	{ "deflate_no_context_takeover", OPT_BOOL, 0, 1, 0, NULL, NULL,
	    RT(dfl.no_context_takeover), 0, NULL },
	{ "deflate_client_no_context_takeover", OPT_BOOL, 0, 1, 0, NULL, NULL,
	    RT(dfl.client_no_context_takeover), 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL }
};

struct ctx {
	const char *file;
	char *err;
	size_t errlen;
	int failed;
	char where[1024];	/* the file of the setting at fault */
};

/* The file a setting comes from: an @include is relative to the
   directory of the main file. */
static const char *
source_file(struct ctx *x, const config_setting_t *s)
{
	const char *f = s != NULL ? config_setting_source_file(s) : NULL;
	const char *slash = strrchr(x->file, '/');

	if (f == NULL || strcmp(f, x->file) == 0)
		return x->file;
	if (f[0] == '/' || slash == NULL)
		return f;
	snprintf(x->where, sizeof(x->where), "%.*s/%s",
	    (int)(slash - x->file), x->file, f);
	return x->where;
}

static void __attribute__((format(printf, 3, 4)))
error(struct ctx *x, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->failed)
		return;
	x->failed = 1;
	n = snprintf(x->err, x->errlen, "%s:%d: ", source_file(x, s),
	    s != NULL ? config_setting_source_line(s) : 0);
	if (n < 0 || (size_t)n >= x->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

void
opt_defaults(const struct opt *t, void *base)
{
	char *b = base;

	for (; t->name != NULL; t++) {
		switch (t->type) {
		case OPT_INT:
		case OPT_MODE:
			*(long long *)(b + t->off) = t->def;
			break;
		case OPT_BOOL:
		case OPT_ENUM:
			*(int *)(b + t->off) = (int)t->def;
			break;
		case OPT_STRING:
			*(char **)(b + t->off) = t->sdef != NULL ?
			    strdup(t->sdef) : NULL;
			break;
		case OPT_STRINGS:
			memset(b + t->off, 0, sizeof(struct strlist));
			break;
		}
	}
}

void
opt_free(const struct opt *t, void *base)
{
	char *b = base;
	struct strlist *l;
	size_t i;

	for (; t->name != NULL; t++) {
		if (t->type == OPT_STRING) {
			free(*(char **)(b + t->off));
			*(char **)(b + t->off) = NULL;
		} else if (t->type == OPT_STRINGS) {
			l = (struct strlist *)(void *)(b + t->off);
			for (i = 0; i < l->n; i++)
				free(l->v[i]);
			free(l->v);
			l->v = NULL;
			l->n = 0;
		}
	}
}

static const char *
type_name(enum opt_type t)
{
	switch (t) {
	case OPT_INT: return "an integer";
	case OPT_BOOL: return "true or false";
	case OPT_STRING: return "a string";
	case OPT_ENUM: return "a string";
	case OPT_MODE: return "an octal string such as \"0660\"";
	default: return "an array of strings";
	}
}

/* Set one setting s from row t into base. */
static void
apply(struct ctx *x, const config_setting_t *s, const struct opt *t,
    void *base)
{
	char *b = base;
	int type = config_setting_type(s);
	long long v;
	const char *str;
	struct strlist *l;
	int i, n;

	switch (t->type) {
	case OPT_INT:
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
			goto badtype;
		v = config_setting_get_int64(s);
		if (v < t->min || v > t->max) {
			error(x, s, "'%s' must be between %lld and %lld%s%s",
			    t->name, t->min, t->max, t->unit ? " " : "",
			    t->unit ? t->unit : "");
			return;
		}
		*(long long *)(b + t->off) = v;
		return;
	case OPT_MODE:
		if (type != CONFIG_TYPE_STRING)
			goto badtype;
		str = config_setting_get_string(s);
		{
			char *end;

			errno = 0;
			v = strtoll(str, &end, 8);
			if (*str < '0' || *str > '7' || *end != '\0' ||
			    errno != 0 || v < t->min || v > t->max) {
				error(x, s, "'%s' must be an octal mode from "
				    "\"0\" to \"0777\" (not \"%s\")", t->name,
				    str);
				return;
			}
		}
		*(long long *)(b + t->off) = v;
		return;
	case OPT_BOOL:
		if (type != CONFIG_TYPE_BOOL)
			goto badtype;
		*(int *)(b + t->off) = config_setting_get_bool(s);
		return;
	case OPT_STRING:
		if (type != CONFIG_TYPE_STRING)
			goto badtype;
		str = config_setting_get_string(s);
		if (*str == '\0') {
			error(x, s, "'%s' must not be empty", t->name);
			return;
		}
		free(*(char **)(b + t->off));
		*(char **)(b + t->off) = strdup(str);
		return;
	case OPT_ENUM:
		if (type != CONFIG_TYPE_STRING)
			goto badtype;
		str = config_setting_get_string(s);
		for (i = 0; t->choices[i] != NULL; i++)
			if (strcmp(str, t->choices[i]) == 0) {
				*(int *)(b + t->off) = i;
				return;
			}
		{
			char list[256] = "";

			for (i = 0; t->choices[i] != NULL; i++) {
				strncat(list, i ? ", " : "", sizeof(list) -
				    strlen(list) - 1);
				strncat(list, t->choices[i], sizeof(list) -
				    strlen(list) - 1);
			}
			error(x, s, "'%s' must be one of: %s (not \"%s\")",
			    t->name, list, str);
		}
		return;
	case OPT_STRINGS:
		if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
			goto badtype;
		l = (struct strlist *)(void *)(b + t->off);
		n = config_setting_length(s);
		for (i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(s,
			    (unsigned)i);

			if (config_setting_type(e) != CONFIG_TYPE_STRING ||
			    *config_setting_get_string(e) == '\0') {
				error(x, s, "'%s' must hold non-empty strings",
				    t->name);
				return;
			}
		}
		l->v = calloc((size_t)n + 1, sizeof(char *));
		for (i = 0; i < n; i++)
			l->v[i] = strdup(config_setting_get_string(
			    config_setting_get_elem(s, (unsigned)i)));
		l->n = (size_t)n;
		return;
	}
badtype:
	error(x, s, "'%s' must be %s", t->name, type_name(t->type));
}

static const struct opt *
find(const struct opt *t, const char *name)
{
	for (; t != NULL && t->name != NULL; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static int
in_names(const char *const *names, const char *name)
{
	for (; names != NULL && *names != NULL; names++)
		if (strcmp(*names, name) == 0)
			return 1;
	return 0;
}

/*
 * Apply the members of group g that table t knows into base.  Members
 * neither in t, nor in t2 (applied to base2), nor in names, are errors,
 * reported with the word what ("setting", "route setting", ...).
 */
static void
apply_group(struct ctx *x, const config_setting_t *g, const char *what,
    const struct opt *t, void *base, const struct opt *t2, void *base2,
    const char *const *names)
{
	int i, n;
	const struct opt *o;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		if (config_setting_name(g) != NULL)
			error(x, g, "'%s' must be a group { ... }",
			    config_setting_name(g));
		else
			error(x, g, "%s must be a group { ... }", what);
		return;
	}
	n = config_setting_length(g);
	for (i = 0; i < n && !x->failed; i++) {
		const config_setting_t *s = config_setting_get_elem(g,
		    (unsigned)i);
		const char *name = config_setting_name(s);

		if ((o = find(t, name)) != NULL)
			apply(x, s, o, base);
		else if ((o = find(t2, name)) != NULL)
			apply(x, s, o, base2);
		else if (!in_names(names, name))
			error(x, s, "unknown %s '%s'", what, name);
	}
	for (o = t; o != NULL && o->name != NULL && !x->failed; o++)
		if ((o->flags & OPT_REQUIRED) &&
		    config_setting_get_member(g, o->name) == NULL)
			error(x, g, "%s%.*s%s needs '%s'",
			    config_setting_name(g) ? "'" : "this ",
			    config_setting_name(g) ? (int)strlen(
			    config_setting_name(g)) : (int)strcspn(what, " "),
			    config_setting_name(g) ? config_setting_name(g) :
			    what, config_setting_name(g) ? "'" : "", o->name);
}

/* The length of the non-empty list l, called name; -1 after an error
   (why says what an empty one would mean). */
static int
group_list(struct ctx *x, const config_setting_t *l, const char *name,
    const char *why)
{
	int n;

	if (config_setting_type(l) != CONFIG_TYPE_LIST &&
	    config_setting_type(l) != CONFIG_TYPE_ARRAY) {
		error(x, l, "'%s' must be a list ( { ... }, ... )", name);
		return -1;
	}
	if ((n = config_setting_length(l)) == 0) {
		error(x, l, "'%s' is empty: %s", name, why);
		return -1;
	}
	return n;
}

/* A server name for SNI: a host name, or "*." and one. */
static int
server_name_ok(const char *n)
{
	const char *p = strncmp(n, "*.", 2) == 0 ? n + 2 : n;

	if (*p == '\0' || *p == '.' || strlen(p) > 253)
		return 0;
	for (; *p != '\0'; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '-' && *p != '.' &&
		    *p != '_')
			return 0;
	return 1;
}

static void
tls_free(struct tls_conf *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->ncerts; i++)
		opt_free(tls_cert_table, &t->certs[i]);
	free(t->certs);
	opt_free(tls_table, t);
	free(t);
}

/* A listener's "tls" group into lc->tls; 0, or -1 after an error. */
static int
parse_tls(struct ctx *x, struct listen_conf *lc, const config_setting_t *g)
{
	const config_setting_t *l, *s;
	struct tls_conf *t;
	int i, n = 0, top;
	size_t j;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		error(x, g, "out of memory");
		return -1;
	}
	lc->tls = t;
	opt_defaults(tls_table, t);
	t->line = config_setting_source_line(g);
	apply_group(x, g, "tls setting", tls_table, t, NULL, NULL, tls_names);
	if (x->failed)
		return -1;
	if ((t->certificate == NULL) != (t->key == NULL)) {
		error(x, g, "'tls' has '%s' without '%s'", t->key ? "key" :
		    "certificate", t->key ? "certificate" : "key");
		return -1;
	}
	top = t->certificate != NULL;
	if ((l = config_setting_get_member(g, "certificates")) != NULL &&
	    (n = group_list(x, l, "certificates", "no certificate")) < 0)
		return -1;
	if (!top && n == 0) {
		error(x, g, "'tls' needs 'certificate' and 'key', or a "
		    "'certificates' list");
		return -1;
	}
	t->certs = calloc((size_t)(top + n), sizeof(*t->certs));
	if (t->certs == NULL) {
		error(x, g, "out of memory");
		return -1;
	}
	if (top) {
		struct tls_cert_conf *tc = &t->certs[t->ncerts++];

		tc->certificate = strdup(t->certificate);
		tc->key = strdup(t->key);
		tc->line = config_setting_source_line(
		    config_setting_get_member(g, "certificate"));
	}
	for (i = 0; i < n; i++) {
		struct tls_cert_conf *tc = &t->certs[t->ncerts++];

		s = config_setting_get_elem(l, (unsigned)i);
		opt_defaults(tls_cert_table, tc);
		tc->line = config_setting_source_line(s);
		apply_group(x, s, "certificate setting", tls_cert_table, tc,
		    NULL, NULL, NULL);
		if (x->failed)
			return -1;
		for (j = 0; j < tc->server_names.n; j++)
			if (!server_name_ok(tc->server_names.v[j])) {
				error(x, config_setting_get_member(s,
				    "server_names"), "server name \"%s\" is "
				    "not a host name or \"*.\" and one",
				    tc->server_names.v[j]);
				return -1;
			}
	}
	if (t->verify_client < 0)
		t->verify_client = t->client_ca != NULL ? TLS_VERIFY_REQUIRE :
		    TLS_VERIFY_NONE;
	else if (t->verify_client != TLS_VERIFY_NONE && t->client_ca == NULL) {
		error(x, config_setting_get_member(g, "verify_client"),
		    "verify_client \"%s\" needs 'client_ca'",
		    tls_verify[t->verify_client]);
		return -1;
	}
	return 0;
}

static void
parse_listen(struct ctx *x, struct config *c, const config_setting_t *l)
{
	int i, n;

	if (l == NULL) {
		error(x, NULL, "no 'listen' list: nothing to listen on");
		return;
	}
	if ((n = group_list(x, l, "listen", "nothing to listen on")) < 0)
		return;
	c->listeners = calloc((size_t)n, sizeof(*c->listeners));
	for (i = 0; i < n && !x->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(l,
		    (unsigned)i);
		struct listen_conf *lc = &c->listeners[i];

		opt_defaults(listen_table, lc);
		lc->line = config_setting_source_line(g);
		c->nlisteners++;
		apply_group(x, g, "listen setting", listen_table, lc, NULL,
		    NULL, listen_names);
		if (x->failed)
			break;
		if (config_setting_get_member(g, "tls") != NULL &&
		    parse_tls(x, lc, config_setting_get_member(g, "tls")) != 0)
			break;
		if (lc->path != NULL &&
		    (config_setting_get_member(g, "port") != NULL ||
		    config_setting_get_member(g, "address") != NULL))
			error(x, g, "a listener has a 'path' (Unix socket) "
			    "or an 'address' and 'port', not both");
		else if (lc->path == NULL &&
		    config_setting_get_member(g, "port") == NULL)
			error(x, g, "a listener needs 'port' (or 'path' for "
			    "a Unix socket)");
		else if (lc->path != NULL && lc->path[0] != '/')
			error(x, config_setting_get_member(g, "path"),
			    "'path' must be absolute");
		else if (lc->path == NULL) {
			unsigned char a[sizeof(struct in6_addr)];

			if (inet_pton(AF_INET, lc->address, a) != 1 &&
			    inet_pton(AF_INET6, lc->address, a) != 1)
				error(x, config_setting_get_member(g,
				    "address") ? config_setting_get_member(g,
				    "address") : g, "'address' must be a numeric "
				    "IPv4 or IPv6 address (not \"%s\")",
				    lc->address);
		}
		if (lc->path != NULL) {
			free(lc->address);
			lc->address = NULL;
		}
	}
}

static void
finish_route(struct route *r, const struct global_limits *g)
{
	ws_limits_default(&r->ws);
	r->ws.max_head_bytes = (size_t)g->max_header_bytes;
	r->ws.max_headers = (size_t)g->max_headers;
	r->ws.max_message_size = (uint64_t)r->limits.max_message_size;
	r->ws.max_frame_size = (uint64_t)r->limits.max_frame_size;
	ws_deflate_default(&r->deflate);
	r->deflate.server_max_window_bits = (uint8_t)r->dfl.window_bits;
	r->deflate.client_max_window_bits = (uint8_t)r->dfl.client_window_bits;
	r->deflate.mem_level = (uint8_t)r->dfl.mem_level;
	r->deflate.level = (int8_t)r->dfl.level;
	r->deflate.min_size = (size_t)r->dfl.min_size;
	r->deflate.server_no_context_takeover =
	    (uint8_t)r->dfl.no_context_takeover;
	r->deflate.client_no_context_takeover =
	    (uint8_t)r->dfl.client_no_context_takeover;
}

static void
parse_routes(struct ctx *x, struct config *c, const config_setting_t *l)
{
	int i, n;
	size_t j;

	if (l == NULL) {
		error(x, NULL, "no 'routes' list: no path would be served");
		return;
	}
	if ((n = group_list(x, l, "routes", "no path would be served")) < 0)
		return;
	c->routes = calloc((size_t)n + 1, sizeof(*c->routes));
	for (i = 0; i < n && !x->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(l,
		    (unsigned)i);
		const config_setting_t *s;
		struct route *r = &c->routes[i];
		const char *path, *hname;
		size_t len;

		r->line = config_setting_source_line(g);
		r->limits = c->limits.route;
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			error(x, g, "a route must be a group { ... }");
			break;
		}
		c->nroutes++;
		if ((s = config_setting_get_member(g, "path")) == NULL ||
		    config_setting_type(s) != CONFIG_TYPE_STRING) {
			error(x, s ? s : g, "a route needs 'path', a string "
			    "such as \"/echo\" or \"/chat/*\"");
			break;
		}
		path = config_setting_get_string(s);
		len = strlen(path);
		if (path[0] != '/' || strpbrk(path, "?# \t") != NULL ||
		    (strchr(path, '*') != NULL && (path[len - 1] != '*' ||
		    path[len - 2] != '/' || strchr(path, '*') !=
		    path + len - 1))) {
			error(x, s, "bad route path \"%s\": it starts with "
			    "'/', and only a final \"/*\" may be a wildcard",
			    path);
			break;
		}
		r->prefix = path[len - 1] == '*';
		r->path = strndup(path, r->prefix ? len - 1 : len);
		for (j = 0; j < (size_t)i; j++)
			if (c->routes[j].prefix == r->prefix &&
			    strcmp(c->routes[j].path, r->path) == 0)
				error(x, s, "duplicate route \"%s\" (first at "
				    "line %d)", path, c->routes[j].line);
		if ((s = config_setting_get_member(g, "handler")) == NULL ||
		    config_setting_type(s) != CONFIG_TYPE_STRING) {
			error(x, s ? s : g, "route \"%s\" needs 'handler': "
			    "\"echo\", \"broadcast\" or \"backend\"", path);
			break;
		}
		hname = config_setting_get_string(s);
		if ((r->handler = handler_find(hname)) == NULL) {
			error(x, s, "unknown handler \"%s\": \"echo\", "
			    "\"broadcast\" or \"backend\"", hname);
			break;
		}
		r->hconf = calloc(1, r->handler->conf_size ?
		    r->handler->conf_size : 1);
		if (r->handler->opts != NULL)
			opt_defaults(r->handler->opts, r->hconf);
		opt_defaults(route_table, r);
		apply_group(x, g, "route setting", r->handler->opts, r->hconf,
		    route_table, r, route_names);
		for (j = 0; !x->failed && j < r->subprotocols.n; j++)
			if (!ws_token_valid(r->subprotocols.v[j]))
				error(x, config_setting_get_member(g,
				    "subprotocols"), "subprotocol \"%s\" is not "
				    "a token (letters, digits, !#$%%&'*+-.^_`|~)",
				    r->subprotocols.v[j]);
		for (j = 0; !x->failed && j < r->origins.n; j++)
			if (strpbrk(r->origins.v[j], " \t,") != NULL)
				error(x, config_setting_get_member(g, "origins"),
				    "origin \"%s\" holds a space or a comma",
				    r->origins.v[j]);
		if (!x->failed && r->require_subprotocol &&
		    r->subprotocols.n == 0)
			error(x, config_setting_get_member(g,
			    "require_subprotocol"), "require_subprotocol needs "
			    "a 'subprotocols' list");
		if ((s = config_setting_get_member(g, "limits")) != NULL)
			apply_group(x, s, "route limit", route_limits_table,
			    &r->limits, NULL, NULL, NULL);
		if (!x->failed && r->limits.output_low >=
		    r->limits.output_high)
			error(x, s ? s : g, "output_low_watermark must be "
			    "below output_high_watermark");
		if (!x->failed && r->handler->conf_check != NULL) {
			char why[256];
			const char *key = NULL;

			if (r->handler->conf_check(r->hconf, why, sizeof(why),
			    &key) != 0) {
				s = key != NULL ?
				    config_setting_get_member(g, key) : NULL;
				error(x, s != NULL ? s : g, "route \"%s\": %s",
				    path, why);
			}
		}
		finish_route(r, &c->limits);
	}
}

static void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++) {
		opt_free(listen_table, &c->listeners[i]);
		tls_free(c->listeners[i].tls);
	}
	free(c->listeners);
	for (i = 0; i < c->nroutes; i++) {
		struct route *r = &c->routes[i];

		if (r->handler != NULL && r->hconf != NULL) {
			if (r->handler->conf_free != NULL)
				r->handler->conf_free(r->hconf);
			if (r->handler->opts != NULL)
				opt_free(r->handler->opts, r->hconf);
		}
		free(r->hconf);
		free(r->path);
		opt_free(route_table, r);
	}
	free(c->routes);
	free(c->log_level);
	free(c->log_target);
	free(c->file);
	free(c);
}

struct config *
config_load(const char *file, char *err, size_t errlen)
{
	config_t cf;
	struct ctx x = { file, err, errlen, 0, "" };
	struct config *c;
	const config_setting_t *root, *s;
	struct log_conf lc;
	char *dir, *slash;
	int i, n;

	config_init(&cf);
	if ((dir = strdup(file)) != NULL) {
		if ((slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			config_set_include_dir(&cf, *dir ? dir : "/");
		}
		free(dir);
	}
	if (config_read_file(&cf, file) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read the file",
			    file);
		else {
			const char *ef = config_error_file(&cf);
			const char *slash2 = strrchr(file, '/');

			if (ef == NULL || strcmp(ef, file) == 0)
				snprintf(err, errlen, "%s:%d: %s", file,
				    config_error_line(&cf),
				    config_error_text(&cf));
			else if (ef[0] != '/' && slash2 != NULL)
				snprintf(err, errlen, "%.*s/%s:%d: %s",
				    (int)(slash2 - file), file, ef,
				    config_error_line(&cf),
				    config_error_text(&cf));
			else
				snprintf(err, errlen, "%s:%d: %s", ef,
				    config_error_line(&cf),
				    config_error_text(&cf));
		}
		config_destroy(&cf);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	c->file = strdup(file);
	c->refs = 1;
	root = config_root_setting(&cf);
	n = config_setting_length(root);
	for (i = 0; i < n && !x.failed; i++) {
		s = config_setting_get_elem(root, (unsigned)i);
		if (!in_names(top_names, config_setting_name(s)))
			error(&x, s, "unknown setting '%s' (top level has: "
			    "log, listen, limits, routes)",
			    config_setting_name(s));
	}
	opt_defaults(log_table, &lc);
	if (!x.failed && (s = config_lookup(&cf, "log")) != NULL)
		apply_group(&x, s, "log setting", log_table, &lc, NULL, NULL,
		    NULL);
	c->log_level = strdup(log_levels[lc.level]);
	c->log_target = strdup(log_targets[lc.target]);
	opt_defaults(global_limits_table, &c->limits);
	opt_defaults(route_limits_table, &c->limits.route);
	if (!x.failed && (s = config_lookup(&cf, "limits")) != NULL)
		apply_group(&x, s, "limit", global_limits_table, &c->limits,
		    route_limits_table, &c->limits.route, NULL);
	if (!x.failed && c->limits.route.output_low >=
	    c->limits.route.output_high)
		error(&x, s, "output_low_watermark must be below "
		    "output_high_watermark");
	if (!x.failed)
		parse_listen(&x, c, config_lookup(&cf, "listen"));
	if (!x.failed)
		parse_routes(&x, c, config_lookup(&cf, "routes"));
	config_destroy(&cf);
	ws_limits_default(&c->ws);
	c->ws.max_head_bytes = (size_t)c->limits.max_header_bytes;
	c->ws.max_headers = (size_t)c->limits.max_headers;
	if (x.failed) {
		config_free(c);
		return NULL;
	}
	return c;
}

void
config_ref(struct config *c)
{
	c->refs++;
}

void
config_unref(struct config *c)
{
	if (c != NULL && --c->refs == 0)
		config_free(c);
}

const struct route *
config_route(const struct config *c, const char *path, size_t len)
{
	const struct route *best = NULL;
	size_t i, blen = 0, rl;

	for (i = 0; i < c->nroutes; i++) {
		const struct route *r = &c->routes[i];

		rl = strlen(r->path);
		if (!r->prefix) {
			if (rl == len && memcmp(r->path, path, len) == 0)
				return r;
		} else if (rl <= len && memcmp(r->path, path, rl) == 0 &&
		    (best == NULL || rl > blen)) {
			best = r;
			blen = rl;
		}
	}
	return best;
}

static void
table_keys(const char *section, const struct opt *t,
    void (*fn)(const char *, const char *, void *), void *arg)
{
	for (; t != NULL && t->name != NULL; t++)
		fn(section, t->name, arg);
}

void
config_foreach_key(void (*fn)(const char *section, const char *name,
    void *arg), void *arg)
{
	size_t i;

	for (i = 0; top_names[i] != NULL; i++)
		fn("", top_names[i], arg);
	table_keys("log", log_table, fn, arg);
	table_keys("listen", listen_table, fn, arg);
	for (i = 0; listen_names[i] != NULL; i++)
		fn("listen", listen_names[i], arg);
	table_keys("tls", tls_table, fn, arg);
	for (i = 0; tls_names[i] != NULL; i++)
		fn("tls", tls_names[i], arg);
	table_keys("certificates", tls_cert_table, fn, arg);
	table_keys("limits", global_limits_table, fn, arg);
	table_keys("limits", route_limits_table, fn, arg);
	for (i = 0; route_names[i] != NULL; i++)
		fn("routes", route_names[i], arg);
	table_keys("routes", route_table, fn, arg);
	for (i = 0; handlers[i] != NULL; i++)
		table_keys(handlers[i]->name, handlers[i]->opts, fn, arg);
}
