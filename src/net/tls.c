/*
 * tls.c - OpenSSL contexts for listeners and clients.
 *
 * A listener with several certificates has one SSL_CTX per certificate,
 * all with the same settings.  Connections start on the first (the
 * default); the SNI callback moves a connection to the context whose
 * names match the name the client asked for: an exact name first, then
 * a "*.domain" wildcard (one label), else the default stays.  A
 * certificate's names are its server_names, or the DNS names of its
 * subjectAltName, or its CN when it has none.
 *
 * The table of names hangs off the default context as ex_data and is
 * freed with it: a reload makes new contexts for new connections while a
 * handshake in progress keeps the old ones (each SSL holds a reference).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "net/tls.h"

/* The ALPN protocol spoken: RFC 6455 runs over HTTP/1.1. */
/* TLS 1.3 suites when none are configured: OpenSSL's three, AES-128 first
   (the cheapest with AES-NI, as strong as a WebSocket needs); the server's
   order is the one used. */
#define DEFAULT_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
    "TLS_CHACHA20_POLY1305_SHA256"
#define ALPN_HTTP11 "http/1.1"

struct sni_name {
	char *name;		/* lower case; "*.domain" for a wildcard */
	SSL_CTX *ctx;
};

struct sni {
	struct sni_name *v;
	size_t n;
	SSL_CTX **ctxs;		/* the contexts after the default, owned */
	size_t nctxs;
};

static int sni_index = -1;

const char *
tls_error(SSL *ssl, char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();
	const char *r;
	long v;

	if (ssl != NULL && (v = SSL_get_verify_result(ssl)) != X509_V_OK)
		snprintf(buf, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
	else if (e != 0) {
		if (ERR_SYSTEM_ERROR(e))
			r = strerror(ERR_GET_REASON(e));
		else
			r = ERR_reason_error_string(e);
		snprintf(buf, len, "%s", r != NULL ? r : "unknown error");
	} else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
	return buf;
}

ssize_t
tls_stalled(SSL *ssl, int writing, int *rw)
{
	int err = errno;

	switch (SSL_get_error(ssl, 0)) {
	case SSL_ERROR_WANT_READ:
		if (writing)
			*rw |= TLS_WRITE_WANTS_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		if (!writing)
			*rw |= TLS_READ_WANTS_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		if (!writing)
			return 0;
		errno = EPIPE;
		return -1;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		errno = err != 0 ? err : ECONNRESET;
		return -1;
	default:
		errno = EPROTO;
		return -1;
	}
}

static void
sni_free(struct sni *sni)
{
	size_t i;

	if (sni == NULL)
		return;
	for (i = 0; i < sni->n; i++)
		free(sni->v[i].name);
	for (i = 0; i < sni->nctxs; i++)
		SSL_CTX_free(sni->ctxs[i]);
	free(sni->v);
	free(sni->ctxs);
	free(sni);
}

static void
sni_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	sni_free(ptr);
}

static int
sni_add(struct sni *sni, const char *name, size_t len, SSL_CTX *ctx)
{
	struct sni_name *v;
	size_t i;

	if (len == 0 || memchr(name, '\0', len) != NULL)
		return 0;	/* nothing a client could ask for */
	if ((v = reallocarray(sni->v, sni->n + 1, sizeof(*v))) == NULL)
		return -1;
	sni->v = v;
	if ((v[sni->n].name = strndup(name, len)) == NULL)
		return -1;
	for (i = 0; i < len; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			v[sni->n].name[i] = (char)(name[i] - 'A' + 'a');
	v[sni->n].ctx = ctx;
	sni->n++;
	return 0;
}

/* The names ctx's certificate serves: server_names, else its own. */
static int
sni_add_cert(struct sni *sni, SSL_CTX *ctx, const struct tls_cert_conf *tc)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	GENERAL_NAMES *gens;
	X509_NAME_ENTRY *cn;
	ASN1_STRING *d;
	size_t i;
	int j, any = 0, k;

	if (tc->server_names.n > 0) {
		for (i = 0; i < tc->server_names.n; i++)
			if (sni_add(sni, tc->server_names.v[i],
			    strlen(tc->server_names.v[i]), ctx) != 0)
				return -1;
		return 0;
	}
	if (x == NULL)
		return 0;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (j = 0; gens != NULL && j < sk_GENERAL_NAME_num(gens); j++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, j);

		if (g->type != GEN_DNS)
			continue;
		any = 1;
		if (sni_add(sni, (const char *)ASN1_STRING_get0_data(
		    g->d.dNSName), (size_t)ASN1_STRING_length(g->d.dNSName),
		    ctx) != 0) {
			GENERAL_NAMES_free(gens);
			return -1;
		}
	}
	GENERAL_NAMES_free(gens);
	if (any)
		return 0;
	k = X509_NAME_get_index_by_NID(X509_get_subject_name(x),
	    NID_commonName, -1);
	if (k < 0)
		return 0;
	cn = X509_NAME_get_entry(X509_get_subject_name(x), k);
	d = X509_NAME_ENTRY_get_data(cn);
	return sni_add(sni, (const char *)ASN1_STRING_get0_data(d),
	    (size_t)ASN1_STRING_length(d), ctx);
}

