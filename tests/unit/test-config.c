/* Tests for src/config/config.c and lexer.c: every directive valid and invalid, the exact error
 * text with line:col, error collection, the lexical rules, number parsing at its limits, site
 * matching, and loading from a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "config/config.h"
#include "test.h"

static struct buf errs;

/* Parse text as "t.conf"; NULL on failure, the errors then in errs. */
static struct config *parse(const char *text)
{
	struct config *c = NULL;

	buf_reset(&errs);
	int r = config_parse("t.conf", text, strlen(text), &c, &errs);
	(void)buf_cstr(&errs);
	return r == 0 ? c : NULL;
}

/* The error text for text, or "(parsed)" when it parsed. */
static const char *parse_err(const char *text)
{
	struct config *c = parse(text);
	if (c) {
		config_free(c);
		return "(parsed)";
	}
	return errs.data;
}

static bool parses(const char *text)
{
	struct config *c = parse(text);
	if (!c)
		fprintf(stderr, "  unexpected errors for <<%s>>:\n%s", text, errs.data);
	config_free(c);
	return c != NULL;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_defaults(void)
{
	struct config *c = config_new_default();
	CHECK(c->path == NULL);
	CHECK_EQ_INT(c->n_listens, 0);
	CHECK_EQ_INT(c->n_sites, 0);
	CHECK_EQ_INT(c->workers, 0);
	CHECK_EQ_INT(c->access_log, CONFIG_LOG_STDERR);
	CHECK(c->access_log_path == NULL);
	CHECK_EQ_INT(c->max_request_line, 8192);
	CHECK_EQ_INT(c->max_header_bytes, 16384);
	CHECK_EQ_INT(c->max_header_fields, 100);
	CHECK_EQ_INT(c->max_connections, 10000);
	CHECK_EQ_INT(c->header_timeout_ms, 10000);
	CHECK_EQ_INT(c->body_timeout_ms, 30000);
	CHECK_EQ_INT(c->keepalive_timeout_ms, 60000);
	CHECK_EQ_INT(c->send_timeout_ms, 30000);
	CHECK_EQ_INT(c->shutdown_timeout_ms, 10000);
	CHECK(config_match_site(c, "example.com", 11) == NULL);
	config_free(c);
	config_free(NULL);

	/* An empty file, and one of only comments and blank lines, give the defaults. */
	c = parse("");
	CHECK(c != NULL);
	if (c) {
		CHECK_STREQ(c->path, "t.conf");
		CHECK_EQ_INT(c->max_header_bytes, 16384);
		CHECK_EQ_INT(c->access_log, CONFIG_LOG_STDERR);
	}
	config_free(c);
	CHECK(parses("# nothing\n\n   \t\n# more\n;;\n"));
	CHECK(parses("\n\n"));

	/* NULL text with length 0, NULL filename and NULL error buffer are all fine. */
	c = NULL;
	CHECK_EQ_INT(config_parse(NULL, NULL, 0, &c, NULL), 0);
	CHECK(c != NULL && c->path == NULL);
	config_free(c);
	c = NULL;
	CHECK_EQ_INT(config_parse(NULL, "bogus", 5, &c, NULL), -EINVAL);
	CHECK(c == NULL);
}

static void test_full_example(void)
{
	static const char text[] = "# comment\n"
				   "listen http                  # inherited sockets\n"
				   "listen 127.0.0.1:8080        # an address\n"
				   "workers 2                    # or \"auto\"\n"
				   "access-log stderr            # off | stderr | /path/to/file\n"
				   "header-timeout 10s\n"
				   "body-timeout 30s\n"
				   "keepalive-timeout 60s\n"
				   "send-timeout 30s\n"
				   "shutdown-timeout 10s\n"
				   "max-request-line 8k\n"
				   "max-header-size 16k\n"
				   "max-header-fields 100\n"
				   "max-connections 10000\n"
				   "site example.com www.example.com {\n"
				   "    root /srv/www\n"
				   "}\n"
				   "site * {                     # the default site\n"
				   "    root /srv/default\n"
				   "}\n";
	struct config *c = parse(text);
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "%s", errs.data);
		return;
	}
	CHECK_EQ_INT(c->n_listens, 2);
	CHECK_STREQ(c->listens[0].spec, "http");
	CHECK(!c->listens[0].is_addr);
	CHECK_EQ_INT(c->listens[0].line, 2);
	CHECK_STREQ(c->listens[1].spec, "127.0.0.1:8080");
	CHECK(c->listens[1].is_addr);
	CHECK_EQ_INT(c->listens[1].addr.family, AF_INET);
	CHECK_EQ_INT(c->listens[1].line, 3);
	CHECK_EQ_INT(c->workers, 2);
	CHECK_EQ_INT(c->access_log, CONFIG_LOG_STDERR);
	CHECK_EQ_INT(c->header_timeout_ms, 10000);
	CHECK_EQ_INT(c->body_timeout_ms, 30000);
	CHECK_EQ_INT(c->keepalive_timeout_ms, 60000);
	CHECK_EQ_INT(c->send_timeout_ms, 30000);
	CHECK_EQ_INT(c->shutdown_timeout_ms, 10000);
	CHECK_EQ_INT(c->max_request_line, 8192);
	CHECK_EQ_INT(c->max_header_bytes, 16384);
	CHECK_EQ_INT(c->max_header_fields, 100);
	CHECK_EQ_INT(c->max_connections, 10000);
	CHECK_EQ_INT(c->n_sites, 2);
	CHECK_EQ_INT(c->sites[0].n_names, 2);
	CHECK_STREQ(c->sites[0].names[0], "example.com");
	CHECK_STREQ(c->sites[0].names[1], "www.example.com");
	CHECK_STREQ(c->sites[0].root, "/srv/www");
	CHECK_EQ_INT(c->sites[0].line, 15);
	CHECK_EQ_INT(c->sites[1].n_names, 1);
	CHECK_STREQ(c->sites[1].names[0], "*");
	CHECK_STREQ(c->sites[1].root, "/srv/default");
	CHECK_EQ_INT(c->sites[1].line, 18);
	config_free(c);
}

static void test_listen(void)
{
	struct config *c = parse("listen http\nlisten https\nlisten 8080\nlisten [::1]:8081\n"
				 "listen unix:/run/ferry.sock\nlisten localhost:8082\n"
				 "listen \"my-socket\"\nlisten a#b\nlisten unknown\n");
	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_INT(c->n_listens, 9);
		CHECK(!c->listens[0].is_addr && !c->listens[1].is_addr);
		CHECK(c->listens[2].is_addr);
		CHECK(c->listens[3].is_addr);
		CHECK_EQ_INT(c->listens[3].addr.family, AF_INET6);
		CHECK(c->listens[4].is_addr);
		CHECK_EQ_INT(c->listens[4].addr.family, AF_UNIX);
		CHECK(c->listens[5].is_addr);
		CHECK_STREQ(c->listens[6].spec, "my-socket");
		CHECK(!c->listens[6].is_addr);
		/* '#' inside a word is part of it. */
		CHECK_STREQ(c->listens[7].spec, "a#b");
		CHECK(!c->listens[8].is_addr);
		CHECK_EQ_INT(c->listens[8].line, 9);
	}
	config_free(c);

	CHECK_STREQ(parse_err("listen 127.0.0.1:99999\n"),
		    "t.conf:1:8: invalid listen address '127.0.0.1:99999'\n");
	CHECK_STREQ(parse_err("listen [::1\n"), "t.conf:1:8: invalid listen address '[::1'\n");
	/* Datagram addresses are for `ferry echo`, which reads the same file. */
	c = parse("listen udp:127.0.0.1:53\nlisten unixgram:/run/echo.sock\n");
	CHECK(c && c->n_listens == 2 && c->listens[0].is_addr &&
	      c->listens[0].addr.type == SOCK_DGRAM);
	config_free(c);
	CHECK_STREQ(parse_err("listen \"a b\"\n"),
		    "t.conf:1:8: 'a b' is neither an address nor a socket name (1 to 255 printable "
		    "ASCII characters, no ':')\n");
	CHECK_STREQ(parse_err("listen \"\"\n"),
		    "t.conf:1:8: '' is neither an address nor a socket name (1 to 255 printable "
		    "ASCII characters, no ':')\n");
	CHECK_STREQ(parse_err("listen caf\xc3\xa9\n"),
		    "t.conf:1:8: 'caf\xc3\xa9' is neither an address nor a socket name (1 to 255 "
		    "printable ASCII characters, no ':')\n");
	CHECK(strstr(parse_err("listen\n"), "t.conf:1:1: 'listen' takes") != NULL);
	CHECK(strstr(parse_err("listen a b c\n"), "t.conf:1:12: 'listen' takes") != NULL);
	CHECK(strstr(parse_err("listen a b c d\n"), "t.conf:1:12: 'listen' takes") != NULL);
	CHECK(strstr(parse_err("listen a b c d e\n"), "t.conf:1:12: 'listen' takes") != NULL);
	CHECK(strstr(parse_err("listen a b c d e f\n"), "t.conf:1:1: 'listen' takes") != NULL);
	CHECK(strstr(parse_err("listen a h2c h2c\n"), "t.conf:1:10: 'h2c' given twice") != NULL);
	/* Flags in any order; h2c: HTTP/2 with prior knowledge. */
	c = parse("listen web 127.0.0.1:8080 h2c proxy-protocol\nlisten 127.0.0.1:81 h2c\n"
		  "listen h2c\n");
	CHECK(c && c->n_listens == 3 && c->listens[0].h2c && c->listens[0].proxy_protocol &&
	      c->listens[0].has_fallback && c->listens[1].h2c && !c->listens[1].proxy_protocol &&
	      !c->listens[2].h2c && !strcmp(c->listens[2].spec, "h2c"));
	config_free(c);
	/* quic: a UDP socket for HTTP/3, named or by its udp: address; no other flag with it. */
	c = parse("listen quic udp:[::]:443 quic\nlisten udp:127.0.0.1:8443 quic\nlisten q2 quic\n"
		  "site a {\n tls /a /b\n}\n");
	CHECK(c && c->n_listens == 3 && c->listens[0].quic && c->listens[0].has_fallback &&
	      c->listens[0].addr.type == SOCK_DGRAM && c->listens[1].quic &&
	      c->listens[1].is_addr && c->listens[2].quic && !c->listens[2].is_addr);
	config_free(c);
	CHECK(strstr(parse_err("listen 127.0.0.1:443 quic\n"),
		     "t.conf:1:8: 'listen ... quic' needs a udp: address") != NULL);
	CHECK(strstr(parse_err("listen q :443 quic\n"), "'listen ... quic' needs a udp: address") !=
	      NULL);
	CHECK(strstr(parse_err("listen udp:127.0.0.1:443 quic tls\n"),
		     "'listen ... quic' takes no other flag") != NULL);
	CHECK(strstr(parse_err("listen q quic proxy-protocol\n"),
		     "'listen ... quic' takes no other flag") != NULL);
	CHECK(strstr(parse_err("listen q quic\nsite a {\n root /srv\n}\n"),
		     "'listen q ... quic' but no site has a certificate") != NULL);
	c = parse("h2-max-streams 7\n");
	CHECK(c && c->h2_max_streams == 7);
	config_free(c);
	c = config_new_default();
	CHECK(c->h2_max_streams == 100);
	config_free(c);
	c = parse("listen web 127.0.0.1:8080 proxy-protocol\nlisten 127.0.0.1:81 proxy-protocol\n"
		  "listen plain\n");
	CHECK(c && c->n_listens == 3 && c->listens[0].proxy_protocol && c->listens[0].has_fallback &&
	      c->listens[1].proxy_protocol && c->listens[1].is_addr && !c->listens[2].proxy_protocol);
	config_free(c);
	/* NAME ADDRESS: the named sockets, else the address. */
	c = parse("listen web 127.0.0.1:8080\n");
	CHECK(c && c->n_listens == 1 && !c->listens[0].is_addr && c->listens[0].has_fallback &&
	      c->listens[0].addr.family == AF_INET);
	if (c)
		CHECK_STREQ(c->listens[0].spec, "web");
	config_free(c);
	CHECK_STREQ(parse_err("listen web nowhere\n"),
		    "t.conf:1:12: invalid listen address 'nowhere'\n");
	CHECK(strstr(parse_err("listen 127.0.0.1:1 127.0.0.1:2\n"), "must be a socket name") != NULL);

	/* Names: 255 characters are fine, 256 are not (and the message is cut short). */
	char text[400];
	memcpy(text, "listen ", 7);
	memset(text + 7, 'n', 255);
	strcpy(text + 7 + 255, "\n");
	CHECK(parses(text));
	strcpy(text + 7 + 255, "n\n");
	CHECK_STREQ(parse_err(text),
		    "t.conf:1:8: "
		    "'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...'"
		    " is neither an address nor a socket name (1 to 255 printable "
		    "ASCII characters, no ':')\n");

	/* Duplicates, also when spelled differently but meaning the same address. */
	CHECK_STREQ(parse_err("listen http\nlisten http\n"),
		    "t.conf:2:8: duplicate 'listen http' (first at line 1)\n");
	CHECK_STREQ(parse_err("listen 127.0.0.1:80\n\nlisten localhost:80\n"),
		    "t.conf:3:8: duplicate 'listen localhost:80' (first at line 1)\n");
	CHECK(parses("listen 127.0.0.1:80\nlisten 127.0.0.1:81\nlisten http\nlisten HTTP\n"));

	CHECK_STREQ(
	    parse_err("site * {\n\tlisten http\n}\n"),
	    "t.conf:2:2: 'listen' is not allowed inside a site block (only at top level)\n");
}

