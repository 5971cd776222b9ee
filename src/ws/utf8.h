/*
 * utf8.h - incremental UTF-8 validation (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), with an ASCII fast path.
 */
#ifndef WS_UTF8_H
#define WS_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define WS_UTF8_ACCEPT 0	/* at a character boundary */
#define WS_UTF8_REJECT 1	/* invalid; stays so */

/*
 * Continue validation from state over p[0..n).  Returns the new state:
 * WS_UTF8_ACCEPT, WS_UTF8_REJECT, or another value meaning "inside a
 * sequence" (valid so far).  A whole text is valid when the final state is
 * WS_UTF8_ACCEPT.  Stops at the first invalid byte.
 */
uint32_t ws_utf8_validate(uint32_t state, const uint8_t *p, size_t n);

/* ws_mask() and ws_utf8_validate() in one pass over p. */
uint32_t ws_unmask_utf8(uint8_t *p, size_t n, const uint8_t key[4],
    size_t offset, uint32_t state);

#endif /* WS_UTF8_H */
