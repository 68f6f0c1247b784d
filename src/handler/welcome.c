/* The embedded default page: what ferry serves when no root is configured, so that
 * `systemd-socket-activate -l 8080 ferry` shows something at once. */
#include "handler/static.h"

const char welcome_html[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<title>ferry works!</title>\n"
	"<style>\n"
	"body { width: 38em; margin: 3em auto; font-family: sans-serif; line-height: 1.5; }\n"
	"code { background: #eee; padding: 0 .2em; }\n"
	"</style>\n"
	"</head>\n"
	"<body>\n"
	"<h1>ferry works!</h1>\n"
	"<p>This page is served by <b>ferry</b>, a small web server for systemd socket\n"
	"activation and rootless Podman containers. It answers on the socket it was given.</p>\n"
	"<p>To serve your own files, set <code>root /srv/www</code> in ferry.conf or run\n"
	"<code>ferry serve --root DIR</code>. See <code>ferry --help</code>.</p>\n"
	"</body>\n"
	"</html>\n";

const unsigned welcome_html_len = sizeof(welcome_html) - 1;
