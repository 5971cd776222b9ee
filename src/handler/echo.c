/*
 * echo.c - every message back to its sender: same type, same bytes, in
 * order.  The network layer stops reading a sender whose own output is
 * above the route's high watermark, so echo needs no state.
 */
#include "handler/handler.h"
#include "net/session.h"

static int
echo_start(struct session *s)
{
	(void)s;
	return HANDLER_ACCEPT;
}

static void
echo_message(struct session *s, int binary, const uint8_t *data, size_t len)
{
	/* Text was validated on the way in. */
	(void)session_send(s, binary, data, len, 1);
}

const struct handler handler_echo = {
	"echo", NULL, 0, NULL, NULL,
	echo_start, echo_message, NULL, NULL
};
