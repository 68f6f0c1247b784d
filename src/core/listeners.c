/* Which sockets ferry serves: the ones systemd passed (LISTEN_FDS), one connection
 * (Accept=yes, inetd), or the ones ferry binds itself (--listen, `listen ADDR` not passed). */
#include "core/listeners.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "core/fdstore.h"
#include "core/log.h"
#include "net/udprx.h"
#include "sd/listen.h"

#define LISTEN_BACKLOG 4096

struct inherited {
	struct sd_listen_fd sd;
	struct net_addr addr;
	bool listening;
	bool used;
};

/* cl: the listen line it serves (its flags), NULL for --listen. */
static void add_listener(struct server *srv, int fd, const struct net_addr *a, const char *name,
			 bool inherited, const struct config_listen *cl)
{
	srv->listeners = xrealloc(srv->listeners, (srv->n_listeners + 1) * sizeof(*srv->listeners));
	struct listener *l = &srv->listeners[srv->n_listeners++];
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->addr = *a;
	l->inherited = inherited;
	l->dgram = a->type == SOCK_DGRAM;
	l->proxy_protocol = cl && cl->proxy_protocol;
	l->h2c = cl && cl->h2c;
	l->tls = cl && cl->tls;
	l->metrics = cl && cl->metrics;
	l->quic = cl && cl->quic && a->type == SOCK_DGRAM;
	if (l->quic) {
		/* proto/h3.c answers from the address a datagram came to (a wildcard socket) */
		int one = 1;
		if (a->family == AF_INET6) {
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		} else if (a->family == AF_INET) {
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		}
		/* trains of datagrams in one read where the kernel has UDP GRO; one by one if
		 * not */
		l->gro = udprx_gro_enable(fd);
	}
	if (l->quic && !srv->quic_port) {
		if (a->family == AF_INET)
			srv->quic_port = ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
		else if (a->family == AF_INET6)
			srv->quic_port = ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
	}
	snprintf(l->name, sizeof(l->name), "%s", name ? name : "");
	/* Non-blocking accept; the inherited fd is shared with systemd, which does not mind. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if ((a->family == AF_INET || a->family == AF_INET6) && a->type == SOCK_STREAM) {
		/* Accepted sockets inherit TCP_NODELAY: set once here, not per connection. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
}

/* May this socket be served in this mode? HTTP serves stream sockets, and datagram ones
 * under a `listen ... quic` line (HTTP/3); a quic line, datagram sockets only. */
static bool usable(enum server_mode mode, const struct net_addr *a, const struct config_listen *cl)
{
	if (cl && cl->quic)
		return a->type == SOCK_DGRAM;
	return mode == SERVER_ECHO || a->type == SOCK_STREAM;
}

static const char *unusable_why(const struct config_listen *cl)
{
	return cl && cl->quic ? "'quic' is for datagram (UDP) sockets"
			      : "datagram sockets are for 'ferry echo' or 'listen ... quic' only";
}

static int adopt_or_bind(struct server *srv, const struct net_addr *a, const char *spec,
			 const struct config_listen *cl, struct inherited *inh, size_t n_inh,
			 struct buf *err)
{
	char s[NET_ADDR_STRLEN];
	if (!usable(srv->mode, a, cl)) {
		buf_printf(err, "listen %s: %s\n", spec, unusable_why(cl));
		return -EINVAL;
	}
	for (size_t i = 0; i < n_inh; i++) {
		/* Datagram sockets never "listen": bound is all they can be. */
		if ((inh[i].listening || inh[i].addr.type == SOCK_DGRAM) &&
		    net_addr_equal(&inh[i].addr, a)) {
			if (!inh[i].used)
				add_listener(srv, inh[i].sd.fd, &inh[i].addr, inh[i].sd.name, true,
					     cl);
			inh[i].used = true;
			return 0;
		}
	}
	int fd = net_listen(a, LISTEN_BACKLOG);
	if (fd < 0) {
		buf_printf(err, "listen %s: cannot bind %s: %s\n", spec,
			   net_addr_format(a, s, sizeof(s)), strerror(-fd));
		return fd;
	}
	add_listener(srv, fd, a, NULL, false, cl);
	return 0;
}

static void passed_names(struct inherited *inh, size_t n, struct buf *err)
{
	if (n == 0) {
		buf_appends(err, "no sockets were passed (LISTEN_FDS unset or 0)");
		return;
	}
	buf_appends(err, "passed:");
	for (size_t i = 0; i < n; i++) {
		char s[NET_ADDR_STRLEN];
		buf_printf(err, " %s (%s)", inh[i].sd.name,
			   net_addr_format(&inh[i].addr, s, sizeof(s)));
	}
}

int listeners_setup(struct server *srv, char **cli, size_t n_cli, struct buf *err)
{
	const struct config *cfg = server_gen(srv)->cfg;
	struct sd_listen_fd *fds = NULL;
	size_t n = 0;
	int r = sd_listen_fds_get(getpid(), true, &fds, &n);
	if (r < 0) {
		if (r == -E2BIG)
			buf_appends(err, "LISTEN_FDNAMES does not name every fd in LISTEN_FDS\n");
		else
			buf_printf(err, "bad socket activation environment: %s\n", strerror(-r));
		return r;
	}
	srv->single_fd = -1;

	/* Connections the ferry before us handed to the fd store are not sockets to listen on:
	 * set them aside for fdstore_setup (before the Accept=yes test below, too). */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(fds[i].name, FDSTORE_CONN_PREFIX, strlen(FDSTORE_CONN_PREFIX)) != 0) {
			fds[kept++] = fds[i];
			continue;
		}
		srv->resume = xrealloc(srv->resume, (srv->n_resume + 1) * sizeof(*srv->resume));
		struct fdstore_conn *fc = &srv->resume[srv->n_resume++];
		memset(fc, 0, sizeof(*fc));
		fc->fd = fds[i].fd;
		memcpy(fc->name, fds[i].name, sizeof(fc->name));
	}
	n = kept;

	struct inherited *inh = xcalloc(n ? n : 1, sizeof(*inh));
	for (size_t i = 0; i < n; i++)
		inh[i].sd = fds[i];
	free(fds);
	for (size_t i = 0; i < n; i++) {
		r = net_sock_info(inh[i].sd.fd, &inh[i].addr, &inh[i].listening);
		if (r < 0) {
			buf_printf(err, "fd %d (%s): not a usable socket: %s\n", inh[i].sd.fd,
				   inh[i].sd.name, strerror(-r));
			goto out;
		}
	}

	/* Accept=yes: systemd passes one connected socket instead of a listening one. */
	if (n == 1 && !inh[0].listening && inh[0].addr.type == SOCK_STREAM) {
		srv->single_fd = inh[0].sd.fd;
		r = 0;
		goto out;
	}
	/* inetd style (StandardInput=socket): no LISTEN_FDS, stdin is a connected socket. */
	if (n == 0 && n_cli == 0 && cfg->n_listens == 0) {
		struct net_addr a;
		bool listening;
		if (net_sock_info(0, &a, &listening) == 0 && !listening && a.type == SOCK_STREAM) {
			int fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
			if (fd >= 0) {
				srv->single_fd = fd;
				r = 0;
				goto out;
			}
		}
	}

	r = 0;
	for (size_t i = 0; i < cfg->n_listens; i++) {
		const struct config_listen *cl = &cfg->listens[i];
		if (cl->is_addr) {
			if (adopt_or_bind(srv, &cl->addr, cl->spec, cl, inh, n, err) < 0)
				r = -EINVAL;
			continue;
		}
		bool found = false;
		for (size_t j = 0; j < n; j++) {
			if (strcmp(inh[j].sd.name, cl->spec) != 0)
				continue;
			found = true;
			if (inh[j].used)
				continue;
			if (!usable(srv->mode, &inh[j].addr, cl)) {
				buf_printf(err, "listen %s: fd %d: %s\n", cl->spec, inh[j].sd.fd,
					   unusable_why(cl));
				r = -EINVAL;
				continue;
			}
			if (!inh[j].listening && inh[j].addr.type == SOCK_STREAM) {
				buf_printf(err, "listen %s: fd %d is not a listening socket\n", cl->spec,
					   inh[j].sd.fd);
				r = -EINVAL;
				continue;
			}
			inh[j].used = true;
			add_listener(srv, inh[j].sd.fd, &inh[j].addr, inh[j].sd.name, true, cl);
		}
		if (!found && cl->has_fallback) {
			if (adopt_or_bind(srv, &cl->addr, cl->spec, cl, inh, n, err) < 0)
				r = -EINVAL;
			continue;
		}
		if (!found) {
			buf_printf(err, "%s:%u: listen %s: no socket was passed under that name; ",
				   cl->file ? cl->file : "config", cl->line, cl->spec);
			passed_names(inh, n, err);
			buf_appends(err, "\n");
			r = -ENOENT;
		}
	}
	for (size_t i = 0; i < n_cli; i++) {
		struct net_addr a;
		if (net_addr_parse(cli[i], &a) < 0) {
			buf_printf(err, "--listen %s: not an address\n", cli[i]);
			r = -EINVAL;
			continue;
		}
		if (adopt_or_bind(srv, &a, cli[i], NULL, inh, n, err) < 0)
			r = -EINVAL;
	}
	if (r < 0)
		goto out;

	if (cfg->n_listens == 0 && n_cli == 0) {
		/* No listen lines: serve every inherited socket that fits the mode. */
		for (size_t i = 0; i < n; i++) {
			char s[NET_ADDR_STRLEN];
			net_addr_format(&inh[i].addr, s, sizeof(s));
			if (!usable(srv->mode, &inh[i].addr, NULL)) {
				log_warning("ignoring fd %d (%s, %s): datagram sockets are for "
					    "'ferry echo' or 'listen ... quic' only", inh[i].sd.fd, inh[i].sd.name, s);
				continue;
			}
			if (!inh[i].listening && inh[i].addr.type == SOCK_STREAM) {
				log_warning("ignoring fd %d (%s, %s): a connected socket among "
					    "listening ones", inh[i].sd.fd, inh[i].sd.name, s);
				continue;
			}
			inh[i].used = true;
			add_listener(srv, inh[i].sd.fd, &inh[i].addr, inh[i].sd.name, true, NULL);
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			if (inh[i].used)
				continue;
			char s[NET_ADDR_STRLEN];
			if (strcmp(inh[i].sd.name, FDSTORE_LISTEN_NAME) == 0) {
				/* bound by the ferry before us for a listen line that is gone */
				log_info("fd %d (%s): no listen line uses it any more: closed",
					 inh[i].sd.fd, net_addr_format(&inh[i].addr, s, sizeof(s)));
				close(inh[i].sd.fd);
				continue;
			}
			log_warning("fd %d (%s, %s) was passed but no listen line uses it",
				    inh[i].sd.fd, inh[i].sd.name,
				    net_addr_format(&inh[i].addr, s, sizeof(s)));
		}
	}
	if (srv->n_listeners == 0) {
		buf_appends(err, "nothing to listen on: start ferry with socket activation "
				 "(systemd, podman, systemd-socket-activate -l 8080 ferry) or give "
				 "--listen ADDR\n");
		r = -ENOENT;
	}
out:
	free(inh);
	return r;
}
