/* Socket addresses: parsing the config/CLI forms listed in addr.h, formatting them back so that
 * parse(format(a)) == a, comparing them with what the kernel reports for inherited sockets, and
 * opening listeners for them. Parsing is pure (no I/O, no allocation, no DNS). */
#include "net/addr.h"

#include "base/macro.h"
#include "base/str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* sun_path holds 108 bytes: a path gets 107 plus its NUL; an abstract name gets the 107 after
 * the leading NUL (it carries no terminator, its length is the sockaddr's). */
#define UNIX_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Decimal digits only, no sign, no leading zero (so "080" is not mistaken for octal and every
 * number has one spelling), value <= max. */
static int parse_dec(const char *s, size_t n, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || (s[0] == '0' && n > 1))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int parse_port(const char *s, size_t n, uint16_t *ret)
{
	uint64_t v;
	int r = parse_dec(s, n, 65535, &v);
	if (r < 0)
		return r;
	if (v == 0) /* a listener needs a fixed port: "pick one" would be useless in a config */
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

static void set_in4(struct net_addr *a, int type, const struct in_addr *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;
	a->family = AF_INET;
	a->type = type;
	a->len = sizeof(*sin);
	sin->sin_family = AF_INET;
	sin->sin_addr = *ip;
	sin->sin_port = htons(port);
}

static void set_in6(struct net_addr *a, int type, const struct in6_addr *ip, uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;
	a->family = AF_INET6;
	a->type = type;
	a->len = sizeof(*sin6);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = *ip;
	sin6->sin6_port = htons(port);
}

/* HOST:PORT, [V6]:PORT, :PORT, PORT (s is NUL-terminated, non-empty). */
static int parse_inet(const char *s, int type, struct net_addr *a)
{
	size_t n = strlen(s);
	uint16_t port;
	int r;

	if (s[0] == '[') {
		/* Zones ("%eth0") are refused: listeners bind to link-local addresses rarely enough
		 * that the scope-id plumbing is not worth carrying. inet_pton rejects '%' anyway. */
		const char *close = memchr(s, ']', n);
		char host[INET6_ADDRSTRLEN];
		struct in6_addr ip6;
		size_t hn;

		if (!close || close[1] != ':')
			return -EINVAL;
		hn = (size_t)(close - (s + 1));
		if (hn == 0 || hn >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hn);
		host[hn] = '\0';
		if (inet_pton(AF_INET6, host, &ip6) != 1)
			return -EINVAL;
		r = parse_port(close + 2, strlen(close + 2), &port);
		if (r < 0)
			return r;
		set_in6(a, type, &ip6, port);
		return 0;
	}

	const char *colon = strrchr(s, ':');
	if (!colon) {
		/* Bare PORT. */
		r = parse_port(s, n, &port);
		if (r < 0)
			return r;
		set_in6(a, type, &in6addr_any, port);
		return 0;
	}

	size_t hn = (size_t)(colon - s);
	r = parse_port(colon + 1, strlen(colon + 1), &port);
	if (r < 0)
		return r;

	if (hn == 0 || str_eq(s, hn, "*")) {
		set_in6(a, type, &in6addr_any, port);
		return 0;
	}
	if (str_ieq(s, hn, "localhost")) {
		struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)};
		set_in4(a, type, &lo, port);
		return 0;
	}

	char host[INET_ADDRSTRLEN];
	struct in_addr ip4;
	if (hn >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hn);
	host[hn] = '\0';
	if (inet_pton(AF_INET, host, &ip4) != 1)
		return -EINVAL;
	set_in4(a, type, &ip4, port);
	return 0;
}

