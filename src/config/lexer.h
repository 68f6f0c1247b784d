/* Tokens of ferry.conf, with their line and column.
 *
 *   word     a run of anything but whitespace, control characters, '{', '}', ';', '"';
 *            it may contain '#' (only a token that starts with '#' is a comment) and
 *            placeholders ("{path}": '{', a lower-case name, '}'), even at its start
 *   string   "..." with the escapes \" and \\ only; no newline inside
 *   { }      block delimiters
 *   end      a newline or ';': the end of a directive
 *   # ...    a comment, up to (not including) the newline; produces no token
 *
 * The lexer never stops: on bad input it returns LEXER_ERROR with a message, having skipped
 * past the offending bytes, so the parser can go on and report every error in one pass. */
#ifndef FERRY_CONFIG_LEXER_H
#define FERRY_CONFIG_LEXER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

enum lexer_kind {
	LEXER_EOF,
	LEXER_WORD,
	LEXER_STRING,
	LEXER_OPEN,  /* { */
	LEXER_CLOSE, /* } */
	LEXER_END,   /* newline or ';' */
	LEXER_ERROR, /* message in lexer.error */
};

struct lexer_token {
	enum lexer_kind kind;
	unsigned line, col; /* 1-based, of the token's first byte; columns count bytes */
	const char *text; /* WORD, STRING: decoded and NUL-terminated, valid until the next call */
	size_t len;
};

struct lexer {
	const char *p, *end;
	unsigned line, col;
	bool glued;	/* the last token was a word or string with nothing after it yet */
	bool in_string; /* glued to a string rather than a word */
	struct buf text;
	char error[96];
};

void lexer_init(struct lexer *l, const char *text, size_t len);
void lexer_done(struct lexer *l);
void lexer_next(struct lexer *l, struct lexer_token *ret);

#endif
