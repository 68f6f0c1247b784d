/* libFuzzer target for sd_listen_names_parse: the first byte is the fd count, the rest is
 * LISTEN_FDNAMES. Whatever it accepts must be n valid names; whatever it rejects must leave
 * the array untouched. Also builds with gcc against fuzz/replay.c. */
#include "sd/listen.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_listen_fd *fds, *copy;
	char *names;
	size_t n;
	int r;

	if (size < 1)
		return 0;
	n = data[0];
	/* Exact-size copy (NUL added) so ASan sees any read past the string. */
	names = malloc(size);
	fds = malloc((n ? n : 1) * sizeof(*fds));
	copy = malloc((n ? n : 1) * sizeof(*fds));
	if (!names || !fds || !copy)
		abort();
	memcpy(names, data + 1, size - 1);
	names[size - 1] = '\0';
	memset(fds, 0xa5, (n ? n : 1) * sizeof(*fds));
	memcpy(copy, fds, (n ? n : 1) * sizeof(*fds));

	r = sd_listen_names_parse(names, n, fds);
	if (r == 0) {
		for (size_t i = 0; i < n; i++) {
			size_t l = strnlen(fds[i].name, sizeof(fds[i].name));
			if (l == 0 || l > SD_FDNAME_MAX)
				abort();
			for (size_t j = 0; j < l; j++)
				if (fds[i].name[j] < 0x20 || fds[i].name[j] > 0x7e ||
				    fds[i].name[j] == ':')
					abort();
			if (fds[i].fd != (int)0xa5a5a5a5)
				abort();
		}
	} else if (r == -EINVAL || r == -E2BIG) {
		if (memcmp(fds, copy, (n ? n : 1) * sizeof(*fds)) != 0)
			abort();
	} else
		abort();

	free(names);
	free(fds);
	free(copy);
	return 0;
}
