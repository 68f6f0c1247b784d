/* systemd's fd store, ferry's side (the protocol itself is sd/notify.c): which sockets go in
 * and under what name, taking idle connections back at start, and handing them over in
 * batches at a graceful stop. The naming is in fdstore.h. */
#include "core/fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "core/log.h"
#include "sd/listen.h"
#include "sd/notify.h"

#define FDSTORE_BARRIER_MS 5000

uint32_t fdstore_listener_key(const struct net_addr *a)
{
	char s[NET_ADDR_STRLEN];
	uint32_t h = 2166136261u;
	net_addr_format(a, s, sizeof(s));
	for (const char *p = s; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	return h;
}

static void hex(char *out, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int fdstore_conn_name(char *buf, size_t size, uint32_t key, const struct sockaddr *peer,
		      socklen_t peer_len)
{
	char addr[33] = "";
	char fam = 0;
	unsigned port = 0;
	int n;

	if (peer && peer->sa_family == AF_INET && peer_len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
		hex(addr, (const unsigned char *)&in->sin_addr, 4);
		port = ntohs(in->sin_port);
		fam = '4';
	} else if (peer && peer->sa_family == AF_INET6 && peer_len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
		hex(addr, (const unsigned char *)&in6->sin6_addr, 16);
		port = ntohs(in6->sin6_port);
		fam = '6';
	}
	if (fam)
		n = snprintf(buf, size, FDSTORE_CONN_PREFIX "%08x-%c-%s-%04x", key, fam, addr,
			     port);
	else
		n = snprintf(buf, size, FDSTORE_CONN_PREFIX "%08x", key);
	return n < 0 || (size_t)n >= size ? -ENOBUFS : n;
}

/* Exactly n lower-case hex digits into out (n / 2 bytes). */
static int unhex(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -EINVAL;
		if (i % 2 == 0)
			out[i / 2] = (unsigned char)(v << 4);
		else
			out[i / 2] |= (unsigned char)v;
	}
	return 0;
}

int fdstore_conn_name_parse(const char *name, uint32_t *ret_key, struct sockaddr_storage *ret_peer,
			    socklen_t *ret_peer_len)
{
	const size_t plen = strlen(FDSTORE_CONN_PREFIX);
	unsigned char k[4], port[2];
	struct sockaddr_storage ss;
	socklen_t len = 0;

	if (strncmp(name, FDSTORE_CONN_PREFIX, plen) != 0)
		return -EINVAL;
	name += plen;
	if (strlen(name) < 8 || unhex(name, 8, k) < 0)
		return -EINVAL;
	name += 8;
	memset(&ss, 0, sizeof(ss));
	if (*name) {
		size_t alen;
		if (name[0] != '-' || (name[1] != '4' && name[1] != '6') || name[2] != '-')
			return -EINVAL;
		alen = name[1] == '4' ? 8 : 32;
		if (strlen(name + 3) != alen + 5 || name[3 + alen] != '-')
			return -EINVAL;
		if (name[1] == '4') {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			in->sin_family = AF_INET;
			if (unhex(name + 3, 8, (unsigned char *)&in->sin_addr) < 0 ||
			    unhex(name + 12, 4, port) < 0)
				return -EINVAL;
			memcpy(&in->sin_port, port, 2);
			len = sizeof(*in);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			in6->sin6_family = AF_INET6;
			if (unhex(name + 3, 32, (unsigned char *)&in6->sin6_addr) < 0 ||
			    unhex(name + 36, 4, port) < 0)
				return -EINVAL;
			memcpy(&in6->sin6_port, port, 2);
			len = sizeof(*in6);
		}
	}
	*ret_key = (uint32_t)k[0] << 24 | (uint32_t)k[1] << 16 | (uint32_t)k[2] << 8 | k[3];
	*ret_peer = ss;
	*ret_peer_len = len;
	return 0;
}

/* Close a connection we cannot serve: a FIN, and whatever the client sent is dropped. */
static void conn_drop(int fd)
{
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* May a connection from the store be served on l? Only plain HTTP/1.1 ones are handed over. */
static bool resumable(const struct listener *l)
{
	return !l->dgram && !l->tls && !l->h2c;
}

void fdstore_setup(struct server *srv)
{
	unsigned max = sd_fdstore_max();
	size_t taken = 0, dropped = 0;

	for (size_t i = 0; i < srv->n_listeners; i++)
		srv->listeners[i].key = fdstore_listener_key(&srv->listeners[i].addr);

	/* Out of the store first, whatever becomes of them: systemd's copy would keep a
	 * connection open after we close ours (one message per distinct name). */
	for (size_t i = 0; i < srv->n_resume; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(srv->resume[j].name, srv->resume[i].name) == 0;
		if (!seen)
			sd_notifyf("FDSTOREREMOVE=1\nFDNAME=%s", srv->resume[i].name);
	}
	for (size_t i = 0; i < srv->n_resume; i++) {
		struct fdstore_conn *fc = &srv->resume[i];
		uint32_t key;
		fc->listener = SIZE_MAX;
		if (srv->app->conn_resume && srv->single_fd < 0 &&
		    fdstore_conn_name_parse(fc->name, &key, &fc->peer, &fc->peer_len) == 0) {
			for (size_t j = 0; j < srv->n_listeners; j++)
				if (srv->listeners[j].key == key && resumable(&srv->listeners[j]))
					fc->listener = j;
		}
		if (fc->listener != SIZE_MAX && fc->peer_len == 0) {
			fc->peer_len = sizeof(fc->peer);
			if (getpeername(fc->fd, (struct sockaddr *)&fc->peer, &fc->peer_len) < 0)
				fc->listener = SIZE_MAX; /* gone meanwhile */
		}
		if (fc->listener == SIZE_MAX) {
			conn_drop(fc->fd);
			fc->fd = -1;
			dropped++;
			continue;
		}
		int fl = fcntl(fc->fd, F_GETFL);
		if (fl >= 0 && !(fl & O_NONBLOCK))
			fcntl(fc->fd, F_SETFL, fl | O_NONBLOCK);
		taken++;
	}
	if (taken || dropped)
		log_notice("fd store: %zu idle connection%s taken back%s", taken,
			   taken == 1 ? "" : "s",
			   dropped ? " (some closed: their listener is gone or changed)" : "");

	if (max == 0 || !srv->app->conn_resume || srv->single_fd >= 0)
		return;
	/* All of it comes back in LISTEN_FDS, beside the socket unit's: no more than the next
	 * ferry takes (sd_listen_fds_get). */
	size_t cap =
	    srv->n_listeners < SD_LISTEN_FDS_MAX ? SD_LISTEN_FDS_MAX - srv->n_listeners : 0;
	if (max > cap)
		max = (unsigned)cap;
	if (max == 0)
		return;
	/* The listeners ferry bound (a socket unit keeps its own): in the store they outlive
	 * this process, so a restart refuses no connection and loses no queued one. The old
	 * set goes first: a listen line may be gone from the config. */
	int fds[SD_NOTIFY_FDS_MAX];
	size_t n = 0;
	for (size_t i = 0; i < srv->n_listeners && n < SD_NOTIFY_FDS_MAX; i++) {
		const struct listener *l = &srv->listeners[i];
		if (!l->inherited || strcmp(l->name, FDSTORE_LISTEN_NAME) == 0)
			fds[n++] = l->fd;
	}
	if (n >= max) {
		log_warning("fd store: FileDescriptorStoreMax=%u holds no more than the %zu "
			    "listening sockets ferry bound: connections are not handed over",
			    max, n);
		return;
	}
	sd_notify("FDSTOREREMOVE=1\nFDNAME=" FDSTORE_LISTEN_NAME);
	if (n > 0) {
		int r =
		    sd_notify_with_fds("FDSTORE=1\nFDPOLL=0\nFDNAME=" FDSTORE_LISTEN_NAME, fds, n);
		if (r <= 0) {
			log_warning("fd store: cannot store the listening sockets: %s",
				    r < 0 ? strerror(-r) : "NOTIFY_SOCKET unset");
			return;
		}
	}
	srv->fdstore_max = max;
	atomic_store(&srv->fdstore_room, (int)(max - n));
	log_info("fd store: up to %u fds (FileDescriptorStoreMax=): idle connections are handed "
		 "over at a restart",
		 max);
}

void fdstore_resume(struct worker *wk)
{
	struct server *srv = wk->srv;
	for (size_t i = wk->id; i < srv->n_resume; i += srv->n_workers) {
		struct fdstore_conn *fc = &srv->resume[i];
		if (fc->fd < 0)
			continue;
		srv->app->conn_resume(wk, fc->fd, (const struct sockaddr *)&fc->peer, fc->peer_len,
				      &srv->listeners[fc->listener]);
		fc->fd = -1;
	}
}

void fdstore_flush(struct worker *wk)
{
	if (wk->fdstore_n == 0)
		return;
	char state[64 + sizeof(wk->fdstore_name)];
	snprintf(state, sizeof(state), "FDSTORE=1\nFDNAME=%s", wk->fdstore_name);
	int r = sd_notify_with_fds(state, wk->fdstore_fds, wk->fdstore_n);
	if (r > 0)
		atomic_fetch_add(&wk->srv->fdstore_sent, wk->fdstore_n);
	else
		log_warning("fd store: %u connection%s not handed over: %s", wk->fdstore_n,
			    wk->fdstore_n == 1 ? "" : "s",
			    r < 0 ? strerror(-r) : "NOTIFY_SOCKET unset");
	/* Sent: the message holds its own references. Not sent: a close, as without a store. */
	for (unsigned i = 0; i < wk->fdstore_n; i++)
		r > 0 ? close(wk->fdstore_fds[i]) : conn_drop(wk->fdstore_fds[i]);
	wk->fdstore_n = 0;
}

int fdstore_conn_put(struct worker *wk, int fd, const struct listener *l,
		     const struct sockaddr *peer, socklen_t peer_len)
{
	struct server *srv = wk->srv;
	char name[FDSTORE_NAME_MAX + 1];

	if (srv->fdstore_max == 0 || !l ||
	    fdstore_conn_name(name, sizeof(name), l->key, peer, peer_len) < 0)
		return -EOPNOTSUPP;
	if (atomic_fetch_sub(&srv->fdstore_room, 1) <= 0) {
		atomic_fetch_add(&srv->fdstore_room, 1);
		return -ENOSPC;
	}
	if (wk->fdstore_n > 0 &&
	    (wk->fdstore_n == SD_NOTIFY_FDS_MAX || strcmp(wk->fdstore_name, name) != 0))
		fdstore_flush(wk);
	if (!wk->fdstore_fds)
		wk->fdstore_fds = xmalloc(SD_NOTIFY_FDS_MAX * sizeof(int));
	memcpy(wk->fdstore_name, name, sizeof(name));
	wk->fdstore_fds[wk->fdstore_n++] = fd;
	return 0;
}

void fdstore_finish(struct server *srv)
{
	unsigned sent = atomic_load(&srv->fdstore_sent);
	if (sent > 0) {
		/* Exit only once systemd has them: it reads a dead process's messages too, but
		 * this says so, and bounds the wait. */
		int r = sd_notify_barrier(FDSTORE_BARRIER_MS);
		log_notice("fd store: %u idle connection%s handed over%s", sent,
			   sent == 1 ? "" : "s", r > 0 ? "" : " (systemd did not confirm)");
	}
	for (size_t i = 0; i < srv->n_resume; i++)
		if (srv->resume[i].fd >= 0)
			conn_drop(srv->resume[i].fd);
	free(srv->resume);
	srv->resume = NULL;
	srv->n_resume = 0;
}