static void test_workers(void)
{
	struct config *c = parse("workers auto\n");
	CHECK(c && c->workers == 0);
	config_free(c);
	c = parse("workers 1024\n");
	CHECK(c && c->workers == 1024);
	config_free(c);
	c = parse("workers 1\n");
	CHECK(c && c->workers == 1);
	config_free(c);

	CHECK_STREQ(parse_err("workers 0\n"),
		    "t.conf:1:9: 'workers' must be between 1 and 1024, or auto\n");
	CHECK_STREQ(parse_err("workers 1025\n"),
		    "t.conf:1:9: 'workers' must be between 1 and 1024, or auto\n");
	CHECK_STREQ(parse_err("workers 99999999999999999999999999\n"),
		    "t.conf:1:9: 'workers' must be between 1 and 1024, or auto\n");
	CHECK_STREQ(parse_err("workers two\n"),
		    "t.conf:1:9: invalid number 'two' for 'workers' (a count or auto)\n");
	CHECK_STREQ(parse_err("workers -1\n"),
		    "t.conf:1:9: invalid number '-1' for 'workers' (a count or auto)\n");
	CHECK_STREQ(parse_err("workers AUTO\n"),
		    "t.conf:1:9: invalid number 'AUTO' for 'workers' (a count or auto)\n");
	CHECK_STREQ(parse_err("workers\n"),
		    "t.conf:1:1: 'workers' takes 1 argument: workers COUNT|auto\n");
	CHECK_STREQ(parse_err("workers 1 2\n"),
		    "t.conf:1:1: 'workers' takes 1 argument: workers COUNT|auto\n");
	CHECK_STREQ(parse_err("workers 2\n# x\n  workers 3\n"),
		    "t.conf:3:3: duplicate 'workers' (first at line 1)\n");
}

static void test_access_log(void)
{
	struct config *c = parse("access-log off\n");
	CHECK(c && c->access_log == CONFIG_LOG_OFF && !c->access_log_path);
	config_free(c);
	c = parse("access-log stderr\n");
	CHECK(c && c->access_log == CONFIG_LOG_STDERR);
	config_free(c);
	c = parse("access-log /var/log/ferry/access.log\n");
	CHECK(c && c->access_log == CONFIG_LOG_FILE);
	if (c)
		CHECK_STREQ(c->access_log_path, "/var/log/ferry/access.log");
	config_free(c);
	c = parse("access-log \"/var/log/my logs/a.log\"\n");
	CHECK(c && c->access_log == CONFIG_LOG_FILE);
	if (c)
		CHECK_STREQ(c->access_log_path, "/var/log/my logs/a.log");
	config_free(c);

	CHECK_STREQ(parse_err("access-log access.log\n"),
		    "t.conf:1:12: 'access-log' takes off, stderr or an absolute path, not "
		    "'access.log'\n");
	CHECK_STREQ(parse_err("access-log Off\n"),
		    "t.conf:1:12: 'access-log' takes off, stderr or an absolute path, not 'Off'\n");
	CHECK_STREQ(parse_err("access-log off\naccess-log /a\n"),
		    "t.conf:2:1: duplicate 'access-log' (first at line 1)\n");
	CHECK_STREQ(parse_err("access-log\n"),
		    "t.conf:1:1: 'access-log' takes 1 to 3 arguments: access-log "
		    "off|stderr|PATH [format combined|json]\n");
	/* format json */
	CHECK_STREQ(parse_err("access-log /a format xml\n"),
		    "t.conf:1:22: unknown access-log format 'xml' (combined or json)\n");
	CHECK_STREQ(parse_err("access-log off format json\n"),
		    "t.conf:1:16: 'access-log off' takes no format\n");
	c = NULL;
	CHECK_EQ_INT(config_parse("t.conf", "access-log /a format json\n", 26, &c, NULL), 0);
	CHECK(c && c->access_log == CONFIG_LOG_FILE && c->access_log_format == CONFIG_LOG_JSON);
	config_free(c);
	c = NULL;
	CHECK_EQ_INT(config_parse("t.conf", "access-log stderr\n", 18, &c, NULL), 0);
	CHECK(c && c->access_log_format == CONFIG_LOG_COMBINED);
	config_free(c);
}

static void test_timeouts(void)
{
	struct config *c = parse("header-timeout 500ms\nbody-timeout 2m\nkeepalive-timeout 0\n"
				 "send-timeout 1h\nshutdown-timeout 0s\n");
	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_INT(c->header_timeout_ms, 500);
		CHECK_EQ_INT(c->body_timeout_ms, 120000);
		CHECK_EQ_INT(c->keepalive_timeout_ms, 0);
		CHECK_EQ_INT(c->send_timeout_ms, 3600000);
		CHECK_EQ_INT(c->shutdown_timeout_ms, 0);
	}
	config_free(c);
	c = parse("header-timeout 1ms\nbody-timeout 24h\nsend-timeout 86400\n");
	CHECK(c && c->header_timeout_ms == 1 && c->body_timeout_ms == 86400000 &&
	      c->send_timeout_ms == 86400000);
	config_free(c);

	/* 0 only where it means something (keep-alive off, immediate stop). */
	CHECK_STREQ(parse_err("header-timeout 0\n"),
		    "t.conf:1:16: 'header-timeout' must be between 1ms and 24h\n");
	CHECK_STREQ(parse_err("body-timeout 0ms\n"),
		    "t.conf:1:14: 'body-timeout' must be between 1ms and 24h\n");
	CHECK_STREQ(parse_err("send-timeout 0\n"),
		    "t.conf:1:14: 'send-timeout' must be between 1ms and 24h\n");
	CHECK_STREQ(parse_err("keepalive-timeout 86401s\n"),
		    "t.conf:1:19: 'keepalive-timeout' must be between 0 and 24h\n");
	CHECK_STREQ(parse_err("shutdown-timeout 25h\n"),
		    "t.conf:1:18: 'shutdown-timeout' must be between 0 and 24h\n");
	/* Too large for the parser itself: still a range error, not a syntax error. */
	CHECK_STREQ(parse_err("header-timeout 99999999999999999999999h\n"),
		    "t.conf:1:16: 'header-timeout' must be between 1ms and 24h\n");
	CHECK_STREQ(parse_err("header-timeout 10x\n"),
		    "t.conf:1:16: invalid duration '10x' for 'header-timeout' (examples: 500ms, "
		    "10s, 2m, 1h)\n");
	CHECK_STREQ(parse_err("header-timeout 1.5s\n"),
		    "t.conf:1:16: invalid duration '1.5s' for 'header-timeout' (examples: 500ms, "
		    "10s, 2m, 1h)\n");
	CHECK_STREQ(parse_err("header-timeout \"\"\n"),
		    "t.conf:1:16: invalid duration '' for 'header-timeout' (examples: 500ms, 10s, "
		    "2m, 1h)\n");
	CHECK_STREQ(parse_err("header-timeout 10 s\n"),
		    "t.conf:1:1: 'header-timeout' takes 1 argument: header-timeout DURATION\n");
	CHECK_STREQ(parse_err("body-timeout 1s\nbody-timeout 2s\n"),
		    "t.conf:2:1: duplicate 'body-timeout' (first at line 1)\n");
}

static void test_sizes(void)
{
	struct config *c = parse("max-request-line 256\nmax-header-size 1k\n");
	CHECK(c && c->max_request_line == 256 && c->max_header_bytes == 1024);
	config_free(c);
	c = parse("max-request-line 1MiB\nmax-header-size 1M\n");
	CHECK(c && c->max_request_line == 1048576 && c->max_header_bytes == 1048576);
	config_free(c);
	c = parse("max-request-line 4KiB\nmax-header-size 1048576\n");
	CHECK(c && c->max_request_line == 4096 && c->max_header_bytes == 1048576);
	config_free(c);

	CHECK_STREQ(parse_err("max-request-line 255\n"),
		    "t.conf:1:18: 'max-request-line' must be between 256 and 1 MiB\n");
	CHECK_STREQ(parse_err("max-request-line 1025k\n"),
		    "t.conf:1:18: 'max-request-line' must be between 256 and 1 MiB\n");
	CHECK_STREQ(parse_err("max-header-size 1023\n"),
		    "t.conf:1:17: 'max-header-size' must be between 1 KiB and 1 MiB\n");
	CHECK_STREQ(parse_err("max-header-size 99999999999999999999G\n"),
		    "t.conf:1:17: 'max-header-size' must be between 1 KiB and 1 MiB\n");
	CHECK_STREQ(parse_err("max-header-size 8kb\n"),
		    "t.conf:1:17: invalid size '8kb' for 'max-header-size' (examples: 512, 8k, "
		    "1M)\n");
	CHECK_STREQ(
	    parse_err("max-header-size k\n"),
	    "t.conf:1:17: invalid size 'k' for 'max-header-size' (examples: 512, 8k, 1M)\n");

	/* The head must be able to hold the request line: reported at max-header-size when it
	 * was written, else at max-request-line. */
	CHECK_STREQ(parse_err("max-request-line 32k\n"),
		    "t.conf:1:1: max-header-size (16384) must be at least max-request-line "
		    "(32768)\n");
	CHECK_STREQ(
	    parse_err("max-request-line 4k\n  max-header-size 2k\n"),
	    "t.conf:2:3: max-header-size (2048) must be at least max-request-line (4096)\n");
	CHECK_STREQ(
	    parse_err("max-header-size 2k\n"),
	    "t.conf:1:1: max-header-size (2048) must be at least max-request-line (8192)\n");
	CHECK(parses("max-request-line 16k\nmax-header-size 16k\n"));

	c = parse("max-header-fields 1\nmax-connections 1\n");
	CHECK(c && c->max_header_fields == 1 && c->max_connections == 1);
	config_free(c);
	c = parse("max-header-fields 256\nmax-connections 1000000\n");
	CHECK(c && c->max_header_fields == 256 && c->max_connections == 1000000);
	config_free(c);
	CHECK_STREQ(parse_err("max-header-fields 0\n"),
		    "t.conf:1:19: 'max-header-fields' must be between 1 and 256\n");
	CHECK_STREQ(parse_err("max-header-fields 257\n"),
		    "t.conf:1:19: 'max-header-fields' must be between 1 and 256\n");
	CHECK_STREQ(parse_err("max-connections 0\n"),
		    "t.conf:1:17: 'max-connections' must be between 1 and 1000000\n");
	CHECK_STREQ(parse_err("max-connections 1000001\n"),
		    "t.conf:1:17: 'max-connections' must be between 1 and 1000000\n");
	CHECK_STREQ(parse_err("max-connections 18446744073709551616\n"),
		    "t.conf:1:17: 'max-connections' must be between 1 and 1000000\n");
	CHECK_STREQ(parse_err("max-connections 10k\n"),
		    "t.conf:1:17: invalid number '10k' for 'max-connections'\n");
}

