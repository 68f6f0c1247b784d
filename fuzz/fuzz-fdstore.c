/* libFuzzer target for fdstore_conn_name_parse (the FDNAME of a connection in systemd's fd
 * store, core/fdstore.c): whatever it accepts must be made again, byte for byte, by
 * fdstore_conn_name from what it returned; whatever it refuses must leave the outputs as
 * they were. Also builds with gcc against fuzz/replay.c. */
#include "core/fdstore.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = malloc(size + 1), again[FDSTORE_NAME_MAX + 1];
	struct sockaddr_storage ss, ss0;
	socklen_t len = 77;
	uint32_t key = 0x5a5a5a5a;

	if (!name)
		abort();
	memcpy(name, data, size);
	name[size] = '\0';
	memset(&ss, 0xa5, sizeof(ss));
	memcpy(&ss0, &ss, sizeof(ss));
	int r = fdstore_conn_name_parse(name, &key, &ss, &len);
	if (r == 0) {
		if (fdstore_conn_name(again, sizeof(again), key,
				      len ? (struct sockaddr *)&ss : NULL, len) < 0 ||
		    strcmp(again, name) != 0)
			abort();
	} else if (r != -EINVAL || key != 0x5a5a5a5a || len != 77 ||
		   memcmp(&ss, &ss0, sizeof(ss)) != 0) {
		abort();
	}
	free(name);
	return 0;
}
