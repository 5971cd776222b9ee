/*
 * url.c - ws:// and wss:// URLs (RFC 6455 section 3).
 *
 *	ws-URI  = "ws:"  "//" host [ ":" port ] path [ "?" query ]
 *	wss-URI = "wss:" "//" host [ ":" port ] path [ "?" query ]
 *
 * The scheme is case-insensitive.  A host is a name, an IPv4 address or
 * an IPv6 address in brackets.  Userinfo and fragments are refused: a
 * fragment has no meaning in a WebSocket URI (section 3) and userinfo has
 * nowhere to go in the handshake.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/url.h"

static int
fail(char *err, size_t errlen, const char *msg, const char *s)
{
	snprintf(err, errlen, "\"%s\": %s", s, msg);
	return -1;
}

/* A reg-name of letters, digits, '-', '.' and '_'. */
static int
name_ok(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '-' &&
		    p[i] != '.' && p[i] != '_')
			return 0;
	return 1;
}

/* Path and query: printable US-ASCII without spaces. */
static int
target_ok(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

int
ws_url_parse(const char *s, struct ws_url *u, char *err, size_t errlen)
{
	const char *p, *host, *hend, *port = NULL, *end;
	size_t hlen, plen = 0, i;
	unsigned long n;
	struct in6_addr a6;
	int v6 = 0;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "ws://", 5) == 0)
		p = s + 5;
	else if (strncasecmp(s, "wss://", 6) == 0) {
		u->tls = 1;
		p = s + 6;
	} else
		return fail(err, errlen, "not a WebSocket URL (it must "
		    "start with ws:// or wss://)", s);
	if (strchr(s, '#') != NULL)
		return fail(err, errlen, "a WebSocket URL cannot have a "
		    "fragment ('#')", s);

	/* The authority ends at the path or the query. */
	end = p + strcspn(p, "/?");
	if (memchr(p, '@', (size_t)(end - p)) != NULL)
		return fail(err, errlen, "user information ('user@') is "
		    "not supported", s);
	if (*p == '[') {
		host = p + 1;
		if ((hend = memchr(host, ']', (size_t)(end - host))) == NULL)
			return fail(err, errlen, "missing ']' after an IPv6 "
			    "address", s);
		v6 = 1;
		p = hend + 1;
		if (p != end && *p != ':')
			return fail(err, errlen, "unexpected characters "
			    "after ']'", s);
	} else {
		host = p;
		hend = memchr(p, ':', (size_t)(end - p));
		if (hend == NULL)
			hend = end;
		p = hend;
	}
	hlen = (size_t)(hend - host);
	if (hlen == 0)
		return fail(err, errlen, "no host", s);
	if (hlen >= sizeof(u->host))
		return fail(err, errlen, "host name too long", s);
	memcpy(u->host, host, hlen);
	u->host[hlen] = '\0';
	if (v6) {
		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			return fail(err, errlen, "invalid IPv6 address", s);
	} else if (!name_ok(host, hlen))
		return fail(err, errlen, "invalid character in the host", s);

	if (p != end) {		/* *p == ':' */
		port = p + 1;
		plen = (size_t)(end - port);
		if (plen == 0)
			return fail(err, errlen, "missing port after ':'", s);
		for (i = 0; i < plen; i++)
			if (!isdigit((unsigned char)port[i]))
				return fail(err, errlen, "the port must be "
				    "a number from 1 to 65535", s);
		n = plen > 5 ? 0 : strtoul(port, NULL, 10);
		if (n < 1 || n > 65535)
			return fail(err, errlen, "the port must be a "
			    "number from 1 to 65535", s);
		snprintf(u->port, sizeof(u->port), "%lu", n);
	} else
		snprintf(u->port, sizeof(u->port), "%s", u->tls ? "443" : "80");

	/* The Host header: no port when it is the scheme's default. */
	if (strcmp(u->port, u->tls ? "443" : "80") == 0)
		snprintf(u->hostport, sizeof(u->hostport), "%s%s%s",
		    v6 ? "[" : "", u->host, v6 ? "]" : "");
	else
		snprintf(u->hostport, sizeof(u->hostport), "%s%s%s:%s",
		    v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);

	/* "ws://host" and "ws://host?q" have the path "/". */
	i = *end != '/';
	if (i + strlen(end) >= sizeof(u->target))
		return fail(err, errlen, "path too long", s);
	u->target[0] = '/';
	memcpy(u->target + i, end, strlen(end) + 1);
	if (!target_ok(u->target))
		return fail(err, errlen, "invalid character in the path (use "
		    "%XX escapes)", s);
	return 0;
}