static void test_sites(void)
{
	struct config *c = parse("site Example.COM WWW.example.com. *.Example.com [::1] "
				 "[2001:DB8::1] 192.0.2.1 my_host {\n}\n"
				 "site * {\n\troot /srv/default\n}\n"
				 "site *.x.example.com {}\n");
	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_INT(c->n_sites, 3);
		CHECK_EQ_INT(c->sites[0].n_names, 7);
		CHECK_STREQ(c->sites[0].names[0], "example.com");
		CHECK_STREQ(c->sites[0].names[1], "www.example.com");
		CHECK_STREQ(c->sites[0].names[2], "*.example.com");
		CHECK_STREQ(c->sites[0].names[3], "[::1]");
		CHECK_STREQ(c->sites[0].names[4], "[2001:db8::1]");
		CHECK_STREQ(c->sites[0].names[5], "192.0.2.1");
		CHECK_STREQ(c->sites[0].names[6], "my_host");
		CHECK(c->sites[0].root == NULL);
		CHECK_STREQ(c->sites[1].root, "/srv/default");
		CHECK_EQ_INT(c->sites[2].line, 6);
	}
	config_free(c);

	static const char *const bad[] = {
	    "a..b", "-a.com",  "a-.com", "*.*.com", "a*.com",	       "*a.com", "**", "*.",
	    "[::1", "[zz::1]", "[]",	 "a/b",	    "caf\xc3\xa9.com", ".",	 "..", "[1.2.3.4]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128], want[256];
		snprintf(text, sizeof(text), "site \"%s\" {\n}\n", bad[i]);
		snprintf(want, sizeof(want),
			 "t.conf:1:6: invalid site name '%s' (a host name, [IPv6 address], '*' or "
			 "'*.domain')\n",
			 bad[i]);
		CHECK_STREQ(parse_err(text), want);
	}
	char label[200];
	snprintf(label, sizeof(label), "site %.63s.com {}\n",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	CHECK(parses(label));
	snprintf(label, sizeof(label), "site %.64s.com {}\n",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	CHECK(strstr(parse_err(label), "invalid site name") != NULL);

	CHECK_STREQ(parse_err("site example.com:8080 {\n}\n"),
		    "t.conf:1:6: site name 'example.com:8080' has a port: sites match any port\n");
	CHECK_STREQ(parse_err("site a.com {\n}\nsite b.com A.com {\n}\n"),
		    "t.conf:3:12: site name 'A.com' is already used by the site at line 1\n");
	CHECK_STREQ(parse_err("site * {\n}\nsite * {\n}\n"),
		    "t.conf:3:6: site name '*' is already used by the site at line 1\n");
	CHECK_STREQ(parse_err("site a.com a.com. {\n}\n"),
		    "t.conf:1:12: site name 'a.com.' is listed twice\n");
	CHECK_STREQ(parse_err("site {\n\troot /x\n}\n"),
		    "t.conf:1:1: 'site' takes at least 1 argument: site NAME... { ... }\n");
	/* A bad name does not hide errors in the body. */
	CHECK_STREQ(parse_err("site a..b {\n\troot x\n}\n"),
		    "t.conf:1:6: invalid site name 'a..b' (a host name, [IPv6 address], '*' or "
		    "'*.domain')\n"
		    "t.conf:2:7: 'root' needs an absolute path, not 'x'\n");

	/* `{` belongs on the directive's line: one error, the orphan block is skipped. */
	CHECK_STREQ(parse_err("site a.com\n{\n\troot /x\n}\nworkers 2\n"),
		    "t.conf:1:1: 'site' needs a block opened on the same line: site NAME... { ... "
		    "}\n");
	CHECK_STREQ(parse_err("site a.com\n"),
		    "t.conf:1:1: 'site' needs a block opened on the same line: site NAME... { ... "
		    "}\n");
	CHECK_STREQ(parse_err("site * {\n\tsite a {\n\t}\n}\n"),
		    "t.conf:2:2: 'site' is not allowed inside a site block (only at top level)\n");
}

static void test_root(void)
{
	struct config *c = parse("site * {\n\troot \"/srv/my site\"\n}\nsite a { root /a }\n"
				 "site b { root / ; }\n");
	CHECK(c != NULL);
	if (c) {
		CHECK_STREQ(c->sites[0].root, "/srv/my site");
		CHECK_STREQ(c->sites[1].root, "/a");
		CHECK_STREQ(c->sites[2].root, "/");
	}
	config_free(c);
	/* Existence is not checked while parsing. */
	CHECK(parses("site * {\n\troot /does/not/exist/at/all\n}\n"));

	CHECK_STREQ(parse_err("site * {\n\troot srv/www\n}\n"),
		    "t.conf:2:7: 'root' needs an absolute path, not 'srv/www'\n");
	CHECK_STREQ(parse_err("site * {\n\troot \"\"\n}\n"),
		    "t.conf:2:7: 'root' needs an absolute path, not ''\n");
	CHECK_STREQ(parse_err("site * {\n\troot /a\n\troot /b\n}\n"),
		    "t.conf:3:2: duplicate 'root' (first at line 2)\n");
	/* The duplicate check is per block. */
	CHECK(parses("site a {\n\troot /a\n}\nsite b {\n\troot /b\n}\n"));
	CHECK_STREQ(parse_err("root /srv\n"),
		    "t.conf:1:1: 'root' is not allowed at top level (only inside a site block)\n");
	CHECK_STREQ(parse_err("site * {\n\troot\n}\n"),
		    "t.conf:2:2: 'root' takes 1 argument: root PATH\n");
	CHECK_STREQ(
	    parse_err("site * {\n\tworkers 2\n}\n"),
	    "t.conf:2:2: 'workers' is not allowed inside a site block (only at top level)\n");
}

static void test_syntax(void)
{
	struct config *c;

	/* Quoting: escapes \" and \\ only. */
	c = parse("site * {\n\troot \"/a\\\"b\\\\c d\"\n}\n");
	CHECK(c != NULL);
	if (c)
		CHECK_STREQ(c->sites[0].root, "/a\"b\\c d");
	config_free(c);
	c = parse("site * {\n\troot \"/a#b\" # a comment\n}\n");
	CHECK(c && strcmp(c->sites[0].root, "/a#b") == 0);
	config_free(c);
	/* A quoted directive name works like a bare one. */
	CHECK(parses("\"workers\" 2\n"));
	CHECK_STREQ(parse_err("site * {\n\troot \"/a\\nb\"\n}\n"),
		    "t.conf:2:10: unknown escape '\\n' in string (only \\\" and \\\\)\n");
	CHECK_STREQ(parse_err("site * {\n\troot \"/a\n}\n"), "t.conf:2:7: unterminated string\n");
	CHECK_STREQ(parse_err("workers \"2"), "t.conf:1:9: unterminated string\n");
	CHECK_STREQ(parse_err("workers \"2\x01\"\n"),
		    "t.conf:1:11: invalid character 0x01 in string\n");
	CHECK_STREQ(parse_err("workers 2\x01\n"), "t.conf:1:10: invalid character 0x01\n");
	CHECK_STREQ(parse_err("listen a\"b\"\n"),
		    "t.conf:1:9: '\"' inside a word: quote the whole argument\n");
	CHECK_STREQ(parse_err("listen \"a\"b\n"),
		    "t.conf:1:11: missing space after a quoted string\n");
	CHECK_STREQ(parse_err("listen \"a\"\"b\"\n"),
		    "t.conf:1:11: missing space after a quoted string\n");

	/* '#' starts a comment only at the start of a token. */
	c = parse("listen a#b#c # comment # more\nlisten x;# also a comment\n");
	CHECK(c && c->n_listens == 2 && strcmp(c->listens[0].spec, "a#b#c") == 0);
	config_free(c);

	/* ';' separates directives like a newline; empty statements are fine. */
	c = parse("workers 2; max-connections 5;; access-log off ;\n;");
	CHECK(c && c->workers == 2 && c->max_connections == 5 && c->access_log == CONFIG_LOG_OFF);
	config_free(c);
	CHECK_STREQ(parse_err("workers; 2\n"),
		    "t.conf:1:1: 'workers' takes 1 argument: workers COUNT|auto\n"
		    "t.conf:1:10: unknown directive '2'\n");

	/* One-line blocks, '}' closing the last directive, and CRLF line ends. */
	c = parse("site a{root /a}site b {root /b;}\r\nworkers 3\r\n");
	CHECK(c && c->n_sites == 2 && c->workers == 3);
	if (c)
		CHECK_STREQ(c->sites[1].root, "/b");
	config_free(c);
	c = parse("site * {\r\n\troot /x\r\n}\r\n");
	CHECK(c && strcmp(c->sites[0].root, "/x") == 0);
	config_free(c);

	/* Braces. */
	CHECK_STREQ(parse_err("workers 2\n}\n"), "t.conf:2:1: unexpected '}'\n");
	CHECK_STREQ(parse_err("site a {\n\troot /a\n"),
		    "t.conf:3:1: missing '}' for the block opened at 1:8\n");
	CHECK_STREQ(parse_err("site a {\n\troot /a"),
		    "t.conf:2:9: missing '}' for the block opened at 1:8\n");
	CHECK_STREQ(parse_err("{\n}\n"),
		    "t.conf:1:1: unexpected '{' (a block opens on its directive's line)\n");
	CHECK_STREQ(parse_err("workers 2 {\n}\n"), "t.conf:1:1: 'workers' does not take a block\n");

	/* An unknown block is skipped whole: no errors from inside it. */
	CHECK_STREQ(parse_err("server {\n\tlisten 80;\n\tlocation / {\n\t}\n}\nworkers 0\n"),
		    "t.conf:1:1: unknown directive 'server'\n"
		    "t.conf:6:9: 'workers' must be between 1 and 1024, or auto\n");
	CHECK_STREQ(parse_err("bogus {\n\t{ {\n"),
		    "t.conf:1:1: unknown directive 'bogus'\n"
		    "t.conf:3:1: missing '}' for the block opened at 1:7\n");
	CHECK_STREQ(parse_err("worker 2\n"), "t.conf:1:1: unknown directive 'worker'\n");
	/* Messages quote user text with control characters and broken or C1 UTF-8 escaped. */
	CHECK_STREQ(parse_err("\xff\xfe 2\n"), "t.conf:1:1: unknown directive '\\xff\\xfe'\n");
	CHECK_STREQ(parse_err("\"a\tb\xc2\x9b\xc3\xa9\xe2\x82\" 2\n"),
		    "t.conf:1:1: unknown directive 'a\\x09b\\xc2\\x9b\xc3\xa9\\xe2\\x82'\n");
	CHECK_STREQ(parse_err("\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xf0\x9f\x98\x80\n"),
		    "t.conf:1:1: unknown directive "
		    "'\\xc0\\xaf\\xed\\xa0\\x80\\xf4\\x90\\x80\\x80\xf0\x9f\x98\x80'\n");
	/* A lexer error is reported once, not again as a duplicate or a wrong count. */
	CHECK_STREQ(parse_err("site * {\n\troot \"/a\\q\"\n\troot \"/b\n}\n"),
		    "t.conf:2:10: unknown escape '\\q' in string (only \\\" and \\\\)\n"
		    "t.conf:3:7: unterminated string\n");
	CHECK_STREQ(parse_err("Workers 2\n"), "t.conf:1:1: unknown directive 'Workers'\n");

	/* NUL bytes and size. */
	CHECK_EQ_INT(config_parse("t.conf", "workers 2\n\0x", 12, &c, &errs), -EINVAL);
	buf_reset(&errs);
	CHECK_EQ_INT(config_parse("t.conf", "workers 2\nab\0x", 14, &c, &errs), -EINVAL);
	(void)buf_cstr(&errs);
	CHECK_STREQ(errs.data, "t.conf:2:3: NUL byte in the configuration\n");

	size_t big = CONFIG_MAX_BYTES + 1;
	char *text = malloc(big);
	memset(text, '\n', big);
	buf_reset(&errs);
	CHECK_EQ_INT(config_parse("t.conf", text, big, &c, &errs), -EINVAL);
	(void)buf_cstr(&errs);
	CHECK_STREQ(errs.data, "t.conf: larger than 64 MiB\n");
	c = NULL;
	CHECK_EQ_INT(config_parse("t.conf", text, big - 1, &c, &errs), 0);
	config_free(c);
	free(text);
}

static void test_many_errors(void)
{
	/* Independent mistakes all show up, in file order. */
	CHECK_STREQ(
	    parse_err("workers 0\n"
		      "listen http\n"
		      "bogus\n"
		      "site a..b {\n"
		      "\troot rel\n"
		      "\tworkers 2\n"
		      "}\n"
		      "header-timeout 5x\n"
		      "listen http\n"
		      "}\n"),
	    "t.conf:1:9: 'workers' must be between 1 and 1024, or auto\n"
	    "t.conf:3:1: unknown directive 'bogus'\n"
	    "t.conf:4:6: invalid site name 'a..b' (a host name, [IPv6 address], '*' or "
	    "'*.domain')\n"
	    "t.conf:5:7: 'root' needs an absolute path, not 'rel'\n"
	    "t.conf:6:2: 'workers' is not allowed inside a site block (only at top level)\n"
	    "t.conf:8:16: invalid duration '5x' for 'header-timeout' (examples: 500ms, 10s, "
	    "2m, 1h)\n"
	    "t.conf:9:8: duplicate 'listen http' (first at line 2)\n"
	    "t.conf:10:1: unexpected '}'\n");

	/* But not without end. */
	struct buf text;
	buf_init(&text, 1 << 20);
	for (int i = 0; i < 150; i++)
		(void)buf_printf(&text, "bogus%d\n", i);
	(void)buf_cstr(&text);
	const char *e = parse_err(text.data);
	CHECK_EQ_INT(count_lines(e), CONFIG_MAX_ERRORS + 1);
	const char *last = strstr(e, "t.conf:101:1: too many errors\n");
	CHECK(last != NULL && last[strlen("t.conf:101:1: too many errors\n")] == '\0');
	buf_free(&text);

	/* Binary garbage (no NUL) ends the same way, quickly. */
	buf_init(&text, 1 << 20);
	for (int i = 0; i < 5000; i++)
		(void)buf_append(&text, "\x01\x02{\"\\", 5);
	CHECK_EQ_INT(config_parse("t.conf", text.data, text.len, &(struct config *){NULL}, NULL),
		     -EINVAL);
	buf_free(&text);
}

static void test_parse_duration(void)
{
	static const struct {
		const char *s;
		int r;
		uint32_t ms;
	} cases[] = {
	    {"0", 0, 0},
	    {"10", 0, 10000},
	    {"10s", 0, 10000},
	    {"500ms", 0, 500},
	    {"2m", 0, 120000},
	    {"1h", 0, 3600000},
	    {"007s", 0, 7000},
	    {"4294967295ms", 0, UINT32_MAX},
	    {"4294967296ms", -ERANGE, 0},
	    {"4294967s", 0, 4294967000u},
	    {"4294968s", -ERANGE, 0},
	    {"4294967", 0, 4294967000u},
	    {"71582m", 0, 4294920000u},
	    {"71583m", -ERANGE, 0},
	    {"1193h", 0, 4294800000u},
	    {"1194h", -ERANGE, 0},
	    {"99999999999999999999999999ms", -ERANGE, 0},
	    {"18446744073709551616h", -ERANGE, 0},
	    {"", -EINVAL, 0},
	    {"s", -EINVAL, 0},
	    {"ms", -EINVAL, 0},
	    {"10 s", -EINVAL, 0},
	    {" 10s", -EINVAL, 0},
	    {"10s ", -EINVAL, 0},
	    {"-1", -EINVAL, 0},
	    {"+1", -EINVAL, 0},
	    {"10S", -EINVAL, 0},
	    {"10sec", -EINVAL, 0},
	    {"1.5s", -EINVAL, 0},
	    {"1d", -EINVAL, 0},
	    {"1hh", -EINVAL, 0},
	    {"0x10", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t ms = 12345;
		int r = config_parse_duration_ms(cases[i].s, &ms);
		if (r != cases[i].r)
			fprintf(stderr, "  duration '%s'\n", cases[i].s);
		CHECK_EQ_INT(r, cases[i].r);
		CHECK_EQ_INT(ms, r == 0 ? cases[i].ms : 12345); /* untouched on failure */
	}
	uint32_t ms;
	CHECK_EQ_INT(config_parse_duration_ms(NULL, &ms), -EINVAL);
}

static void test_parse_size(void)
{
	static const struct {
		const char *s;
		int r;
		size_t n;
	} cases[] = {
	    {"0", 0, 0},
	    {"512", 0, 512},
	    {"8k", 0, 8192},
	    {"8K", 0, 8192},
	    {"8KiB", 0, 8192},
	    {"1m", 0, 1048576},
	    {"1M", 0, 1048576},
	    {"1MiB", 0, 1048576},
	    {"2g", 0, (size_t)2 << 30},
	    {"2GiB", 0, (size_t)2 << 30},
	    {"18446744073709551615", 0, SIZE_MAX},
	    {"18446744073709551616", -ERANGE, 0},
	    {"18014398509481983k", 0, SIZE_MAX - 1023},
	    {"18014398509481984k", -ERANGE, 0},
	    {"17179869183G", 0, (size_t)17179869183u << 30},
	    {"17179869184G", -ERANGE, 0},
	    {"99999999999999999999999999999", -ERANGE, 0},
	    {"", -EINVAL, 0},
	    {"k", -EINVAL, 0},
	    {"8kb", -EINVAL, 0},
	    {"8kib", -EINVAL, 0},
	    {"8KB", -EINVAL, 0},
	    {"8 k", -EINVAL, 0},
	    {"-8", -EINVAL, 0},
	    {"1.5M", -EINVAL, 0},
	    {"1T", -EINVAL, 0},
	    {"8b", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 777;
		int r = config_parse_size(cases[i].s, &n);
		if (r != cases[i].r)
			fprintf(stderr, "  size '%s'\n", cases[i].s);
		CHECK_EQ_INT(r, cases[i].r);
		CHECK(n == (r == 0 ? cases[i].n : 777));
	}
	size_t n;
	CHECK_EQ_INT(config_parse_size(NULL, &n), -EINVAL);
}

static const char *match(const struct config *c, const char *host)
{
	const struct config_site *s = config_match_site(c, host, host ? strlen(host) : 0);
	return s ? s->root : "(none)";
}

static void test_match(void)
{
	/* The wildcard sites come first so that order cannot be what makes exact names win. */
	struct config *c = parse("site *.example.com { root /wild }\n"
				 "site *.b.example.com { root /wild-b }\n"
				 "site example.com www.example.com { root /exact }\n"
				 "site a.b.example.com { root /exact-ab }\n"
				 "site [::1] 127.0.0.1 { root /local }\n"
				 "site [2001:db8::1] { root /v6 }\n"
				 "site * { root /default }\n");
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "%s", errs.data);
		return;
	}
	CHECK_STREQ(match(c, "example.com"), "/exact");
	CHECK_STREQ(match(c, "www.example.com"), "/exact");
	CHECK_STREQ(match(c, "WWW.Example.COM"), "/exact");
	CHECK_STREQ(match(c, "www.example.com."), "/exact");
	CHECK_STREQ(match(c, "www.example.com:8080"), "/exact");
	CHECK_STREQ(match(c, "www.example.com.:8080"), "/exact");
	CHECK_STREQ(match(c, "www.example.com.."), "/default");
	CHECK_STREQ(match(c, "a.example.com"), "/wild");
	CHECK_STREQ(match(c, "x.y.example.com"), "/wild");
	CHECK_STREQ(match(c, "A.Example.Com:443"), "/wild");
	CHECK_STREQ(match(c, "c.b.example.com"), "/wild-b");
	CHECK_STREQ(match(c, "b.example.com"), "/wild");
	CHECK_STREQ(match(c, "a.b.example.com"), "/exact-ab");
	CHECK_STREQ(match(c, "x.a.b.example.com"), "/wild-b");
	CHECK_STREQ(match(c, ".example.com"), "/default");
	CHECK_STREQ(match(c, "example.org"), "/default");
	CHECK_STREQ(match(c, "xexample.com"), "/default");
	CHECK_STREQ(match(c, "ample.com"), "/default");
	CHECK_STREQ(match(c, "[::1]"), "/local");
	CHECK_STREQ(match(c, "[::1]:8080"), "/local");
	CHECK_STREQ(match(c, "[2001:DB8::1]:80"), "/v6");
	CHECK_STREQ(match(c, "[2001:db8::2]:80"), "/default");
	CHECK_STREQ(match(c, "[::1"), "/default");
	CHECK_STREQ(match(c, "127.0.0.1:80"), "/local");
	CHECK_STREQ(match(c, "127.0.0.1"), "/local");
	CHECK_STREQ(match(c, ""), "/default");
	CHECK_STREQ(match(c, ":80"), "/default");
	CHECK_STREQ(match(c, "."), "/default");
	CHECK_STREQ(match(c, NULL), "/default");
	/* Only len bytes count. */
	CHECK(config_match_site(c, "example.community", 11) == &c->sites[2]);
	config_free(c);

	/* Without a "*" site, an unknown host matches nothing. */
	c = parse("site example.com { root /exact }\nsite *.example.net { root /wild }\n");
	CHECK(c != NULL);
	if (c) {
		CHECK_STREQ(match(c, "example.com"), "/exact");
		CHECK_STREQ(match(c, "a.example.net"), "/wild");
		CHECK_STREQ(match(c, "example.net"), "(none)");
		CHECK_STREQ(match(c, "other.org"), "(none)");
		CHECK_STREQ(match(c, ""), "(none)");
	}
	config_free(c);
	CHECK(config_match_site(NULL, "x", 1) == NULL);
}

static void test_load(void)
{
	char dir[] = "/tmp/test-config.XXXXXX";
	char path[64];
	struct config *c = NULL;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ferry.conf", dir);

	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	static const char text[] = "workers 3\nsite * {\n\troot /srv\n}\n";
	CHECK_EQ_INT(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	buf_reset(&errs);
	CHECK_EQ_INT(config_load(path, &c, &errs), 0);
	CHECK(c && c->workers == 3 && c->n_sites == 1);
	if (c)
		CHECK_STREQ(c->path, path);
	config_free(c);

	/* Errors name the file. */
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "workers 0\n", 10) == 10);
	close(fd);
	buf_reset(&errs);
	c = NULL;
	CHECK_EQ_INT(config_load(path, &c, &errs), -EINVAL);
	CHECK(c == NULL);
	(void)buf_cstr(&errs);
	char want[256];
	snprintf(want, sizeof(want), "%s:1:9: 'workers' must be between 1 and 1024, or auto\n",
		 path);
	CHECK_STREQ(errs.data, want);

	/* Exactly the limit is fine; one byte more is not. */
	char *big = malloc(CONFIG_MAX_BYTES + 1);
	memset(big, '#', CONFIG_MAX_BYTES + 1);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK_EQ_INT(write(fd, big, CONFIG_MAX_BYTES), CONFIG_MAX_BYTES);
	close(fd);
	buf_reset(&errs);
	CHECK_EQ_INT(config_load(path, &c, &errs), 0);
	config_free(c);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "#", 1) == 1);
	close(fd);
	buf_reset(&errs);
	CHECK_EQ_INT(config_load(path, &c, &errs), -EINVAL);
	(void)buf_cstr(&errs);
	snprintf(want, sizeof(want), "%s: larger than 64 MiB\n", path);
	CHECK_STREQ(errs.data, want);
	free(big);

	/* I/O errors. */
	unlink(path);
	buf_reset(&errs);
	CHECK_EQ_INT(config_load(path, &c, &errs), -ENOENT);
	(void)buf_cstr(&errs);
	snprintf(want, sizeof(want), "%s: No such file or directory\n", path);
	CHECK_STREQ(errs.data, want);
	buf_reset(&errs);
	CHECK_EQ_INT(config_load(dir, &c, &errs), -EISDIR);
	(void)buf_cstr(&errs);
	snprintf(want, sizeof(want), "%s: Is a directory\n", dir);
	CHECK_STREQ(errs.data, want);
	rmdir(dir);
}

