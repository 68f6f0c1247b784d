/* Who the sandbox makes ferry become: a user and its groups, resolved from /etc/passwd and
 * /etc/group with our own parsers (a static binary has no NSS), and the drop to it. */
#ifndef FERRY_SANDBOX_USER_H
#define FERRY_SANDBOX_USER_H

#include <stddef.h>
#include <sys/types.h>

#define SANDBOX_MAX_GROUPS 64	 /* supplementary groups of a user, its own included */
#define SANDBOX_NAME_MAX 32	 /* user and group names */
#define SANDBOX_DB_MAX (4 << 20) /* /etc/passwd and /etc/group larger than this are refused */

/* Who to become: from sandbox_user_resolve(), or filled in by hand. */
struct sandbox_user {
	uid_t uid;
	gid_t gid;
	gid_t groups[SANDBOX_MAX_GROUPS]; /* for setgroups(): the primary group first */
	size_t n_groups;
	char name[SANDBOX_NAME_MAX + 1]; /* "" when given by number and not in /etc/passwd */
};

/* Resolve "NAME", "NAME:GROUP", "UID" or "UID:GID" with passwd_path and group_path (normally
 * /etc/passwd and /etc/group: a static binary has no NSS), before Landlock hides them. A name
 * takes its primary group from passwd and its supplementary groups from group; a UID found
 * in passwd likewise; a UID that is not takes GID = UID unless one is given. Returns 0, -ENOENT
 * (no such user or group), -EINVAL (malformed spec or entry), -EFBIG (a file larger than
 * SANDBOX_DB_MAX), -E2BIG (more than SANDBOX_MAX_GROUPS groups), or the -errno of reading a
 * file that a name needed. */
int sandbox_user_resolve(const char *spec, const char *passwd_path, const char *group_path,
			 struct sandbox_user *ret);

/* Become u for good: setgroups, setresgid, setresuid, then check that every id took and, for a
 * user other than root, that uid 0 cannot be regained. Not root, only "become who we already
 * are" can work. Returns 1 when the ids were changed, 0 when we already were u, -EPERM (not
 * root and asked to become another user, or an id did not take) or another -errno. For
 * sandbox_apply() (sandbox.c), which calls it at the right moment. */
int sandbox_user_become(const struct sandbox_user *u);

/* Pure parsers over the text of /etc/passwd and /etc/group (no I/O, no allocation). Comment,
 * blank, NIS ("+", "-") and malformed lines are skipped; a malformed line for the name asked
 * for is -EINVAL. */

/* The passwd entry for name (or, when name is NULL, for uid): fills ret's uid, gid and name,
 * sets ret->n_groups to 0. -ENOENT when absent. */
int sandbox_passwd_find(const char *text, size_t len, const char *name, uid_t uid,
			struct sandbox_user *ret);
/* The gid of group name. -ENOENT when absent. */
int sandbox_group_find(const char *text, size_t len, const char *name, gid_t *ret_gid);
/* Set u->groups to u->gid followed by every group listing u->name as a member (no
 * duplicates). -E2BIG past SANDBOX_MAX_GROUPS (u untouched then). */
int sandbox_group_members(const char *text, size_t len, struct sandbox_user *u);

#endif
