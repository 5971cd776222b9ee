/*
 * url.h - ws:// and wss:// URLs, for the client and the load generator.
 */
#ifndef WSR_URL_H
#define WSR_URL_H

#include <stddef.h>

struct ws_url {
	int tls;		/* wss:// */
	char host[256];		/* without brackets for IPv6 */
	char port[8];		/* "80" / "443" when not given */
	char hostport[272];	/* the Host header value ("[::1]:8080",
				   no port when it is the default) */
	char target[2048];	/* path and query, "/" when empty */
};

/* Parse s; 0, or -1 with a message in err. */
int ws_url_parse(const char *s, struct ws_url *u, char *err, size_t errlen);

#endif /* WSR_URL_H */