/* The proxy a request for path gets in site s (NULL: served from a root). */
static const struct config_proxy *proxy_for(const struct config_site *s, const char *path)
{
	return config_route_proxy(s, config_match_path(s, path, strlen(path)));
}

static void test_proxy(void)
{
	struct config *c = parse("trusted-proxies 10.0.0.0/8 ::1\nresolver 10.89.0.1\n"
				 "proxy-timeout 2s\n"
				 "site a {\n proxy http://App:8080 unix:/run/a.sock http://[::1]:81/\n"
				 " proxy-protocol v2\n}\n"
				 "site b {\n root /srv\n path /api/ {\n  proxy http://10.0.0.5\n }\n"
				 " path /api/v2/ {\n  proxy http://{host}:80\n  upstream-allow 10.89.0.0/24\n }\n"
				 " path /static/ {\n }\n}\n");
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "%s", errs.data);
		return;
	}
	CHECK_EQ_INT(c->n_trusted_proxies, 2);
	CHECK(c->has_resolver);
	CHECK_EQ_INT(c->proxy_timeout_ms, 2000);
	const struct config_proxy *px = &c->sites[0].proxy;
	CHECK_EQ_INT(px->n_ups, 3);
	CHECK_STREQ(px->ups[0].spec, "http://app:8080");
	CHECK_STREQ(px->ups[0].host, "app");
	CHECK(px->ups[1].is_unix && px->ups[1].numeric);
	CHECK(px->ups[2].numeric && px->ups[2].addr.family == AF_INET6);
	CHECK_EQ_INT(px->proxy_protocol, 2);
	const struct config_site *b = &c->sites[1];
	CHECK_EQ_INT(b->n_paths, 3);
	CHECK(proxy_for(b, "/") == NULL);
	CHECK(proxy_for(b, "/api/x") == &b->paths[0].proxy);
	CHECK(proxy_for(b, "/api/v2/x") == &b->paths[1].proxy);
	CHECK(proxy_for(b, "/static/api/") == NULL);
	CHECK(b->paths[1].proxy.ups[0].host_tmpl);
	CHECK(proxy_for(&c->sites[0], "/any") == px);
	config_free(c);

	CHECK_STREQ(parse_err("site a {\n proxy ftp://x\n}\n"),
		    "t.conf:2:8: invalid upstream 'ftp://x' (http[s]://HOST:PORT, "
		    "http[s]://[IPv6]:PORT, http[s]://{host}:PORT or unix:/path)\n");

	/* https:// upstreams: port 443 by default, upstream-ca beside them. */
	c = parse("site a {\n proxy https://Up.Test https://[::1]:8443 http://b\n"
		  " upstream-ca /etc/ca.pem\n}\n");
	CHECK(c != NULL);
	if (c) {
		px = &c->sites[0].proxy;
		CHECK_STREQ(px->ups[0].spec, "https://up.test:443");
		CHECK(px->ups[0].tls && px->ups[0].port == 443);
		CHECK_STREQ(px->ups[1].spec, "https://[::1]:8443");
		CHECK(px->ups[1].tls && px->ups[1].numeric);
		CHECK(!px->ups[2].tls && px->ups[2].port == 80);
		CHECK_STREQ(px->upstream_ca, "/etc/ca.pem");
		config_free(c);
	}
	CHECK_STREQ(parse_err("site a {\n proxy http://a\n upstream-ca /ca.pem\n}\n"),
		    "t.conf:3:2: 'upstream-ca' without an https:// upstream\n");
	CHECK_STREQ(parse_err("site a {\n proxy https://a\n upstream-ca ca.pem\n}\n"),
		    "t.conf:3:14: 'upstream-ca' needs an absolute path, not 'ca.pem'\n");
	CHECK_STREQ(parse_err("site a {\n proxy https://a\n proxy-protocol v1\n}\n"),
		    "t.conf:3:2: 'proxy-protocol' is not supported with an https:// upstream\n");
	CHECK_STREQ(parse_err("site a {\n root /x\n upstream-ca /ca.pem\n}\n"),
		    "t.conf:3:2: 'upstream-ca' without 'proxy' in this block\n");
	CHECK_STREQ(parse_err("site a {\n proxy http://{host}:80\n}\n"),
		    "t.conf:2:2: 'proxy http://{host}:...' needs 'upstream-allow CIDR...': the "
		    "networks requests may be forwarded into\n");
	CHECK_STREQ(parse_err("site a {\n root /x\n proxy http://a:1\n}\n"),
		    "t.conf:2:2: a site has either 'root' or 'proxy' (put one of them in a 'path' "
		    "block)\n");
	CHECK_STREQ(parse_err("site a {\n upstream-allow 10.0.0.0/8\n}\n"),
		    "t.conf:2:2: 'upstream-allow' without 'proxy' in this block\n");
	CHECK_STREQ(parse_err("site a {\n proxy http://a:1\n proxy-protocol v3\n}\n"),
		    "t.conf:3:17: 'proxy-protocol' takes v1 or v2, not 'v3'\n");
	CHECK_STREQ(parse_err("trusted-proxies 10.0.0.0/33\n"),
		    "t.conf:1:17: invalid address range '10.0.0.0/33' (ADDR or ADDR/PREFIX)\n");
	CHECK_STREQ(parse_err("site a {\n path api {\n }\n}\n"),
		    "t.conf:2:7: 'path' takes a path prefix starting with '/', not 'api'\n");
	CHECK_STREQ(parse_err("site a {\n path /a/ {\n }\n path /a/./ {\n }\n}\n"),
		    "t.conf:4:7: duplicate 'path /a/./' (first at line 2)\n");
	CHECK_STREQ(parse_err("proxy http://a:1\n"),
		    "t.conf:1:1: 'proxy' is not allowed at top level (only inside a site block)\n");
	CHECK_STREQ(parse_err("site a {\n path /x/ {\n  workers 2\n }\n}\n"),
		    "t.conf:3:3: 'workers' is not allowed inside a path block (only at top "
		    "level)\n");
	CHECK_STREQ(parse_err("resolver example.com\n"),
		    "t.conf:1:10: 'resolver' takes an IP address [and port], not 'example.com'\n");
	CHECK(strcmp(parse_err("site a {\n proxy http://a:0\n}\n"), "(parsed)") != 0);
	CHECK(parses("site a {\n proxy \"http://{host}:80\"\n upstream-allow 10.0.0.1\n}\n"));
}

