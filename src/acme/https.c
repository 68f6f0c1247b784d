/* The blocking HTTPS client of `ferry acme` (https.h). */
#include "acme/https.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "acme/parse.h"
#include "base/xalloc.h"
#include "http/chunked.h"
#include "http/response.h"

#define HEAD_MAX (64 * 1024)
#define SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

struct acme_https {
	gnutls_certificate_credentials_t cred;
};

int acme_https_new(const char *ca_root, struct buf *err, struct acme_https **ret)
{
	struct acme_https *h = xcalloc(1, sizeof(*h));
	if (gnutls_certificate_allocate_credentials(&h->cred) < 0) {
		free(h);
		return -ENOMEM;
	}
	int r = ca_root ? gnutls_certificate_set_x509_trust_file(h->cred, ca_root,
								  GNUTLS_X509_FMT_PEM)
			: gnutls_certificate_set_x509_system_trust(h->cred);
	/* the static build has no p11-kit (xport/p11kit_stub.c), which Debian's GnuTLS asks
	 * for the system's trust: read Debian's bundle then */
	if (!ca_root && r <= 0)
		r = gnutls_certificate_set_x509_trust_file(h->cred, SYSTEM_BUNDLE,
							   GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		buf_printf(err, "%s: %s", ca_root ? ca_root : "the system's trusted CAs",
			   r == 0 ? "no certificate in it" : gnutls_strerror(r));
		acme_https_free(h);
		return -EINVAL;
	}
	*ret = h;
	return 0;
}

void acme_https_free(struct acme_https *h)
{
	if (!h)
		return;
	if (h->cred)
		gnutls_certificate_free_credentials(h->cred);
	free(h);
}

void acme_resp_init(struct acme_resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, ACME_HTTPS_BODY_MAX + 1);
}

void acme_resp_free(struct acme_resp *r)
{
	buf_free(&r->body);
}

/* "https://host[:port]/path" -> host (brackets dropped), port, path ("/" when none). */
static int url_split(const char *url, char *host, size_t host_size, char *port,
		     size_t port_size, const char **ret_path, char *authority, size_t auth_size)
{
	if (strncmp(url, "https://", 8) != 0)
		return -EINVAL;
	const char *a = url + 8, *e = a + strcspn(a, "/?#");
	size_t alen = (size_t)(e - a);
	if (alen == 0 || alen >= auth_size || memchr(a, '@', alen))
		return -EINVAL;
	memcpy(authority, a, alen);
	authority[alen] = '\0';
	const char *hs = a, *he, *colon;
	if (*a == '[') {
		he = memchr(a, ']', alen);
		if (!he)
			return -EINVAL;
		hs = a + 1;
		colon = he + 1 < e && he[1] == ':' ? he + 1 : NULL;
	} else {
		colon = memchr(a, ':', alen);
		he = colon ? colon : e;
	}
	size_t hl = (size_t)(he - hs);
	if (hl == 0 || hl >= host_size)
		return -EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	size_t pl = colon ? (size_t)(e - colon - 1) : 0;
	if (colon && (pl == 0 || pl >= port_size || strspn(colon + 1, "0123456789") < pl))
		return -EINVAL;
	if (colon) {
		memcpy(port, colon + 1, pl);
		port[pl] = '\0';
	} else {
		snprintf(port, port_size, "443");
	}
	*ret_path = *e == '/' ? e : "/";
	return 0;
}

static int connect_to(const char *host, const char *port, struct buf *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *ai;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g != 0) {
		buf_printf(err, "resolve %s: %s", host, gai_strerror(g));
		return -EHOSTUNREACH;
	}
	int r = -ECONNREFUSED;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		int e = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
		if (e == EINPROGRESS) {
			struct pollfd p = {fd, POLLOUT, 0};
			int n = poll(&p, 1, ACME_HTTPS_TIMEOUT_MS);
			socklen_t l = sizeof(e);
			if (n == 0)
				e = ETIMEDOUT;
			else if (n < 0)
				e = errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
				e = errno;
		}
		if (e == 0) {
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
			struct timeval tv = {ACME_HTTPS_TIMEOUT_MS / 1000, 0};
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			freeaddrinfo(ai);
			return fd;
		}
		r = -e;
		close(fd);
	}
	freeaddrinfo(ai);
	buf_printf(err, "connect %s port %s: %s", host, port, strerror(-r));
	return r;
}