/* "/path" or "@name" after "unix:" / "unixgram:". */
static int parse_unix(const char *s, int type, struct net_addr *a)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->sa;
	size_t n = strlen(s);
	bool abstract = s[0] == '@';

	if (s[0] != '/' && !abstract)
		return -EINVAL;
	/* Control characters in a socket name are always a mistake (and would garble logs). */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return -EINVAL;

	a->family = AF_UNIX;
	a->type = type;
	sun->sun_family = AF_UNIX;
	if (abstract) {
		size_t nn = n - 1;
		if (nn == 0 || nn > UNIX_PATH_MAX)
			return -EINVAL;
		sun->sun_path[0] = '\0';
		memcpy(sun->sun_path + 1, s + 1, nn);
		/* No trailing NUL in the length: the kernel would make it part of the name. */
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + nn);
	} else {
		if (n > UNIX_PATH_MAX)
			return -EINVAL;
		memcpy(sun->sun_path, s, n);
		sun->sun_path[n] = '\0';
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

/* "CID:PORT" after "vsock:"; CID -1 means VMADDR_CID_ANY. */
static int parse_vsock(const char *s, struct net_addr *a)
{
	struct sockaddr_vm *svm = (struct sockaddr_vm *)&a->sa;
	const char *colon = strchr(s, ':');
	uint64_t cid, port;
	int r;

	if (!colon)
		return -EINVAL;
	if (str_eq(s, (size_t)(colon - s), "-1"))
		cid = VMADDR_CID_ANY;
	else {
		r = parse_dec(s, (size_t)(colon - s), UINT32_MAX, &cid);
		if (r < 0)
			return r;
	}
	r = parse_dec(colon + 1, strlen(colon + 1), UINT32_MAX, &port);
	if (r < 0)
		return r;

	a->family = AF_VSOCK;
	a->type = SOCK_STREAM;
	a->len = sizeof(*svm);
	svm->svm_family = AF_VSOCK;
	svm->svm_cid = (unsigned)cid;
	svm->svm_port = (unsigned)port;
	return 0;
}

int net_addr_parse(const char *s, struct net_addr *ret)
{
	struct net_addr a;
	size_t n;
	int r;

	if (!s)
		return -EINVAL;
	n = strlen(s);
	if (n == 0 || is_space(s[0]) || is_space(s[n - 1]))
		return -EINVAL;

	/* Zero everything so that two parses of equal input compare equal byte for byte. */
	memset(&a, 0, sizeof(a));
	if (str_startswith(s, "unix:"))
		r = parse_unix(s + STRLEN("unix:"), SOCK_STREAM, &a);
	else if (str_startswith(s, "unixgram:"))
		r = parse_unix(s + STRLEN("unixgram:"), SOCK_DGRAM, &a);
	else if (str_startswith(s, "vsock:"))
		r = parse_vsock(s + STRLEN("vsock:"), &a);
	else if (str_startswith(s, "udp:"))
		r = s[STRLEN("udp:")] ? parse_inet(s + STRLEN("udp:"), SOCK_DGRAM, &a) : -EINVAL;
	else
		r = parse_inet(s, SOCK_STREAM, &a);
	if (r < 0)
		return r;

	*ret = a;
	return 0;
}

/* The name inside a sockaddr_un as (bytes, length), and whether it is abstract or unnamed.
 * getsockname() may or may not count a path's trailing NUL; for paths we stop at the first NUL,
 * abstract names are taken exactly as long as the kernel says. */
static void unix_name(const struct sockaddr *sa, socklen_t len, const char **ret_p, size_t *ret_n,
		      bool *ret_abstract)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	size_t n = len > off ? MIN((size_t)len - off, sizeof(sun->sun_path)) : 0;

	if (n > 0 && sun->sun_path[0] == '\0') {
		*ret_p = sun->sun_path + 1;
		*ret_n = n - 1;
		*ret_abstract = true;
		return;
	}
	*ret_p = sun->sun_path;
	*ret_n = strnlen(sun->sun_path, n);
	*ret_abstract = false;
}

static bool sa_len_ok(int family, socklen_t len)
{
	switch (family) {
	case AF_INET:
		return len >= sizeof(struct sockaddr_in);
	case AF_INET6:
		return len >= sizeof(struct sockaddr_in6);
	case AF_UNIX:
		return len >= sizeof(sa_family_t) && len <= sizeof(struct sockaddr_un);
	case AF_VSOCK:
		return len >= sizeof(struct sockaddr_vm);
	default:
		return false;
	}
}

char *net_addr_format(const struct net_addr *a, char *buf, size_t size)
{
	const char *udp = a->type == SOCK_DGRAM ? "udp:" : "";
	char host[INET6_ADDRSTRLEN];

	if (size == 0)
		return buf;
	if (!sa_len_ok(a->family, a->len) || a->sa.ss_family != a->family) {
		snprintf(buf, size, "(family %d)", a->family);
		return buf;
	}

	switch (a->family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s%s:%u", udp, host, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "%s[%s]:%u", udp, host, ntohs(sin6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const char *kind = a->type == SOCK_DGRAM ? "unixgram:" : "unix:";
		const char *p;
		size_t n, w;
		bool abstract;

		unix_name((const struct sockaddr *)&a->sa, a->len, &p, &n, &abstract);
		if (!abstract && n == 0) {
			snprintf(buf, size, "%s(unnamed)", kind);
			break;
		}
		w = (size_t)snprintf(buf, size, "%s%s", kind, abstract ? "@" : "");
		/* Copy by hand: abstract names may hold NUL bytes, shown as '@' the way ss(8) does. */
		for (size_t i = 0; i < n && w + 1 < size; i++, w++)
			buf[w] = p[i] == '\0' ? '@' : p[i];
		if (w < size)
			buf[w] = '\0';
		break;
	}
	case AF_VSOCK: {
		const struct sockaddr_vm *svm = (const struct sockaddr_vm *)&a->sa;
		snprintf(buf, size, "vsock:%u:%u", svm->svm_cid, svm->svm_port);
		break;
	}
	}
	return buf;
}