/* proxy-idle-max: auto (the default: as many as were busy at once, see pool_put), or a count
 * per upstream and worker (0: no reuse). */
static void test_proxy_idle_max(void)
{
	struct config *c = config_new_default();
	CHECK(c->proxy_idle_max == CONFIG_AUTO);
	config_free(c);
	const char *const ok[] = {"auto", "0", "64", "10000"};
	const unsigned want[] = {CONFIG_AUTO, 0, 64, 10000};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		char text[64];
		snprintf(text, sizeof(text), "proxy-idle-max %s\n", ok[i]);
		c = parse(text);
		CHECK(c && c->proxy_idle_max == want[i]);
		config_free(c);
	}
	CHECK_STREQ(parse_err("proxy-idle-max 10001\n"),
		    "t.conf:1:16: 'proxy-idle-max' must be between 0 and 10000, or auto\n");
	CHECK_STREQ(parse_err("proxy-idle-max many\n"),
		    "t.conf:1:16: invalid number 'many' for 'proxy-idle-max' (a count or auto)\n");
	CHECK_STREQ(parse_err("proxy-idle-max\n"),
		    "t.conf:1:1: 'proxy-idle-max' takes 1 argument: proxy-idle-max COUNT|auto\n");
	CHECK_STREQ(parse_err("proxy-idle-max auto\nproxy-idle-max 1\n"),
		    "t.conf:2:1: duplicate 'proxy-idle-max' (first at line 1)\n");
}

/* body-total-timeout: the whole of a body ferry reads to drop it (body-timeout: between reads). */
static void test_body_total_timeout(void)
{
	struct config *c = config_new_default();
	CHECK_EQ_INT(c->body_total_timeout_ms, 60000);
	config_free(c);
	c = parse("body-total-timeout 2m\nbody-timeout 1s\n");
	CHECK(c && c->body_total_timeout_ms == 120000 && c->body_timeout_ms == 1000);
	config_free(c);
	c = parse("body-total-timeout 1ms\n");
	CHECK(c && c->body_total_timeout_ms == 1);
	config_free(c);
	CHECK_STREQ(parse_err("body-total-timeout 0\n"),
		    "t.conf:1:20: 'body-total-timeout' must be between 1ms and 24h\n");
	CHECK_STREQ(parse_err("body-total-timeout 25h\n"),
		    "t.conf:1:20: 'body-total-timeout' must be between 1ms and 24h\n");
}

static void test_reload_on_change(void)
{
	struct config *c = config_new_default();
	CHECK(!c->reload_on_change);
	config_free(c);
	c = parse("reload-on-change on\n");
	CHECK(c && c->reload_on_change);
	config_free(c);
	c = parse("reload-on-change off\n");
	CHECK(c && !c->reload_on_change);
	config_free(c);
	CHECK_STREQ(parse_err("reload-on-change yes\n"),
		    "t.conf:1:18: 'reload-on-change' takes on or off, not 'yes'\n");
	CHECK_STREQ(parse_err("reload-on-change on\nreload-on-change on\n"),
		    "t.conf:2:1: duplicate 'reload-on-change' (first at line 1)\n");
	CHECK(parse_err("site * { reload-on-change on }\n") != NULL);
}

/* `root` inside a path block: the longest prefix still wins, whichever of root and proxy the
 * blocks have; a block has one of them, not both. */
