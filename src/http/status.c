/* HTTP status reason phrases and HTTP-date formatting/parsing. */
#include "http/status.h"

#include <errno.h>
#include <string.h>

#include "base/macro.h"

const char *http_status_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 508: return "Loop Detected";
	default: return "Unknown";
	}
}

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

size_t http_date_format(time_t t, char *buf)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	/* Fixed layout: "Www, DD Mmm YYYY HH:MM:SS GMT" */
	memcpy(buf, days[tm.tm_wday], 3);
	buf[3] = ',';
	buf[4] = ' ';
	buf[5] = (char)('0' + tm.tm_mday / 10);
	buf[6] = (char)('0' + tm.tm_mday % 10);
	buf[7] = ' ';
	memcpy(buf + 8, months[tm.tm_mon], 3);
	buf[11] = ' ';
	int y = tm.tm_year + 1900;
	buf[12] = (char)('0' + (y / 1000) % 10);
	buf[13] = (char)('0' + (y / 100) % 10);
	buf[14] = (char)('0' + (y / 10) % 10);
	buf[15] = (char)('0' + y % 10);
	buf[16] = ' ';
	buf[17] = (char)('0' + tm.tm_hour / 10);
	buf[18] = (char)('0' + tm.tm_hour % 10);
	buf[19] = ':';
	buf[20] = (char)('0' + tm.tm_min / 10);
	buf[21] = (char)('0' + tm.tm_min % 10);
	buf[22] = ':';
	buf[23] = (char)('0' + tm.tm_sec / 10);
	buf[24] = (char)('0' + tm.tm_sec % 10);
	memcpy(buf + 25, " GMT", 4);
	buf[29] = '\0';
	return 29;
}

static int month_index(const char *p)
{
	for (int i = 0; i < 12; i++)
		if (memcmp(p, months[i], 3) == 0)
			return i;
	return -1;
}

static int digits(const char *p, int n, int *ret)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		v = v * 10 + (p[i] - '0');
	}
	*ret = v;
	return 0;
}

static int make_time(int y, int mon, int d, int h, int mi, int s, time_t *ret)
{
	if (mon < 0 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970 || y > 9999)
		return -EINVAL;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mon, .tm_mday = d,
			.tm_hour = h, .tm_min = mi, .tm_sec = s};
	*ret = timegm(&tm);
	return 0;
}

int http_date_parse(const char *s, size_t len, time_t *ret)
{
	int d, y, h, mi, sec, mon;
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	if (len == 29 && s[3] == ',' && s[4] == ' ' && s[7] == ' ' && s[11] == ' ' &&
	    s[16] == ' ' && s[19] == ':' && s[22] == ':' && memcmp(s + 25, " GMT", 4) == 0) {
		if (digits(s + 5, 2, &d) || digits(s + 12, 4, &y) || digits(s + 17, 2, &h) ||
		    digits(s + 20, 2, &mi) || digits(s + 23, 2, &sec))
			return -EINVAL;
		mon = month_index(s + 8);
		return make_time(y, mon, d, h, mi, sec, ret);
	}
	/* asctime: "Sun Nov  6 08:49:37 1994" */
	if (len == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' && s[13] == ':' &&
	    s[16] == ':' && s[19] == ' ') {
		char dd[2] = {s[8] == ' ' ? '0' : s[8], s[9]};
		if (digits(dd, 2, &d) || digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
		    digits(s + 17, 2, &sec) || digits(s + 20, 4, &y))
			return -EINVAL;
		mon = month_index(s + 4);
		return make_time(y, mon, d, h, mi, sec, ret);
	}
	/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
	const char *c = memchr(s, ',', len < 12 ? len : 12);
	if (c && (size_t)(s + len - c) == 24 && c[1] == ' ' && c[4] == '-' && c[8] == '-' &&
	    c[11] == ' ' && c[14] == ':' && c[17] == ':' && memcmp(c + 20, " GMT", 4) == 0) {
		if (digits(c + 2, 2, &d) || digits(c + 9, 2, &y) || digits(c + 12, 2, &h) ||
		    digits(c + 15, 2, &mi) || digits(c + 18, 2, &sec))
			return -EINVAL;
		mon = month_index(c + 5);
		/* RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past. */
		y += y < 70 ? 2000 : 1900;
		return make_time(y, mon, d, h, mi, sec, ret);
	}
	return -EINVAL;
}