bool net_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
	if (a->family != b->family || a->type != b->type || !sa_len_ok(a->family, a->len) ||
	    !sa_len_ok(b->family, b->len))
		return false;

	switch (a->family) {
	case AF_INET: {
		const struct sockaddr_in *x = (const struct sockaddr_in *)&a->sa;
		const struct sockaddr_in *y = (const struct sockaddr_in *)&b->sa;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	case AF_INET6: {
		/* flowinfo and scope id are not part of what a listener is bound to here */
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->sa;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->sa;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	case AF_UNIX: {
		const char *p, *q;
		size_t pn, qn;
		bool pa, qa;
		unix_name((const struct sockaddr *)&a->sa, a->len, &p, &pn, &pa);
		unix_name((const struct sockaddr *)&b->sa, b->len, &q, &qn, &qa);
		return pa == qa && pn == qn && memcmp(p, q, pn) == 0;
	}
	case AF_VSOCK: {
		const struct sockaddr_vm *x = (const struct sockaddr_vm *)&a->sa;
		const struct sockaddr_vm *y = (const struct sockaddr_vm *)&b->sa;
		return x->svm_cid == y->svm_cid && x->svm_port == y->svm_port;
	}
	}
	return false;
}

char *net_addr_host(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	if (size == 0)
		return buf;
	if (!sa || len < sizeof(sa_family_t) || !sa_len_ok(sa->sa_family, len)) {
		snprintf(buf, size, "?");
		return buf;
	}

	switch (sa->sa_family) {
	case AF_INET:
		if (!inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
			       (socklen_t)MIN(size, (size_t)INT32_MAX)))
			snprintf(buf, size, "?");
		break;
	case AF_INET6: {
		const struct in6_addr *ip6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		const char *r;
		/* IPv4 clients of a dual-stack listener arrive as ::ffff:a.b.c.d; log them as v4. */
		if (IN6_IS_ADDR_V4MAPPED(ip6))
			r = inet_ntop(AF_INET, &ip6->s6_addr[12], buf,
				      (socklen_t)MIN(size, (size_t)INT32_MAX));
		else
			r = inet_ntop(AF_INET6, ip6, buf, (socklen_t)MIN(size, (size_t)INT32_MAX));
		if (!r)
			snprintf(buf, size, "?");
		break;
	}
	case AF_UNIX:
		snprintf(buf, size, "unix");
		break;
	case AF_VSOCK:
		snprintf(buf, size, "vsock:%u", ((const struct sockaddr_vm *)sa)->svm_cid);
		break;
	}
	return buf;
}

int net_sock_info(int fd, struct net_addr *ret_local, bool *ret_listening)
{
	struct net_addr a;
	int type, domain, acc;
	socklen_t l;

	l = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
		return -errno;
	l = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0)
		return -errno;
	l = sizeof(acc);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0)
		return -errno;

	memset(&a, 0, sizeof(a));
	a.len = sizeof(a.sa);
	if (getsockname(fd, (struct sockaddr *)&a.sa, &a.len) < 0)
		return -errno;
	a.family = domain;
	a.type = type;

	if (ret_local)
		*ret_local = a;
	if (ret_listening)
		*ret_listening = acc != 0;
	return 0;
}

static bool is_in6_any(const struct net_addr *a)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
	return a->family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/* Remove a socket file left behind by an earlier run, but never anything else that happens to
 * sit at the path: a config typo must not delete a regular file. */
static int unlink_stale_socket(const struct net_addr *a)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->sa;
	char path[sizeof(sun->sun_path) + 1];
	const char *p;
	size_t n;
	bool abstract;
	struct stat st;

	unix_name((const struct sockaddr *)&a->sa, a->len, &p, &n, &abstract);
	if (abstract || n == 0)
		return 0;
	memcpy(path, p, n);
	path[n] = '\0';
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return 0; /* bind() will then fail with EADDRINUSE, which says it well enough */
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int net_listen(const struct net_addr *a, int backlog)
{
	int fd, r, one = 1, zero = 0;

	if (!sa_len_ok(a->family, a->len) || a->sa.ss_family != a->family ||
	    a->len > sizeof(a->sa) || (a->type != SOCK_STREAM && a->type != SOCK_DGRAM))
		return -EINVAL;

	fd = socket(a->family, a->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;

	/* SO_REUSEADDR only for TCP, where it lets a restart bind despite TIME_WAIT; on UDP it
	 * would let two processes share one port silently. */
	if ((a->family == AF_INET || a->family == AF_INET6) && a->type == SOCK_STREAM &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail_errno;
	/* "*" means both families whatever net.ipv6.bindv6only says. */
	if (is_in6_any(a) && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
		goto fail_errno;
	if (a->family == AF_UNIX) {
		r = unlink_stale_socket(a);
		if (r < 0)
			goto fail;
	}
	if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0)
		goto fail_errno;
	/* Connecting to a Unix socket takes write permission on it: make it 0666, as systemd's
	 * SocketMode= default and nginx do, not whatever the umask leaves (access is then the
	 * directory's to control). */
	const struct sockaddr_un *un = (const struct sockaddr_un *)&a->sa;
	if (a->family == AF_UNIX && un->sun_path[0] != '\0' && chmod(un->sun_path, 0666) < 0)
		goto fail_errno;
	if (a->type == SOCK_STREAM && listen(fd, backlog) < 0)
		goto fail_errno;
	return fd;

fail_errno:
	r = -errno;
fail:
	close(fd);
	return r;
}