static void test_path_root(void)
{
	struct config *c = parse("site app {\n"
				 " root /srv/app\n"
				 " path /static/ {\n  root \"/srv/my assets\"\n }\n"
				 " path /static/api/ {\n  proxy http://10.0.0.5\n }\n"
				 " path /api/ {\n  proxy unix:/run/api.sock\n }\n"
				 " path /api/docs/ {\n  root /srv/docs\n }\n"
				 " path /plain/ {\n }\n"
				 "}\n"
				 "site px {\n proxy http://10.0.0.6\n"
				 " path /static/ { root /srv/px }\n"
				 " path /static/open/ {\n }\n}\n");
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "%s", errs.data);
		return;
	}
	const struct config_site *s = &c->sites[0];
	CHECK_EQ_INT(s->n_paths, 5);
	CHECK_STREQ(s->root, "/srv/app");
	CHECK_STREQ(s->paths[0].root, "/srv/my assets");
	CHECK(s->paths[0].proxy.ups == NULL);
	CHECK(s->paths[1].root == NULL && s->paths[2].root == NULL);
	CHECK_STREQ(s->paths[3].root, "/srv/docs");
	CHECK(s->paths[4].root == NULL && s->paths[4].proxy.ups == NULL);

	CHECK(config_match_path(s, "/", 1) == NULL);
	CHECK(config_match_path(s, "/index.html", 11) == NULL);
	CHECK(config_match_path(s, "/static", 7) == NULL); /* the prefix is "/static/" */
	CHECK(config_match_path(s, "/static/", 8) == &s->paths[0]);
	CHECK(config_match_path(s, "/static/a.css", 13) == &s->paths[0]);
	CHECK(config_match_path(s, "/static/api/x", 13) == &s->paths[1]);
	CHECK(config_match_path(s, "/api/x", 6) == &s->paths[2]);
	CHECK(config_match_path(s, "/api/docs/i", 11) == &s->paths[3]);
	CHECK(config_match_path(s, "/plain/x", 8) == &s->paths[4]);
	/* a root block is not proxied, even under a proxied prefix; an empty one is served like
	 * the rest of the site (here: from its root) */
	CHECK(proxy_for(s, "/static/a.css") == NULL);
	CHECK(proxy_for(s, "/static/api/x") == &s->paths[1].proxy);
	CHECK(proxy_for(s, "/api/x") == &s->paths[2].proxy);
	CHECK(proxy_for(s, "/api/docs/i") == NULL);
	CHECK(proxy_for(s, "/plain/x") == NULL);
	CHECK(proxy_for(s, "/other") == NULL);

	/* a proxied site with a static path block */
	const struct config_site *px = &c->sites[1];
	CHECK(px->root == NULL);
	CHECK_STREQ(px->paths[0].root, "/srv/px");
	CHECK(proxy_for(px, "/static/x") == NULL);
	CHECK(proxy_for(px, "/x") == &px->proxy);
	/* ... whose empty block is proxied like the rest of it */
	CHECK(proxy_for(px, "/static/open/x") == &px->proxy);
	config_free(c);

	CHECK_STREQ(parse_err("site a {\n path /x/ {\n  root /srv\n  proxy http://a:1\n }\n}\n"),
		    "t.conf:3:3: a path block has either 'root' or 'proxy', not both\n");
	CHECK_STREQ(parse_err("site a {\n path /x/ {\n  proxy http://a:1\n  root /srv\n }\n}\n"),
		    "t.conf:4:3: a path block has either 'root' or 'proxy', not both\n");
	CHECK_STREQ(parse_err("site a {\n path /x/ { root srv }\n}\n"),
		    "t.conf:2:18: 'root' needs an absolute path, not 'srv'\n");
	/* A block directive missing its argument: the error, and its body skipped (its handler
	 * once read a freed argument of the statement before). */
	CHECK_STREQ(parse_err("site a {\n root /srv\n path {\n  root /b\n }\n}\n"),
		    "t.conf:3:2: 'path' takes 1 argument: path PREFIX { ... }\n");
	CHECK_STREQ(parse_err("site a {\n path /x/ {\n  root /a\n  root /b\n }\n}\n"),
		    "t.conf:4:3: duplicate 'root' (first at line 3)\n");
	CHECK_STREQ(parse_err("site a {\n path /x/ {\n  root\n }\n}\n"),
		    "t.conf:3:3: 'root' takes 1 argument: root PATH\n");
	CHECK_STREQ(parse_err("site a {\n path /x/ {\n  root /srv\n  upstream-allow 10.0.0.0/8\n"
			      " }\n}\n"),
		    "t.conf:4:3: 'upstream-allow' without 'proxy' in this block\n");
	/* the site's own root and a path block's are separate: no duplicate */
	CHECK(parses("site a {\n root /a\n path /x/ { root /a }\n path /y/ { root /b }\n}\n"));
	/* still a site-block directive only, as far as the top level is told */
	CHECK_STREQ(parse_err("root /srv\n"),
		    "t.conf:1:1: 'root' is not allowed at top level (only inside a site block)\n");
}

/* TLS: the listen flag, `tls CERT KEY` (several per site), http-redirect, hsts, which site's
 * certificates a server name gets, and what is refused. */
static void test_tls(void)
{
	struct config *c = parse("listen http 127.0.0.1:80\n"
				 "listen https 127.0.0.1:443 tls\n"
				 "listen 127.0.0.1:8443 proxy-protocol tls\n"
				 "listen front tls proxy-protocol\n"
				 "max-tls-handshakes 50\n"
				 "site a.example www.a.example {\n"
				 " tls /etc/t/a-ec.crt /etc/t/a-ec.key\n"
				 " tls \"/etc/t/a rsa.crt\" /etc/t/a-rsa.key\n"
				 " hsts 365d include-subdomains preload\n"
				 "}\n"
				 "site *.b.example {\n tls /b.crt /b.key\n http-redirect off\n hsts 600\n}\n"
				 "site plain.example {\n}\n");
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "%s", errs.data);
		return;
	}
	CHECK(!c->listens[0].tls && c->listens[1].tls && c->listens[1].has_fallback);
	CHECK(c->listens[2].tls && c->listens[2].proxy_protocol && c->listens[2].is_addr);
	CHECK(c->listens[3].tls && c->listens[3].proxy_protocol && !c->listens[3].has_fallback);
	CHECK_EQ_INT(c->max_tls_handshakes, 50);
	const struct config_site *a = &c->sites[0], *b = &c->sites[1], *pl = &c->sites[2];
	CHECK_EQ_INT(a->n_tls, 2);
	CHECK_STREQ(a->tls[0].cert, "/etc/t/a-ec.crt");
	CHECK_STREQ(a->tls[0].key, "/etc/t/a-ec.key");
	CHECK_STREQ(a->tls[1].cert, "/etc/t/a rsa.crt");
	CHECK_EQ_INT(a->tls[1].line, 8);
	CHECK_EQ_INT(a->tls[1].cert_col, 6);
	CHECK_EQ_INT(a->tls[1].key_col, 25);
	CHECK(a->http_redirect && !b->http_redirect && pl->http_redirect && pl->n_tls == 0);
	CHECK_EQ_INT(a->hsts, CONFIG_HSTS_ON | CONFIG_HSTS_SUBDOMAINS | CONFIG_HSTS_PRELOAD);
	CHECK_EQ_INT(a->hsts_max_age, 365 * 86400);
	CHECK_EQ_INT(b->hsts, CONFIG_HSTS_ON);
	CHECK_EQ_INT(b->hsts_max_age, 600);
	CHECK_EQ_INT(pl->hsts, 0);
	/* no `site *` with certificates: the first site that has some */
	CHECK(c->tls_default == a);
	CHECK(config_tls_site(c, "a.example", 9) == a);
	CHECK(config_tls_site(c, "WWW.A.EXAMPLE.", 14) == a);
	CHECK(config_tls_site(c, "x.b.example", 11) == b);
	CHECK(config_tls_site(c, "b.example", 9) == a);     /* the wildcard needs a label */
	CHECK(config_tls_site(c, "plain.example", 13) == a); /* no certificates of its own */
	CHECK(config_tls_site(c, "", 0) == a);
	CHECK(config_tls_site(c, NULL, 0) == a);
	config_free(c);

	/* `site *` with certificates: the default; exact beats longest wildcard beats `*` */
	c = parse("site * {\n tls /d.crt /d.key\n}\n"
		  "site *.example {\n tls /w.crt /w.key\n}\n"
		  "site *.a.example {\n tls /wa.crt /wa.key\n}\n"
		  "site x.a.example {\n tls /x.crt /x.key\n}\n"
		  "site none.example {\n}\n");
	CHECK(c != NULL);
	if (c) {
		CHECK(c->tls_default == &c->sites[0]);
		CHECK(config_tls_site(c, "x.a.example", 11) == &c->sites[3]);
		CHECK(config_tls_site(c, "y.a.example", 11) == &c->sites[2]);
		CHECK(config_tls_site(c, "b.example", 9) == &c->sites[1]);
		CHECK(config_tls_site(c, "none.example", 12) == &c->sites[0]);
		CHECK(config_tls_site(c, "other.org", 9) == &c->sites[0]);
		CHECK(config_tls_site(c, NULL, 0) == &c->sites[0]);
	}
	config_free(c);
	c = parse("site a {\n}\n");
	CHECK(c && c->tls_default == NULL && config_tls_site(c, "a", 1) == NULL);
	config_free(c);

	CHECK_STREQ(parse_err("listen https tls\nsite a {\n root /srv\n}\n"),
		    "t.conf:1:1: 'listen https ... tls' but no site has a certificate (tls CERT "
		    "KEY inside a site block)\n");
	CHECK_STREQ(parse_err("listen 127.0.0.1:443 tls\n"),
		    "t.conf:1:1: 'listen 127.0.0.1:443 ... tls' but no site has a certificate (tls "
		    "CERT KEY inside a site block)\n");
	CHECK_STREQ(parse_err("listen a tls tls\nsite a {\n tls /a /b\n}\n"),
		    "t.conf:1:10: 'tls' given twice\n");
	CHECK_STREQ(parse_err("listen a h2c tls\nsite a {\n tls /a /b\n}\n"),
		    "t.conf:1:1: 'listen ... h2c' is for plain sockets: not with tls\n");
	CHECK_STREQ(parse_err("site a {\n tls a.crt /a.key\n}\n"),
		    "t.conf:2:6: 'tls' needs absolute paths, not 'a.crt'\n");
	CHECK_STREQ(parse_err("site a {\n tls /a.crt a.key\n}\n"),
		    "t.conf:2:13: 'tls' needs absolute paths, not 'a.key'\n");
	CHECK_STREQ(parse_err("site a {\n tls /a.crt\n}\n"),
		    "t.conf:2:6: 'tls' takes CERT_FILE KEY_FILE [ocsp OCSP_FILE], or acme\n");
	CHECK_STREQ(parse_err("site a {\n tls /a.crt /a.key /a.ocsp\n}\n"),
		    "t.conf:2:20: 'tls' takes CERT_FILE KEY_FILE [ocsp OCSP_FILE], or acme\n");
	CHECK_STREQ(parse_err("site a {\n tls /a.crt /a.key staple /a.ocsp\n}\n"),
		    "t.conf:2:20: 'tls' takes CERT_FILE KEY_FILE [ocsp OCSP_FILE], or acme\n");
	/* `tls acme`: the certificate file in acme-dir (known at the end of the file) */
	c = parse("site a.test b.test {\n tls acme\n}\nacme-dir /x/acme\nlisten h tls\n");
	CHECK(c && c->sites[0].acme && c->sites[0].n_tls == 1 && c->n_acme_sites == 1);
	if (c) {
		CHECK_STREQ(c->sites[0].tls[0].cert, "/x/acme/certificates/a.test.pem");
		CHECK_STREQ(c->sites[0].tls[0].key, "/x/acme/certificates/a.test.pem");
		CHECK_STREQ(c->acme_ca, CONFIG_ACME_CA);
		CHECK(c->tls_default == &c->sites[0]);
		config_free(c);
	}
	setenv("STATE_DIRECTORY", "/var/lib/f1:/var/lib/f2", 1);
	c = parse("site a.test {\n tls acme\n}\nacme-ca https://ca.test/dir\n"
		  "acme-email a@b.test\nacme-ca-root /ca.pem\n");
	unsetenv("STATE_DIRECTORY");
	CHECK(c != NULL);
	if (c) {
		CHECK_STREQ(c->acme_dir, "/var/lib/f1");
		CHECK_STREQ(c->acme_ca, "https://ca.test/dir");
		CHECK_STREQ(c->acme_email, "a@b.test");
		CHECK_STREQ(c->acme_ca_root, "/ca.pem");
		config_free(c);
	}
	c = parse("site a.test {\n tls acme\n}\n");
	CHECK(c && strcmp(c->acme_dir, CONFIG_ACME_DIR) == 0);
	config_free(c);
	CHECK_STREQ(parse_err("site *.a.test {\n tls acme\n}\n"),
		    "t.conf:2:6: 'tls acme' cannot get a certificate for the wildcard *.a.test: "
		    "that needs the dns-01 challenge, which ferry does not support (name the "
		    "hosts, or use tls CERT KEY)\n");
	CHECK_STREQ(parse_err("site a.test {\n tls /a /b\n tls acme\n}\n"),
		    "t.conf:3:6: 'tls acme' is the only 'tls' line of its site\n");
	CHECK_STREQ(parse_err("site 10.0.0.1 {\n tls acme\n}\n"),
		    "t.conf:2:6: 'tls acme' is for DNS names, not the address 10.0.0.1\n");
	c = parse("acme-challenge tls-alpn-01\nsite a.test {\n tls acme\n}\n");
	CHECK(c && c->acme_tls_alpn);
	config_free(c);
	c = parse("acme-mode integrated\n");
	CHECK(c && c->acme_integrated);
	config_free(c);
	c = parse("acme-mode integrated\n");
	CHECK(c && c->acme_retry_ms == 60000);
	config_free(c);
	c = parse("acme-retry 2s\n");
	CHECK(c && c->acme_retry_ms == 2000);
	config_free(c);
	CHECK(strstr(parse_err("acme-retry 10ms\n"), "acme-retry") != NULL);
	c = parse("acme-mode integrated\n");
	CHECK(c && c->acme_timeout_ms == 30000);
	config_free(c);
	c = parse("acme-timeout 2s\n");
	CHECK(c && c->acme_timeout_ms == 2000);
	config_free(c);
	CHECK(strstr(parse_err("acme-timeout 500ms\n"), "acme-timeout") != NULL);
	CHECK(strstr(parse_err("acme-timeout 11m\n"), "acme-timeout") != NULL);
	CHECK_STREQ(parse_err("acme-mode both\n"),
		    "t.conf:1:11: 'acme-mode' takes split or integrated, not 'both'\n");
	c = parse("acme-challenge http-01\n");
	CHECK(c && !c->acme_tls_alpn);
	config_free(c);
	CHECK_STREQ(parse_err("acme-challenge dns-01\n"),
		    "t.conf:1:16: 'acme-challenge' takes http-01 or tls-alpn-01, not 'dns-01' "
		    "(dns-01 is not supported)\n");
	CHECK_STREQ(parse_err("acme-dir x\n"),
		    "t.conf:1:10: 'acme-dir' needs an absolute path, not 'x'\n");
	CHECK_STREQ(parse_err("acme-email a@b@c\n"),
		    "t.conf:1:12: 'acme-email' takes an address like name@example.com, not "
		    "'a@b@c'\n");
	CHECK_STREQ(parse_err("site a {\n tls /a.crt /a.key ocsp a.ocsp\n}\n"),
		    "t.conf:2:25: 'tls' needs absolute paths, not 'a.ocsp'\n");
	c = parse("site a {\n tls /a.crt /a.key ocsp /a.ocsp\n tls /b.crt /b.key\n}\n");
	CHECK(c && c->sites[0].tls[0].ocsp && !c->sites[0].tls[1].ocsp);
	if (c) {
		CHECK_STREQ(c->sites[0].tls[0].ocsp, "/a.ocsp");
		CHECK_EQ_INT(c->sites[0].tls[0].ocsp_col, 25);
	}
	config_free(c);
	CHECK_STREQ(parse_err("tls /a /b\n"),
		    "t.conf:1:1: 'tls' is not allowed at top level (only inside a site block)\n");
	CHECK_STREQ(parse_err("site a {\n path /x/ {\n  tls /a /b\n }\n}\n"),
		    "t.conf:3:3: 'tls' is not allowed inside a path block (only inside a site "
		    "block)\n");
	CHECK(strstr(parse_err("site a {\n tls /1 /1\n tls /2 /2\n tls /3 /3\n tls /4 /4\n"
			       " tls /5 /5\n tls /6 /6\n tls /7 /7\n tls /8 /8\n tls /9 /9\n}\n"),
		     "t.conf:10:2: at most 8 'tls' lines per site") != NULL);
	CHECK_STREQ(parse_err("site a {\n http-redirect maybe\n}\n"),
		    "t.conf:2:16: 'http-redirect' takes on or off, not 'maybe'\n");
	CHECK_STREQ(parse_err("site a {\n http-redirect on\n http-redirect off\n}\n"),
		    "t.conf:3:2: duplicate 'http-redirect' (first at line 2)\n");
	CHECK_STREQ(parse_err("site a {\n hsts 1y\n}\n"),
		    "t.conf:2:7: invalid duration '1y' for 'hsts' (examples: 365d, 31536000, off)\n");
	CHECK_STREQ(parse_err("site a {\n hsts 2000d\n}\n"),
		    "t.conf:2:7: 'hsts' must be at most 5 years (1830d)\n");
	CHECK_STREQ(parse_err("site a {\n hsts 1d preload preload\n}\n"),
		    "t.conf:2:18: 'hsts' takes DURATION [include-subdomains] [preload], not "
		    "'preload' here\n");
	CHECK_STREQ(parse_err("site a {\n hsts off preload\n}\n"),
		    "t.conf:2:11: 'hsts off' takes nothing after it\n");
	CHECK_STREQ(parse_err("max-tls-handshakes 0\n"),
		    "t.conf:1:20: 'max-tls-handshakes' must be between 1 and 1000000\n");
	c = parse("site a {\n hsts 0\n}\nsite b {\n hsts 2h\n}\nsite c {\n hsts off\n}\n");
	CHECK(c && c->sites[0].hsts == CONFIG_HSTS_ON && c->sites[0].hsts_max_age == 0 &&
	      c->sites[1].hsts_max_age == 7200 && c->sites[2].hsts == 0);
	config_free(c);
	c = config_new_default();
	CHECK_EQ_INT(c->max_tls_handshakes, 1000);
	CHECK(c->tls_default == NULL);
	config_free(c);
}