static void copy_field(char *out, size_t size, const struct http_header *h)
{
	size_t n = h->value_len < size - 1 ? h->value_len : size - 1;
	memcpy(out, h->value, n);
	out[n] = '\0';
}

/* The head and body of what was read (all of it: the server closed). */
static int parse_reply(struct buf *in, const char *method, struct acme_resp *resp,
		       struct buf *err)
{
	static const struct http_response_limits lim = {HEAD_MAX, 100};
	struct http_response *hr = xmalloc(sizeof(*hr));
	ssize_t head;
	size_t off = 0;
	for (;;) { /* skip interim responses */
		head = http_parse_response(in->data + off, in->len - off, &lim, hr);
		if (head <= 0 || !http_response_is_interim(hr))
			break;
		off += (size_t)head;
	}
	if (head <= 0) {
		buf_printf(err, "%s", head == 0 ? "the response ended before its head did"
						: "malformed response head");
		free(hr);
		return -EBADMSG;
	}
	resp->status = hr->status;
	for (size_t i = 0; i < hr->n_headers; i++) {
		const struct http_header *h = &hr->headers[i];
#define IS(n) (h->name_len == sizeof(n) - 1 && strncasecmp(h->name, n, h->name_len) == 0)
		if (IS("Replay-Nonce"))
			copy_field(resp->nonce, sizeof(resp->nonce), h);
		else if (IS("Location"))
			copy_field(resp->location, sizeof(resp->location), h);
		else if (IS("Content-Type"))
			copy_field(resp->content_type, sizeof(resp->content_type), h);
		else if (IS("Retry-After"))
			resp->has_retry_after = acme_retry_after(h->value, h->value_len,
								 time(NULL),
								 &resp->retry_after_s) == 0;
#undef IS
	}
	int framing = http_response_framing(hr, strcmp(method, "HEAD") == 0 ? HTTP_M_HEAD
									     : HTTP_M_POST,
					   false);
	char *body = in->data + off + (size_t)head;
	size_t blen = in->len - off - (size_t)head;
	int r = 0;
	if (framing == HTTP_FRAMING_LENGTH) {
		if ((uint64_t)hr->content_length > blen) {
			buf_printf(err, "the response body was cut short");
			r = -EBADMSG;
		} else {
			blen = (size_t)hr->content_length;
		}
	} else if (framing == HTTP_FRAMING_CHUNKED) {
		struct http_chunked ch;
		size_t data = 0;
		http_chunked_init(&ch);
		if (http_chunked_decode(&ch, body, blen, &data) < 0 || !http_chunked_done(&ch)) {
			buf_printf(err, "bad chunked response body");
			r = -EBADMSG;
		}
		blen = data;
	} else if (framing == HTTP_FRAMING_NONE) {
		blen = 0;
	} else if (framing < 0 || framing == HTTP_FRAMING_TUNNEL) {
		buf_printf(err, "unexpected response framing");
		r = -EBADMSG;
	}
	if (r == 0 && (buf_append(&resp->body, body, blen) < 0 || buf_cstr(&resp->body) < 0)) {
		buf_printf(err, "response body larger than %d bytes", ACME_HTTPS_BODY_MAX);
		r = -EFBIG;
	}
	free(hr);
	return r;
}