static SSL_CTX *
sni_find(const struct sni *sni, const char *name)
{
	const char *dot = strchr(name, '.');
	size_t i;

	for (i = 0; i < sni->n; i++)
		if (strcasecmp(sni->v[i].name, name) == 0)
			return sni->v[i].ctx;
	if (dot == NULL || dot == name)
		return NULL;
	for (i = 0; i < sni->n; i++)
		if (sni->v[i].name[0] == '*' &&
		    strcasecmp(sni->v[i].name + 1, dot) == 0)
			return sni->v[i].ctx;
	return NULL;
}

static int
on_servername(SSL *ssl, int *alert, void *arg)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	SSL_CTX *ctx;

	(void)alert;
	if (name == NULL || arg == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	ctx = sni_find(arg, name);
	if (ctx != NULL && ctx != SSL_get_SSL_CTX(ssl))
		(void)SSL_set_SSL_CTX(ssl, ctx);
	return SSL_TLSEXT_ERR_OK;
}

/*
 * ALPN: "http/1.1" when the client offers it.  A client that offers only
 * other protocols (say "h2" alone) gets the no_application_protocol
 * alert, as RFC 7301 section 3.2 asks: it could not speak the upgrade.
 */
static int
on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i, n;

	(void)ssl;
	(void)arg;
	for (i = 0; i < inlen; i += 1 + n) {
		n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (n == sizeof(ALPN_HTTP11) - 1 &&
		    memcmp(in + i + 1, ALPN_HTTP11, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* "file:line: what \"name\": reason" into err; always -1. */
static int
fail(char *err, size_t errlen, const char *file, int line, const char *what,
    const char *name)
{
	char why[256];

	tls_error(NULL, why, sizeof(why));
	snprintf(err, errlen, "%s:%d: %s \"%s\": %s", file, line, what, name,
	    why);
	return -1;
}

/* A file OpenSSL will read: say clearly when it cannot be opened. */
static int
readable(char *err, size_t errlen, const char *file, int line,
    const char *what, const char *name)
{
	FILE *f;

	if ((f = fopen(name, "r")) == NULL) {
		snprintf(err, errlen, "%s:%d: %s \"%s\": %s", file, line, what,
		    name, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

static SSL_CTX *
server_ctx(const struct tls_conf *t, const struct tls_cert_conf *tc,
    const char *file, char *err, size_t errlen)
{
	static const unsigned char sid[] = "wsrelayd";
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		fail(err, errlen, file, t->line, "tls", "context");
		return NULL;
	}
	(void)SSL_CTX_set_min_proto_version(ctx, t->min_protocol == 1 ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* The pump (server.c) writes at most one record per SSL_write, may
	   retry from another copy of the same bytes, and holds no buffer
	   for an idle connection. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* Read what the socket holds, up to four full records per read(),
	   not a record at a time. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, 4 * (SSL3_RT_MAX_PLAIN_LENGTH +
	    SSL3_RT_MAX_ENCRYPTED_OVERHEAD));
	(void)SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	if (t->ciphers != NULL && !SSL_CTX_set_cipher_list(ctx, t->ciphers)) {
		fail(err, errlen, file, t->line, "ciphers", t->ciphers);
		goto bad;
	}
	if (!SSL_CTX_set_ciphersuites(ctx, t->ciphersuites != NULL ?
	    t->ciphersuites : DEFAULT_SUITES)) {
		fail(err, errlen, file, t->line, "ciphersuites",
		    t->ciphersuites != NULL ? t->ciphersuites : DEFAULT_SUITES);
		goto bad;
	}
	if (readable(err, errlen, file, tc->line, "certificate",
	    tc->certificate) != 0)
		goto bad;
	if (!SSL_CTX_use_certificate_chain_file(ctx, tc->certificate)) {
		fail(err, errlen, file, tc->line, "certificate",
		    tc->certificate);
		goto bad;
	}
	if (readable(err, errlen, file, tc->line, "key", tc->key) != 0)
		goto bad;
	if (!SSL_CTX_use_PrivateKey_file(ctx, tc->key, SSL_FILETYPE_PEM)) {
		fail(err, errlen, file, tc->line, "key", tc->key);
		goto bad;
	}
	if (!SSL_CTX_check_private_key(ctx)) {
		fail(err, errlen, file, tc->line, "key", tc->key);
		goto bad;
	}
	if (t->client_ca != NULL) {
		STACK_OF(X509_NAME) *names;

		if (readable(err, errlen, file, t->line, "client_ca",
		    t->client_ca) != 0)
			goto bad;
		if (!SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) ||
		    (names = SSL_load_client_CA_file(t->client_ca)) == NULL) {
			fail(err, errlen, file, t->line, "client_ca",
			    t->client_ca);
			goto bad;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, t->verify_client == TLS_VERIFY_REQUIRE ?
		    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT :
		    t->verify_client == TLS_VERIFY_OPTIONAL ? SSL_VERIFY_PEER :
		    SSL_VERIFY_NONE, NULL);
	}
	SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
	return ctx;
bad:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

SSL_CTX *
tls_server_ctx(const struct tls_conf *t, const char *file, char *err,
    size_t errlen)
{
	struct sni *sni = NULL;
	SSL_CTX *def, *ctx;
	size_t i;

	if (sni_index < 0 && (sni_index = SSL_CTX_get_ex_new_index(0, NULL,
	    NULL, NULL, sni_ex_free)) < 0) {
		snprintf(err, errlen, "%s:%d: cannot set up TLS", file, t->line);
		return NULL;
	}
	if ((def = server_ctx(t, &t->certs[0], file, err, errlen)) == NULL)
		return NULL;
	if (t->ncerts == 1)
		return def;
	if ((sni = calloc(1, sizeof(*sni))) == NULL ||
	    (sni->ctxs = calloc(t->ncerts, sizeof(*sni->ctxs))) == NULL ||
	    !SSL_CTX_set_ex_data(def, sni_index, sni))
		goto nomem;
	if (sni_add_cert(sni, def, &t->certs[0]) != 0)
		goto nomem;
	for (i = 1; i < t->ncerts; i++) {
		ctx = server_ctx(t, &t->certs[i], file, err, errlen);
		if (ctx == NULL)
			goto out;
		sni->ctxs[sni->nctxs++] = ctx;
		if (sni_add_cert(sni, ctx, &t->certs[i]) != 0)
			goto nomem;
	}
	SSL_CTX_set_tlsext_servername_callback(def, on_servername);
	SSL_CTX_set_tlsext_servername_arg(def, sni);
	return def;
nomem:
	snprintf(err, errlen, "%s:%d: out of memory", file, t->line);
out:
	if (SSL_CTX_get_ex_data(def, sni_index) == NULL)
		sni_free(sni);		/* else freed with def */
	SSL_CTX_free(def);
	return NULL;
}

int
tls_check_config(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	size_t i;

	for (i = 0; i < cfg->nlisteners; i++) {
		if (cfg->listeners[i].tls == NULL)
			continue;
		ctx = tls_server_ctx(cfg->listeners[i].tls, cfg->file, err,
		    errlen);
		if (ctx == NULL)
			return -1;
		SSL_CTX_free(ctx);
	}
	return 0;
}

SSL_CTX *
tls_client_ctx(const char *cafile, int verify, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char why[256];
	FILE *f;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "TLS: %s", tls_error(NULL, why,
		    sizeof(why)));
		return NULL;
	}
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (cafile != NULL) {
		if ((f = fopen(cafile, "r")) == NULL) {
			snprintf(err, errlen, "\"%s\": %s", cafile,
			    strerror(errno));
			goto bad;
		}
		fclose(f);
		if (!SSL_CTX_load_verify_locations(ctx, cafile, NULL)) {
			snprintf(err, errlen, "\"%s\": %s", cafile,
			    tls_error(NULL, why, sizeof(why)));
			goto bad;
		}
	} else if (verify && !SSL_CTX_set_default_verify_paths(ctx)) {
		snprintf(err, errlen, "the system's CA store: %s",
		    tls_error(NULL, why, sizeof(why)));
		goto bad;
	}
	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	return ctx;
bad:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_client_name(SSL *ssl, const char *name, int verify)
{
	struct in6_addr a;
	int ip;

	if (*name == '\0')
		return verify ? -1 : 0;
	ip = inet_pton(AF_INET, name, &a) == 1 ||
	    inet_pton(AF_INET6, name, &a) == 1;
	/* RFC 6066 section 3: no IP addresses in SNI. */
	if (!ip && !SSL_set_tlsext_host_name(ssl, name))
		return -1;
	if (!verify)
		return 0;
	if (ip)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    name) ? 0 : -1;
	return SSL_set1_host(ssl, name) ? 0 : -1;
}