/* ---- many sites, include ---------------------------------------------------------------- */

/* The site index (hostmap) and the path index (prefixmap) against the order a linear scan gives,
 * with generated configurations of many sites: exact names, wildcards nested three deep, a
 * default, and a site with many path blocks. */
static void test_many_sites(void)
{
	enum { N = 20000 };
	struct buf text;
	buf_init(&text, CONFIG_MAX_BYTES);
	/* Wildcards first, in reverse: neither file order nor the table's order decides. */
	for (int i = N - 1; i >= 0; i--)
		(void)buf_printf(&text, "site *.w%d.example.org { root /w%d }\n", i, i % 3);
	for (int i = 0; i < N; i++)
		(void)buf_printf(&text, "site s%d.example.com www.s%d.example.com { root /s }\n", i,
				 i);
	(void)buf_appends(&text, "site *.a.w7.example.org { root /a-w7 }\n"
				 "site *.b.a.w7.example.org { root /b-a-w7 }\n"
				 "site x.b.a.w7.example.org { root /x-b-a-w7 }\n"
				 "site *.example.org { root /org }\n"
				 "site paths.example {\n root /p\n");
	for (int i = 0; i < 500; i++)
		(void)buf_printf(&text, " path /d%d/ { root /p%d }\n path /d%d/sub/ { }\n", i, i % 5,
				 i);
	(void)buf_appends(&text, " path / { root /root }\n path /d1 { root /d1x }\n}\n"
				 "site * { root /default }\n");
	(void)buf_cstr(&text);
	struct config *c = parse(text.data);
	buf_free(&text);
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "%.500s", errs.data);
		return;
	}
	CHECK_EQ_INT(c->n_sites, 2 * N + 6);
	static const struct {
		const char *host, *root;
	} cases[] = {
	    {"s0.example.com", "/s"},
	    {"s9999.example.com", "/s"},
	    {"WWW.S19999.example.com.:80", "/s"},
	    {"s20000.example.com", "/default"},
	    {"a.w0.example.org", "/w0"},
	    {"x.y.w10000.example.org", "/w1"},
	    {"a.w19999.example.org", "/w1"},
	    {"w19999.example.org", "/org"},
	    {"a.w20000.example.org", "/org"},
	    {"a.w7.example.org", "/w1"},
	    {"z.a.w7.example.org", "/a-w7"},
	    {"z.b.a.w7.example.org", "/b-a-w7"},
	    {"x.b.a.w7.example.org", "/x-b-a-w7"},
	    {"b.a.w7.example.org", "/a-w7"},
	    {"example.org", "/default"},
	    {"paths.example", "/p"},
	    {"", "/default"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = match(c, cases[i].host);
		if (strcmp(got, cases[i].root) != 0)
			fprintf(stderr, "  %s: %s, want %s\n", cases[i].host, got, cases[i].root);
		CHECK_STREQ(got, cases[i].root);
	}
	/* Which site exactly: the first of the exact ones, the last of the wildcards. */
	CHECK(config_match_site(c, "s0.example.com", 14) == &c->sites[N]);
	CHECK(config_match_site(c, "www.s0.example.com", 18) == &c->sites[N]);
	CHECK(config_match_site(c, "a.w0.example.org", 16) == &c->sites[N - 1]);

	/* Roots: one entry per distinct path, shared. */
	CHECK_EQ_INT(c->n_roots, 3 + 1 + 3 + 1 + 1 + 5 + 2 + 1);
	const struct config_site *s0 = &c->sites[N], *s1 = &c->sites[2 * N - 1];
	CHECK_STREQ(c->roots[s0->root_id].path, "/s");
	CHECK(s0->root_id == s1->root_id);
	CHECK(c->sites[0].root_id == c->sites[3].root_id);

	const struct config_site *ps = config_match_site(c, "paths.example", 13);
	CHECK(ps && ps->n_paths == 1002);
	if (ps) {
		static const struct {
			const char *path, *root; /* NULL: a block without a root; "-": no block */
		} paths[] = {
		    {"/", "/root"},	   {"/x", "/root"},	   {"/d0/", "/p0"},
		    {"/d0/x", "/p0"},	   {"/d0/sub/x", NULL},	   {"/d1", "/d1x"},
		    {"/d1/", "/p1"},	   {"/d10", "/d1x"},	   {"/d10/", "/p0"},
		    {"/d499/sub/", NULL},  {"/d499/subx", "/p4"},  {"/d500/", "/root"},
		    {"/d5000/", "/root"},
		};
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			const struct config_path *cp =
			    config_match_path(ps, paths[i].path, strlen(paths[i].path));
			const char *got = !cp ? "-" : cp->root;
			if (!(got == paths[i].root ||
			      (got && paths[i].root && strcmp(got, paths[i].root) == 0)))
				fprintf(stderr, "  %s: %s, want %s\n", paths[i].path,
					got ? got : "(no root)", paths[i].root ? paths[i].root : "(no root)");
			CHECK(got == paths[i].root ||
			      (got && paths[i].root && strcmp(got, paths[i].root) == 0));
		}
		CHECK(config_match_path(ps, "/", 0) == NULL);
		const struct config_path *cp = config_match_path(ps, "/d3/a", 5);
		CHECK(cp && strcmp(c->roots[cp->root_id].path, cp->root) == 0);
	}
	config_free(c);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	size_t n = strlen(text);
	CHECK(write(fd, text, n) == (ssize_t)n);
	close(fd);
}

/* config_load of dir/name: NULL on failure (the errors in errs, with dir/ cut out of them). */
static struct config *load(const char *dir, const char *name)
{
	char path[512];
	struct config *c = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf_reset(&errs);
	int r = config_load(path, &c, &errs);
	(void)buf_cstr(&errs);
	/* Messages name files by path: drop the temp dir for readable expectations. */
	struct buf out;
	buf_init(&out, 1 << 20);
	size_t dl = strlen(dir);
	for (const char *p = errs.data; *p;) {
		const char *hit = strstr(p, dir);
		if (!hit) {
			(void)buf_appends(&out, p);
			break;
		}
		(void)buf_append(&out, p, (size_t)(hit - p));
		p = hit + dl + (hit[dl] == '/');
	}
	(void)buf_cstr(&out);
	buf_reset(&errs);
	(void)buf_appends(&errs, out.data ? out.data : "");
	(void)buf_cstr(&errs);
	buf_free(&out);
	return r == 0 ? c : NULL;
}

