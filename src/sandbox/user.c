/* The user the sandbox drops to: our own /etc/passwd and /etc/group parsers (a static binary
 * has no NSS), resolving "NAME[:GROUP]" or "UID[:GID]" with them, and the drop itself. */
#include "sandbox/user.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- /etc/passwd and /etc/group ------------------------------------------------------ */

#define DB_MAX_FIELDS 7

/* Split one line into at most max ':' fields (the last keeps any further ':'). Returns the
 * number of fields. */
static size_t split_fields(const char *p, size_t n, const char **f, size_t *fl, size_t max)
{
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= n && k < max; i++) {
		if (i == n || (p[i] == ':' && k + 1 < max)) {
			f[k] = p + start;
			fl[k] = i - start;
			k++;
			start = i + 1;
		}
	}
	return k;
}

/* A decimal id: no sign, no leading '+', below (id_t)-1 (which means "no change" to setuid). */
static int parse_id(const char *s, size_t n, uint32_t *ret)
{
	uint64_t v = 0;
	if (n == 0 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static bool field_is(const char *f, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(f, s, n) == 0;
}

/* Calls fn for each line that is not blank, a comment or a NIS entry; stops at fn's first
 * non-zero result and returns it, or returns 0. */
static int for_each_line(const char *text, size_t len,
			 int (*fn)(const char *line, size_t n, void *arg), void *arg)
{
	size_t pos = 0;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-')
			continue;
		int r = fn(line, n, arg);
		if (r != 0)
			return r;
	}
	return 0;
}

struct passwd_query {
	const char *name; /* or NULL: by uid */
	uid_t uid;
	struct sandbox_user *ret;
};

static int passwd_line(const char *line, size_t n, void *arg)
{
	struct passwd_query *q = arg;
	const char *f[DB_MAX_FIELDS];
	size_t fl[DB_MAX_FIELDS];
	uint32_t uid, gid;
	size_t k = split_fields(line, n, f, fl, DB_MAX_FIELDS);
	bool named = k >= 1 && q->name && field_is(f[0], fl[0], q->name);

	if (k < 4 || fl[0] == 0 || fl[0] > SANDBOX_NAME_MAX)
		return named ? -EINVAL : 0;
	if (parse_id(f[2], fl[2], &uid) < 0 || parse_id(f[3], fl[3], &gid) < 0)
		return named ? -EINVAL : 0;
	if (q->name ? !named : uid != q->uid)
		return 0;
	q->ret->uid = uid;
	q->ret->gid = gid;
	memcpy(q->ret->name, f[0], fl[0]);
	q->ret->name[fl[0]] = '\0';
	q->ret->n_groups = 0;
	return 1;
}

int sandbox_passwd_find(const char *text, size_t len, const char *name, uid_t uid,
			struct sandbox_user *ret)
{
	struct sandbox_user u;
	struct passwd_query q = {.name = name, .uid = uid, .ret = &u};
	int r = for_each_line(text, len, passwd_line, &q);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	*ret = u;
	return 0;
}

struct group_query {
	const char *name;
	gid_t gid;
};

static int group_line(const char *line, size_t n, void *arg)
{
	struct group_query *q = arg;
	const char *f[4];
	size_t fl[4];
	uint32_t gid;
	size_t k = split_fields(line, n, f, fl, 4);

	if (k < 1 || !field_is(f[0], fl[0], q->name))
		return 0;
	if (k < 3 || parse_id(f[2], fl[2], &gid) < 0)
		return -EINVAL;
	q->gid = gid;
	return 1;
}

int sandbox_group_find(const char *text, size_t len, const char *name, gid_t *ret_gid)
{
	struct group_query q = {.name = name};
	int r = for_each_line(text, len, group_line, &q);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	*ret_gid = q.gid;
	return 0;
}

struct members_query {
	const char *user;
	gid_t groups[SANDBOX_MAX_GROUPS];
	size_t n;
};

static int members_line(const char *line, size_t n, void *arg)
{
	struct members_query *q = arg;
	const char *f[4];
	size_t fl[4];
	uint32_t gid;
	size_t k = split_fields(line, n, f, fl, 4);

	if (k < 4 || parse_id(f[2], fl[2], &gid) < 0)
		return 0;
	for (const char *m = f[3], *end = f[3] + fl[3]; m < end;) {
		const char *comma = memchr(m, ',', (size_t)(end - m));
		size_t ml = comma ? (size_t)(comma - m) : (size_t)(end - m);
		if (field_is(m, ml, q->user)) {
			for (size_t i = 0; i < q->n; i++)
				if (q->groups[i] == gid)
					return 0;
			if (q->n == SANDBOX_MAX_GROUPS)
				return -E2BIG;
			q->groups[q->n++] = gid;
			return 0;
		}
		m += ml + 1;
	}
	return 0;
}

int sandbox_group_members(const char *text, size_t len, struct sandbox_user *u)
{
	struct members_query q = {.user = u->name, .groups = {u->gid}, .n = 1};
	if (u->name[0]) {
		int r = for_each_line(text, len, members_line, &q);
		if (r < 0)
			return r;
	}
	memcpy(u->groups, q.groups, q.n * sizeof(gid_t));
	u->n_groups = q.n;
	return 0;
}

/* Read a whole small file into a malloc'd buffer. */
static int read_db(const char *path, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size > SANDBOX_DB_MAX) {
		int r = st.st_size > SANDBOX_DB_MAX ? -EFBIG : -errno;
		close(fd);
		return r;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len == cap) { /* the file grew since fstat */
			close(fd);
			free(buf);
			return -EFBIG;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			close(fd);
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*ret = buf;
	*ret_len = len;
	return 0;
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int sandbox_user_resolve(const char *spec, const char *passwd_path, const char *group_path,
			 struct sandbox_user *ret)
{
	struct sandbox_user u = {0};
	const char *colon = strchr(spec, ':');
	size_t ul = colon ? (size_t)(colon - spec) : strlen(spec);
	const char *grp = colon ? colon + 1 : NULL;
	size_t gl = grp ? strlen(grp) : 0;
	char uname[SANDBOX_NAME_MAX + 1], gname[SANDBOX_NAME_MAX + 1] = "";
	char *pw = NULL, *gr = NULL;
	size_t pwl = 0, grl = 0;
	uint32_t uid_num = 0, gid_num = 0;
	int r;

	if (ul == 0 || ul > SANDBOX_NAME_MAX ||
	    (grp && (gl == 0 || gl > SANDBOX_NAME_MAX || strchr(grp, ':'))))
		return -EINVAL;
	memcpy(uname, spec, ul);
	uname[ul] = '\0';
	if (grp)
		memcpy(gname, grp, gl + 1);
	bool uid_given = all_digits(uname, ul), gid_given = grp && all_digits(gname, gl);
	if (uid_given && parse_id(uname, ul, &uid_num) < 0)
		return -EINVAL;
	if (gid_given && parse_id(gname, gl, &gid_num) < 0)
		return -EINVAL;

	/* passwd: required for a name, consulted for a number (its name and group). */
	r = read_db(passwd_path, &pw, &pwl);
	if (r < 0 && !uid_given)
		return r;
	if (uid_given) {
		if (!pw || sandbox_passwd_find(pw, pwl, NULL, uid_num, &u) < 0) {
			u.uid = uid_num;
			u.gid = uid_num;
			u.name[0] = '\0';
		}
	} else {
		r = sandbox_passwd_find(pw, pwl, uname, 0, &u);
		if (r < 0)
			goto out;
	}
	if (gid_given)
		u.gid = gid_num;

	/* group: required for a group name, consulted for a named user's memberships. */
	if ((grp && !gid_given) || u.name[0]) {
		r = read_db(group_path, &gr, &grl);
		if (r < 0 && grp && !gid_given)
			goto out;
	}
	if (grp && !gid_given) {
		gid_t g;
		r = sandbox_group_find(gr, grl, gname, &g);
		if (r < 0)
			goto out;
		u.gid = g;
	}
	r = sandbox_group_members(gr ? gr : "", grl, &u);
	if (r < 0)
		goto out;
	*ret = u;
	r = 0;
out:
	free(pw);
	free(gr);
	return r;
}

/* ---- the drop ------------------------------------------------------------------------ */

int sandbox_user_become(const struct sandbox_user *u)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (geteuid() != 0) {
		/* Not root: only "become who we already are" can work. */
		if (getuid() == u->uid && geteuid() == u->uid && getgid() == u->gid &&
		    getegid() == u->gid)
			return 0;
		return -EPERM;
	}
	if (setgroups(u->n_groups, u->groups) < 0)
		return -errno;
	if (setresgid(u->gid, u->gid, u->gid) < 0)
		return -errno;
	if (setresuid(u->uid, u->uid, u->uid) < 0)
		return -errno;
	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
		return -errno;
	if (ruid != u->uid || euid != u->uid || suid != u->uid || rgid != u->gid ||
	    egid != u->gid || sgid != u->gid)
		return -EPERM;
	/* A user that is not root must not be able to come back. */
	if (u->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return -EPERM;
	return 1;
}
