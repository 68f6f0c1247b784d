/* p11-kit, as far as a static GnuTLS needs it: ferry offers no PKCS#11 (certificates and keys
 * come from files), and Debian ships no libp11-kit.a, so the release binary links these
 * instead of the library. GnuTLS 3.7 only reaches them for a "pkcs11:" URL or an explicit
 * PKCS#11 call, which ferry never makes; should it happen anyway, every entry point fails
 * the way the real one fails when no module is configured: no modules, no URI, no PIN, an
 * error code. Linked only into the static binary (Makefile: P11STUB); the dynamic
 * sanitizer build uses the real libp11-kit through libgnutls.so.
 *
 * The list is what `nm -u libgnutls.a | grep p11_kit_` names for GnuTLS 3.7.9; a GnuTLS
 * that needs one more fails to link, loudly. Signatures come from p11-kit's own headers. */
#include <p11-kit/p11-kit.h>
#include <p11-kit/pin.h>
#include <p11-kit/uri.h>
#include <stddef.h>

/* ---- modules: none is ever loaded ---------------------------------------------------- */

CK_FUNCTION_LIST **p11_kit_modules_load(const char *reserved, int flags)
{
	return NULL;
}

CK_FUNCTION_LIST *p11_kit_module_load(const char *module_path, int flags)
{
	return NULL;
}

void p11_kit_module_release(CK_FUNCTION_LIST *module)
{
}

CK_RV p11_kit_module_finalize(CK_FUNCTION_LIST *module)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

int p11_kit_module_get_flags(CK_FUNCTION_LIST *module)
{
	return 0;
}

char *p11_kit_module_get_name(CK_FUNCTION_LIST *module)
{
	return NULL;
}

char *p11_kit_config_option(CK_FUNCTION_LIST *module, const char *option)
{
	return NULL;
}

const char *p11_kit_message(void)
{
	return "PKCS#11 is not supported by this build (ferry loads keys from files only)";
}

const char *p11_kit_strerror(CK_RV rv)
{
	return "PKCS#11 is not supported by this build";
}

/* Token labels are space-padded; nothing ever asks, as there are no tokens. */
char *p11_kit_space_strdup(const unsigned char *string, size_t max_length)
{
	return NULL;
}

size_t p11_kit_space_strlen(const unsigned char *string, size_t max_length)
{
	return 0;
}

/* ---- URIs: "pkcs11:..." never parses ---------------------------------------------------- */

P11KitUri *p11_kit_uri_new(void)
{
	return NULL; /* callers treat it as out of memory and fail */
}

void p11_kit_uri_free(P11KitUri *uri)
{
}

int p11_kit_uri_parse(const char *string, P11KitUriType uri_type, P11KitUri *uri)
{
	return P11_KIT_URI_BAD_SCHEME;
}

int p11_kit_uri_format(P11KitUri *uri, P11KitUriType uri_type, char **string)
{
	return P11_KIT_URI_UNEXPECTED;
}

CK_ATTRIBUTE_PTR p11_kit_uri_get_attribute(P11KitUri *uri, CK_ATTRIBUTE_TYPE attr_type)
{
	return NULL;
}

CK_ATTRIBUTE_PTR p11_kit_uri_get_attributes(P11KitUri *uri, CK_ULONG *n_attrs)
{
	if (n_attrs)
		*n_attrs = 0;
	return NULL;
}

int p11_kit_uri_set_attribute(P11KitUri *uri, CK_ATTRIBUTE_PTR attr)
{
	return P11_KIT_URI_UNEXPECTED;
}

CK_INFO_PTR p11_kit_uri_get_module_info(P11KitUri *uri)
{
	return NULL;
}

CK_TOKEN_INFO_PTR p11_kit_uri_get_token_info(P11KitUri *uri)
{
	return NULL;
}

const char *p11_kit_uri_get_pin_source(const P11KitUri *uri)
{
	return NULL;
}

const char *p11_kit_uri_get_pin_value(const P11KitUri *uri)
{
	return NULL;
}

int p11_kit_uri_match_module_info(const P11KitUri *uri, const CK_INFO *info)
{
	return 0;
}

int p11_kit_uri_match_token_info(const P11KitUri *uri, const CK_TOKEN_INFO *token_info)
{
	return 0;
}

/* ---- PINs: none to give ---------------------------------------------------------------- */

P11KitPin *p11_kit_pin_new_for_string(const char *value)
{
	return NULL;
}

P11KitPin *p11_kit_pin_request(const char *pin_source, P11KitUri *pin_uri,
			       const char *pin_description, P11KitPinFlags pin_flags)
{
	return NULL;
}

P11KitPin *p11_kit_pin_file_callback(const char *pin_source, P11KitUri *pin_uri,
				     const char *pin_description, P11KitPinFlags pin_flags,
				     void *callback_data)
{
	return NULL;
}

const unsigned char *p11_kit_pin_get_value(P11KitPin *pin, size_t *length)
{
	if (length)
		*length = 0;
	return NULL;
}

size_t p11_kit_pin_get_length(P11KitPin *pin)
{
	return 0;
}

void p11_kit_pin_unref(P11KitPin *pin)
{
}

int p11_kit_pin_register_callback(const char *pin_source, p11_kit_pin_callback callback,
				  void *callback_data, p11_kit_pin_destroy_func callback_destroy)
{
	return -1;
}

void p11_kit_pin_unregister_callback(const char *pin_source, p11_kit_pin_callback callback,
				     void *callback_data)
{
}