static const char *load_err(const char *dir, const char *name)
{
	struct config *c = load(dir, name);
	if (c) {
		config_free(c);
		return "(parsed)";
	}
	return errs.data;
}

static void test_include(void)
{
	char dir[] = "/tmp/test-config-inc.XXXXXX";
	char sub[600];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/sites", dir);
	CHECK(mkdir(sub, 0755) == 0);

	/* In byte order, as if written at the include; relative to the including file. */
	write_file(dir, "main.conf", "workers 2\ninclude sites/*.conf\nsite * { root /default }\n"
				     "include empty/*.conf\ninclude none-such-dir/*\n");
	write_file(sub, "b.conf", "site b.example { root /b }\n");
	write_file(sub, "a.conf", "listen 127.0.0.1:8080\nsite a.example *.a.example {\n"
				  " root /a\n path /x/ { root /ax }\n}\n");
	write_file(sub, "c.conf.off", "bogus\n");
	write_file(sub, ".hidden.conf", "bogus\n");
	snprintf(sub, sizeof(sub), "%s/empty", dir);
	CHECK(mkdir(sub, 0755) == 0);
	struct config *c = load(dir, "main.conf");
	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_INT(c->n_sites, 3);
		CHECK_STREQ(c->sites[0].root, "/a");
		CHECK_STREQ(c->sites[1].root, "/b");
		CHECK_STREQ(c->sites[2].root, "/default");
		CHECK_STREQ(match(c, "x.a.example"), "/a");
		CHECK_STREQ(match(c, "b.example"), "/b");
		CHECK_STREQ(match(c, "c.example"), "/default");
		CHECK_EQ_INT(c->n_files, 2);
		CHECK(strstr(c->sites[0].file, "/sites/a.conf") != NULL);
		CHECK(c->sites[2].file == c->path);
		CHECK(c->n_listens == 1 && strstr(c->listens[0].file, "/sites/a.conf") != NULL);
		CHECK(strstr(c->roots[c->sites[0].paths[0].root_id].file, "/sites/a.conf") != NULL);
		CHECK_EQ_INT(c->roots[c->sites[0].paths[0].root_id].line, 4);
		CHECK_EQ_INT(c->n_include_dirs, 3);
	}
	config_free(c);

	/* Errors name the included file and its line:col; duplicates across files say where the
	 * first one is. */
	write_file(dir, "dup.conf", "workers 2\nsite a.example { root /x }\ninclude sites/*.conf\n");
	snprintf(sub, sizeof(sub), "%s/sites", dir);
	write_file(sub, "b.conf", "site b.example { root /b }\nworkers 3\nsite x { bogus }\n");
	CHECK_STREQ(load_err(dir, "dup.conf"),
		    "sites/a.conf:2:6: site name 'a.example' is already used by the site at "
		    "dup.conf:2\n"
		    "sites/b.conf:2:1: duplicate 'workers' (first at dup.conf:1)\n"
		    "sites/b.conf:3:10: unknown directive 'bogus'\n");
	write_file(sub, "b.conf", "site b.example { root /b }\n");

	/* A named file must exist; one with wildcards need not match. */
	write_file(dir, "missing.conf", "include sites/nope.conf\ninclude nope/*.conf\n");
	CHECK_STREQ(load_err(dir, "missing.conf"),
		    "missing.conf:1:9: include sites/nope.conf: No such file or directory\n");
	/* Cycles, depth, wildcards in a directory, a directory, and config_parse. */
	write_file(dir, "cycle.conf", "include sites/loop.conf\n");
	write_file(sub, "loop.conf", "include ../cycle.conf\n");
	CHECK_STREQ(load_err(dir, "cycle.conf"),
		    "sites/loop.conf:1:9: include cycle: cycle.conf -> sites/loop.conf -> "
		    "sites/../cycle.conf\n");
	write_file(sub, "loop.conf", "include loop.conf\n");
	CHECK_STREQ(load_err(dir, "cycle.conf"),
		    "sites/loop.conf:1:9: include cycle: sites/loop.conf -> sites/loop.conf\n");
	char loop[700];
	snprintf(loop, sizeof(loop), "%s/loop.conf", sub);
	unlink(loop);
	char name[64];
	for (int i = 0; i <= CONFIG_MAX_INCLUDE_DEPTH + 1; i++) {
		snprintf(name, sizeof(name), "deep%d.conf", i);
		char body[64];
		snprintf(body, sizeof(body), "include deep%d.conf\n", i + 1);
		write_file(dir, name, body);
	}
	CHECK_STREQ(load_err(dir, "deep0.conf"),
		    "deep16.conf:1:9: include 'deep17.conf': includes nested more than 16 deep\n");
	write_file(dir, "wild.conf", "include */a.conf\ninclude sites/\nsite x {\n include a\n}\n");
	CHECK_STREQ(load_err(dir, "wild.conf"),
		    "wild.conf:1:9: include '*/a.conf': wildcards only in the last component of "
		    "the path\n"
		    "wild.conf:2:9: include 'sites/' names a directory: add a pattern, like "
		    "'sites/*.conf'\n"
		    "wild.conf:4:2: 'include' is not allowed inside a site block (only at top "
		    "level)\n");
	write_file(dir, "isdir.conf", "include site[s]\n");
	CHECK_STREQ(load_err(dir, "isdir.conf"), "isdir.conf:1:9: include sites: Is a directory\n");
	CHECK_STREQ(parse_err("include x.conf\n"),
		    "t.conf:1:9: 'include' needs the configuration to be read from a file\n");
	/* A NUL in an included file is reported there. */
	snprintf(sub, sizeof(sub), "%s/nul.conf", dir);
	int fd = open(sub, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(write(fd, "workers 2\nab\0", 13) == 13);
	close(fd);
	write_file(dir, "incnul.conf", "include nul.conf\n");
	CHECK_STREQ(load_err(dir, "incnul.conf"),
		    "nul.conf:2:3: NUL byte in the configuration\n");

	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/* The glob matcher through include: which names a pattern picks. */
static void test_include_patterns(void)
{
	char dir[] = "/tmp/test-config-glob.XXXXXX", sub[64];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/d", dir);
	CHECK(mkdir(sub, 0755) == 0);
	static const char *const files[] = {"a.conf", "b.conf", "ab.conf", "c.txt", "[x].conf",
					    ".h.conf", "a-1.conf", "z9.conf"};
	char body[64];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(body, sizeof(body), "listen name%zu\n", i);
		write_file(sub, files[i], body);
	}
	static const struct {
		const char *pattern;
		const char *want; /* the listens, in order: the files' indexes */
	} cases[] = {
	    {"*.conf", "4 6 0 2 1 7"},
	    {"?.conf", "0 1"},
	    {"[ab].conf", "0 1"},
	    {"[!a]*.conf", "4 1 7"},
	    {"[^a-b]*.conf", "4 7"},
	    {"\\[x].conf", "4"},
	    {"[[]x].conf", "4"},
	    {".*.conf", "5"},
	    {"*", "4 6 0 2 1 3 7"},
	    {"a*", "6 0 2"},
	    {"*1*", "6"},
	    {"*.c*f", "4 6 0 2 1 7"},
	    {"[a-", ""},
	    {"*.none", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char main_text[128];
		snprintf(main_text, sizeof(main_text), "include d/%s\n", cases[i].pattern);
		write_file(dir, "main.cf", main_text);
		struct config *c = load(dir, "main.cf");
		char got[128] = "";
		if (c) {
			for (size_t j = 0; j < c->n_listens; j++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
					 j ? " " : "", c->listens[j].spec + 4);
		} else {
			snprintf(got, sizeof(got), "error: %s", errs.data);
		}
		if (strcmp(got, cases[i].want) != 0)
			fprintf(stderr, "  include %s: [%s], want [%s]\n", cases[i].pattern, got,
				cases[i].want);
		CHECK_STREQ(got, cases[i].want);
		config_free(c);
	}
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/* Response rules: what a path block inherits, and the lexer's placeholders. */
static void test_rules(void)
{
	struct config *c = parse("site a {\n root /srv\n header X-A 1\n header X-B 2\n"
				 " redirect 301 https://b{path}\n index i.htm\n browse\n"
				 " error-page 404 /404.html\n precompressed gzip br\n"
				 " path /p/ {\n  header -X-A\n  header X-C {host}\n  browse off\n"
				 "  try-files {path}.html =410\n }\n path /q/ { index x.html }\n}\n");
	CHECK(c != NULL);
	if (!c)
		return;
	const struct config_site *s = &c->sites[0];
	const struct config_rules *p = &s->paths[0].rules, *q = &s->paths[1].rules;
	CHECK(s->rules.any && s->rules.statics && s->rules.browse == 1);
	CHECK_EQ_INT(s->rules.redirect_status, 301);
	CHECK_STREQ(s->rules.redirect, "https://b{path}");
	CHECK(s->rules.redirect_tmpl);
	/* the site's X-B (X-A is the block's own: removed), then its own */
	CHECK_EQ_INT(p->headers.n, 3);
	if (p->headers.n == 3) {
		CHECK_STREQ(p->headers.v[0].name, "X-B");
		CHECK_STREQ(p->headers.v[1].name, "X-A");
		CHECK(p->headers.v[1].value == NULL);
		CHECK_STREQ(p->headers.v[2].value, "{host}");
		CHECK(p->headers.v[2].tmpl && !p->headers.v[0].tmpl);
	}
	CHECK_EQ_INT(p->browse, 0);
	CHECK_EQ_INT(q->browse, 1);
	CHECK_STREQ(p->redirect, "https://b{path}");
	CHECK_EQ_INT(p->n_try_files, 1);
	CHECK_EQ_INT(p->try_status, 410);
	CHECK_EQ_INT(q->n_try_files, 0);
	CHECK_EQ_INT(p->n_index, 1);
	CHECK(q->n_index == 1 && strcmp(q->index[0], "x.html") == 0);
	CHECK_EQ_INT(q->n_error_pages, 1);
	CHECK(q->n_precompressed == 2 && q->precompressed[0] == HTTP_CODING_GZIP &&
	      q->precompressed[1] == HTTP_CODING_BR);
	config_free(c);

	c = parse("site a {\n root /srv\n header X 1\n}\nsite b {\n root /srv\n}\n");
	CHECK(c && c->sites[0].rules.any && !c->sites[0].rules.statics && !c->sites[1].rules.any);
	config_free(c);

	/* a placeholder is part of a word; a block's brace stays one */
	CHECK(parses("site a { root /srv; try-files {path} {path}.html /index.html }\n"));
	CHECK_STREQ(parse_err("site a {\n root /srv\n try-files {path}{bad}\n}\n"),
		    "t.conf:3:18: unknown placeholder '{bad}' in 'try-files' (known here: {path})\n");
	CHECK_STREQ(parse_err("site a {\n header Content-Length 1\n}\n"),
		    "t.conf:2:9: 'header' cannot set Content-Length: ferry writes it itself\n");
}

int main(void)
{
	buf_init(&errs, 1 << 20);
	test_defaults();
	test_full_example();
	test_listen();
	test_workers();
	test_access_log();
	test_timeouts();
	test_sizes();
	test_sites();
	test_root();
	test_syntax();
	test_many_errors();
	test_parse_duration();
	test_parse_size();
	test_match();
	test_load();
	test_proxy();
	test_proxy_idle_max();
	test_body_total_timeout();
	test_reload_on_change();
	test_path_root();
	test_many_sites();
	test_include();
	test_include_patterns();
	test_tls();
	test_rules();
	buf_free(&errs);
	TEST_MAIN_END();
}