int acme_https_request(struct acme_https *h, const char *method, const char *url,
		       const char *content_type, const char *body, size_t len,
		       struct acme_resp *resp, struct buf *err)
{
	char host[256], port[8], authority[300];
	const char *path;
	buf_reset(&resp->body);
	resp->status = 0;
	resp->nonce[0] = resp->location[0] = resp->content_type[0] = '\0';
	resp->has_retry_after = false;
	if (strlen(url) >= ACME_HTTPS_URL_MAX ||
	    url_split(url, host, sizeof(host), port, sizeof(port), &path, authority,
		      sizeof(authority)) < 0) {
		buf_printf(err, "not an https:// URL: %.200s", url);
		return -EINVAL;
	}
	for (const char *c = path; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) {
			buf_printf(err, "bad character in URL %.200s", url);
			return -EINVAL;
		}
	int fd = connect_to(host, port, err);
	if (fd < 0)
		return fd;
	gnutls_session_t s = NULL;
	struct buf req, in;
	buf_init(&req, ACME_HTTPS_BODY_MAX + 8192);
	buf_init(&in, ACME_HTTPS_BODY_MAX + HEAD_MAX);
	int r = -EPROTO, g;
	if (gnutls_init(&s, GNUTLS_CLIENT) < 0 || gnutls_set_default_priority(s) < 0 ||
	    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, h->cred) < 0) {
		buf_printf(err, "TLS setup failed");
		goto out;
	}
	bool is_ip = strchr(host, ':') || strspn(host, "0123456789.") == strlen(host);
	if (!is_ip)
		gnutls_server_name_set(s, GNUTLS_NAME_DNS, host, strlen(host));
	gnutls_session_set_verify_cert(s, host, 0);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, ACME_HTTPS_TIMEOUT_MS);
	do
		g = gnutls_handshake(s);
	while (g < 0 && !gnutls_error_is_fatal(g));
	if (g < 0) {
		if (g == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
			gnutls_datum_t why = {0};
			gnutls_certificate_verification_status_print(
				gnutls_session_get_verify_cert_status(s), GNUTLS_CRT_X509, &why, 0);
			buf_printf(err, "TLS to %s: %s", authority,
				   why.data ? (char *)why.data : "certificate not trusted");
			gnutls_free(why.data);
		} else {
			buf_printf(err, "TLS to %s: %s", authority, gnutls_strerror(g));
		}
		goto out;
	}
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ferry/%s (acme)\r\n"
			 "Accept: */*\r\nConnection: close\r\n",
		   method, path, authority, FERRY_VERSION);
	if (body)
		buf_printf(&req, "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type, len);
	buf_appends(&req, "\r\n");
	if (body && buf_append(&req, body, len) < 0) {
		buf_printf(err, "request too large");
		goto out;
	}
	for (size_t off = 0; off < req.len;) {
		ssize_t n = gnutls_record_send(s, req.data + off, req.len - off);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0) {
			buf_printf(err, "send to %s: %s", authority, gnutls_strerror((int)n));
			goto out;
		}
		off += (size_t)n;
	}
	/* GnuTLS also says AGAIN after a TLS 1.3 post-handshake message (a session ticket):
	 * only a read that waited the whole SO_RCVTIMEO is a timeout. */
	time_t since = time(NULL);
	for (;;) {
		if (buf_reserve(&in, 16384) < 0 && buf_reserve(&in, 1) < 0) {
			buf_printf(err, "response from %s too large", authority);
			r = -EFBIG;
			goto out;
		}
		ssize_t n = gnutls_record_recv(s, in.data + in.len, buf_space(&in));
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION)
			break;
		if (n == GNUTLS_E_AGAIN && time(NULL) - since < ACME_HTTPS_TIMEOUT_MS / 1000)
			continue;
		if (n == GNUTLS_E_AGAIN) {
			buf_printf(err, "%s: no answer in %d s", authority,
				   ACME_HTTPS_TIMEOUT_MS / 1000);
			r = -ETIMEDOUT;
			goto out;
		}
		if (n < 0) {
			buf_printf(err, "read from %s: %s", authority, gnutls_strerror((int)n));
			goto out;
		}
		in.len += (size_t)n;
		since = time(NULL);
	}
	r = parse_reply(&in, method, resp, err);
out:
	if (s) {
		gnutls_bye(s, GNUTLS_SHUT_WR);
		gnutls_deinit(s);
	}
	close(fd);
	buf_free(&req);
	buf_free(&in);
	return r;
}
