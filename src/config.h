/*
 * config.h - the configuration file (libconfig syntax) as plain C structs.
 * Nothing of libconfig is visible outside src/config.c: handlers describe
 * their settings with option tables (struct opt) that config.c applies.
 */
#ifndef WSR_CONFIG_H
#define WSR_CONFIG_H

#include <stddef.h>

#include "ws.h"

enum opt_type {
	OPT_INT,		/* long long */
	OPT_BOOL,		/* int, 0 or 1 */
	OPT_STRING,		/* char *, owned by the struct */
	OPT_ENUM,		/* int, index into choices */
	OPT_STRINGS,		/* struct strlist: an array of strings */
	OPT_MODE		/* long long, from an octal string "0660" */
};

#define OPT_REQUIRED 0x1

/* One setting: a row of a table (tmux options-table style). */
struct opt {
	const char *name;
	enum opt_type type;
	long long min;		/* OPT_INT */
	long long max;
	long long def;		/* OPT_INT, OPT_BOOL, OPT_ENUM (index) */
	const char *sdef;	/* OPT_STRING default; NULL for none */
	const char *const *choices;	/* OPT_ENUM, NULL-terminated */
	size_t off;		/* offset in the struct it fills */
	int flags;
	const char *unit;	/* for messages: "bytes", "seconds", ... */
};

struct strlist {
	char **v;
	size_t n;
};

/* A certificate chain and its key, and the names it serves (SNI). */
struct tls_cert_conf {
	char *certificate;	/* PEM chain, leaf first */
	char *key;		/* PEM private key */
	struct strlist server_names;	/* none: the certificate's names */
	int line;
};

enum { TLS_VERIFY_NONE, TLS_VERIFY_OPTIONAL, TLS_VERIFY_REQUIRE };

/* A listener's "tls" group. */
struct tls_conf {
	char *certificate;	/* the default certificate ... */
	char *key;
	int min_protocol;	/* index: "TLSv1.2", "TLSv1.3" */
	char *ciphers;		/* TLS 1.2, OpenSSL's list syntax */
	char *ciphersuites;	/* TLS 1.3 */
	char *client_ca;	/* verify client certificates against it */
	int verify_client;	/* TLS_VERIFY_* */
	struct tls_cert_conf *certs;	/* [0] is the default */
	size_t ncerts;
	int line;
};

struct listen_conf {
	char *address;		/* NULL for a Unix socket */
	long long port;
	char *path;		/* Unix socket path, or NULL */
	long long mode;		/* Unix socket permissions */
	long long backlog;
	struct tls_conf *tls;	/* NULL: cleartext */
	int line;
};

/* Limits that a route may override. */
struct route_limits {
	long long max_message_size;
	long long max_frame_size;
	long long idle_timeout;		/* seconds, 0 = none */
	long long ping_interval;	/* seconds, 0 = none */
	long long pong_timeout;		/* seconds */
	long long output_high;		/* bytes: backpressure watermarks */
	long long output_low;
};

struct global_limits {
	long long max_connections;
	long long max_header_bytes;
	long long max_headers;
	long long handshake_timeout;	/* seconds */
	long long close_timeout;	/* seconds */
	long long shutdown_timeout;	/* seconds */
	struct route_limits route;	/* defaults for every route */
};

struct handler;

struct route {
	char *path;		/* without a trailing "*" */
	int prefix;		/* the path ended in "*" */
	const struct handler *handler;
	void *hconf;		/* the handler's options (its opt table) */
	struct route_limits limits;
	struct ws_limits ws;	/* what src/ws is given */
	struct strlist subprotocols;	/* spoken here, none: no choice */
	int require_subprotocol;	/* refuse clients offering none */
	struct strlist origins;		/* allowed; none: any */
	int allow_missing_origin;	/* requests without Origin */
	int compression;		/* permessage-deflate */
	struct {
		long long window_bits;	/* ours (server_max_window_bits) */
		long long client_window_bits;
		long long mem_level;
		long long level;
		long long min_size;	/* bytes */
		int no_context_takeover;
		int client_no_context_takeover;
	} dfl;
	struct ws_deflate deflate;	/* what src/ws is given */
	int line;
};

struct config {
	char *file;
	int refs;		/* connections holding it, and the daemon */
	char *log_level;
	char *log_target;	/* "auto", "stderr", "syslog" */
	struct listen_conf *listeners;
	size_t nlisteners;
	struct global_limits limits;
	struct route *routes;
	size_t nroutes;
	struct ws_limits ws;	/* for handshakes, before a route is known */
};

/*
 * Read and check a file.  On failure returns NULL and puts
 * "file:line: message" in err.
 */
struct config *config_load(const char *file, char *err, size_t errlen);
void config_ref(struct config *c);
void config_unref(struct config *c);

/* The route for a request path (query already removed), or NULL. */
const struct route *config_route(const struct config *c, const char *path,
    size_t len);

/* Apply the defaults of a table to a struct. */
void opt_defaults(const struct opt *table, void *base);
void opt_free(const struct opt *table, void *base);

/*
 * Every setting the parser accepts, as (section, name): for the test that
 * checks wsrelayd.conf(5) documents them all.
 */
void config_foreach_key(void (*fn)(const char *section, const char *name,
    void *arg), void *arg);

#endif /* WSR_CONFIG_H */
