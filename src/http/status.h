/* HTTP status codes: reason phrases and the dates HTTP writes (IMF-fixdate). Pure. */
#ifndef FERRY_HTTP_STATUS_H
#define FERRY_HTTP_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* "OK", "Not Found", ...; "Unknown" for codes we never send. */
const char *http_status_reason(int status);

/* Format t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); buf needs 30 bytes.
 * Returns the length (29). */
size_t http_date_format(time_t t, char *buf);

/* Parse an HTTP-date (IMF-fixdate; the obsolete RFC 850 and asctime forms too, as RFC 9110
 * §5.6.7 requires recipients to). Returns 0 and *ret, or -EINVAL. */
int http_date_parse(const char *s, size_t len, time_t *ret);

#endif
