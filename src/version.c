/* ferry --version [--verbose]: the libraries in the binary, as they report their own
 * versions at run time (so a dynamic sanitizer build shows the shared ones it loaded), and
 * their licences. The release binary is static: the licences travel with it in
 * packaging/licenses/ (installed in the image as /usr/share/licenses/ferry/). */
#include "version.h"

#include <crypt.h>
#include <gmp.h>
#include <gnu/libc-version.h>
#include <gnutls/gnutls.h>
#include <idn2.h>
#include <libtasn1.h>
#include <nettle/version.h>
#include <jansson.h>
#include <nghttp2/nghttp2.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <unistring/version.h>
#include <zlib.h>
#include <zstd.h>

#include "base/macro.h"
#include "handler/encode.h"

struct lib {
	const char *name;
	char version[32];
	const char *licence; /* SPDX */
	const char *file;    /* in packaging/licenses/ */
};

void version_print(FILE *f, bool verbose)
{
	fprintf(f, "ferry %s\n", FERRY_VERSION);
	if (!verbose)
		return;
	struct lib libs[] = {
		{"GnuTLS", "", "LGPL-2.1-or-later", "gnutls.txt"},
		{"Nettle (nettle, hogweed)", "", "LGPL-3.0-or-later OR GPL-2.0-or-later",
		 "nettle.txt"},
		{"GMP", "", "LGPL-3.0-or-later OR GPL-2.0-or-later", "gmp.txt"},
		{"libtasn1", "", "LGPL-2.1-or-later", "libtasn1.txt"},
		{"libidn2", "", "LGPL-3.0-or-later OR GPL-2.0-or-later", "libidn2.txt"},
		{"libunistring", "", "LGPL-3.0-or-later OR GPL-2.0-or-later", "libunistring.txt"},
		{"GNU C Library", "", "LGPL-2.1-or-later", "glibc.txt"},
		{"nghttp2", "", "MIT", "nghttp2.txt"},
		{"libxcrypt", "", "LGPL-2.1-or-later", "libxcrypt.txt"},
		{"zlib", "", "Zlib", "zlib.txt"},
		{"zstd", "", "BSD-3-Clause OR GPL-2.0-only", "zstd.txt"},
		{"Jansson", "", "MIT", "jansson.txt"},
		{"ngtcp2 (+ crypto_gnutls)", "", "MIT", "ngtcp2.txt"},
		{"nghttp3", "", "MIT", "nghttp3.txt"},
	};
	snprintf(libs[0].version, sizeof(libs[0].version), "%s", gnutls_check_version(NULL));
	snprintf(libs[1].version, sizeof(libs[1].version), "%d.%d", nettle_version_major(),
		 nettle_version_minor());
	snprintf(libs[2].version, sizeof(libs[2].version), "%s", gmp_version);
	snprintf(libs[3].version, sizeof(libs[3].version), "%s", asn1_check_version(NULL));
	snprintf(libs[4].version, sizeof(libs[4].version), "%s", idn2_check_version(NULL));
	/* (major << 16) + (minor << 8) + subminor */
	snprintf(libs[5].version, sizeof(libs[5].version), "%d.%d",
		 _libunistring_version >> 16, (_libunistring_version >> 8) & 0xff);
	snprintf(libs[6].version, sizeof(libs[6].version), "%s", gnu_get_libc_version());
	snprintf(libs[7].version, sizeof(libs[7].version), "%s", nghttp2_version(0)->version_str);
	/* no run-time version call: the one it was built against */
	snprintf(libs[8].version, sizeof(libs[8].version), "%d.%d", XCRYPT_VERSION_MAJOR,
		 XCRYPT_VERSION_MINOR);
	snprintf(libs[9].version, sizeof(libs[9].version), "%s", zlibVersion());
	snprintf(libs[10].version, sizeof(libs[10].version), "%s", ZSTD_versionString());
	snprintf(libs[11].version, sizeof(libs[11].version), "%s", jansson_version_str());
	snprintf(libs[12].version, sizeof(libs[12].version), "%s", ngtcp2_version(0)->version_str);
	snprintf(libs[13].version, sizeof(libs[13].version), "%s", nghttp3_version(0)->version_str);
	fprintf(f, "\nlibraries linked in:\n");
	for (size_t i = 0; i < ARRAY_SIZE(libs); i++)
		fprintf(f, "  %-26s %-8s %s (%s)\n", libs[i].name, libs[i].version, libs[i].licence,
			libs[i].file);
	const char *br = encode_brotli_version(); /* a `make BROTLI=1` build only */
	if (br)
		fprintf(f, "  %-26s %-8s %s (%s)\n", "brotli (encoder)", br, "MIT", "brotli.txt");
	fprintf(f, "  %-26s %-8s %s\n", "p11-kit", "-",
		"not linked: src/xport/p11kit_stub.c stands in (no PKCS#11)");
	fprintf(f, "\nlicence texts: /usr/share/licenses/ferry/ in the container image,\n"
		   "packaging/licenses/ in the source (with the GNU licences they refer to).\n"
		   "The LGPL libraries are linked statically: the source and the Makefile that\n"
		   "links them are the means to relink ferry with modified versions.\n");
}
