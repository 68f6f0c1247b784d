/* The ferry.conf lexer: owns the byte-level syntax (words, quoted strings, braces, ends of
 * directives, comments) and the line:col of every token. It keeps going after an error so
 * that one run of the parser reports everything wrong with a file. */
#include "config/lexer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool is_blank(char c)
{
	/* CR counts as a blank so that files written on Windows parse the same. */
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_word_char(unsigned char c)
{
	/* Bytes >= 0x80 are allowed so that paths may be UTF-8; control characters never are. */
	return c > 0x20 && c != 0x7f && c != '{' && c != '}' && c != ';' && c != '"';
}

static void advance(struct lexer *l)
{
	l->p++;
	l->col++;
}

static void _printf_(4, 5)
    fail(struct lexer *l, struct lexer_token *t, unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->error, sizeof(l->error), fmt, ap);
	va_end(ap);
	t->kind = LEXER_ERROR;
	t->col = col;
	t->text = NULL;
	t->len = 0;
}

void lexer_init(struct lexer *l, const char *text, size_t len)
{
	l->p = text;
	l->end = text + len;
	l->line = 1;
	l->col = 1;
	l->glued = false;
	l->in_string = false;
	/* No token decodes to more bytes than the input holds, so this maximum is never hit. */
	buf_init(&l->text, len + 1);
	l->error[0] = '\0';
}

void lexer_done(struct lexer *l)
{
	buf_free(&l->text);
}

/* The length of a placeholder at p ("{host}": '{', a lower-case letter, letters, digits or
 * '-', '}'), else 0. */
static size_t placeholder_len(const char *p, const char *end)
{
	if (end - p < 3 || p[0] != '{' || p[1] < 'a' || p[1] > 'z')
		return 0;
	for (const char *q = p + 2; q < end; q++) {
		if (*q == '}')
			return (size_t)(q - p) + 1;
		if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-'))
			return 0;
	}
	return 0;
}

static void lex_word(struct lexer *l, struct lexer_token *t)
{
	const char *start = l->p;
	for (;;) {
		while (l->p < l->end && is_word_char((unsigned char)*l->p))
			advance(l);
		/* A placeholder ("http://{host}:80", "{path}.html") is part of a word: braces open
		 * and close blocks only as words of their own (whether the name is one the
		 * directive knows is its own check). */
		size_t n = placeholder_len(l->p, l->end);
		if (!n)
			break;
		for (size_t i = 0; i < n; i++)
			advance(l);
	}
	(void)buf_append(&l->text, start, (size_t)(l->p - start));
	t->kind = LEXER_WORD;
}

static void lex_string(struct lexer *l, struct lexer_token *t)
{
	/* On a bad escape or character, remember the first problem and keep scanning to the
	 * closing quote, so the rest of the line is not misread as words. */
	unsigned bad_col = 0;
	char bad[64] = "";

	advance(l); /* the opening quote */
	for (;;) {
		if (l->p == l->end || *l->p == '\n') {
			/* Stop before the newline: it still ends the directive. */
			fail(l, t, t->col, "unterminated string");
			return;
		}
		unsigned char c = (unsigned char)*l->p;
		if (c == '"') {
			advance(l);
			break;
		}
		if (c == '\\') {
			unsigned col = l->col;
			advance(l);
			if (l->p < l->end && (*l->p == '"' || *l->p == '\\')) {
				(void)buf_append(&l->text, l->p, 1);
				advance(l);
				continue;
			}
			if (!bad_col) {
				bad_col = col;
				if (l->p < l->end && is_word_char((unsigned char)*l->p))
					snprintf(
					    bad, sizeof(bad),
					    "unknown escape '\\%c' in string (only \\\" and \\\\)",
					    *l->p);
				else
					snprintf(bad, sizeof(bad),
						 "unknown escape in string (only \\\" and \\\\)");
			}
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			if (!bad_col) {
				bad_col = l->col;
				snprintf(bad, sizeof(bad), "invalid character 0x%02x in string", c);
			}
			advance(l);
			continue;
		}
		(void)buf_append(&l->text, l->p, 1);
		advance(l);
	}
	if (bad_col) {
		fail(l, t, bad_col, "%s", bad);
		return;
	}
	t->kind = LEXER_STRING;
}

void lexer_next(struct lexer *l, struct lexer_token *t)
{
	bool glued = l->glued, after_string = l->in_string;

	l->glued = l->in_string = false;
	buf_reset(&l->text);
	t->text = NULL;
	t->len = 0;

	for (;;) {
		while (l->p < l->end && is_blank(*l->p)) {
			advance(l);
			glued = false;
		}
		if (l->p == l->end || *l->p != '#')
			break;
		/* A comment runs to the newline, which still ends the directive. */
		while (l->p < l->end && *l->p != '\n')
			advance(l);
		glued = false;
	}

	t->line = l->line;
	t->col = l->col;
	if (l->p == l->end) {
		t->kind = LEXER_EOF;
		return;
	}

	unsigned char c = (unsigned char)*l->p;
	switch (c) {
	case '\n':
		advance(l);
		l->line++;
		l->col = 1;
		t->kind = LEXER_END;
		return;
	case ';':
		advance(l);
		t->kind = LEXER_END;
		return;
	case '{':
		if (placeholder_len(l->p, l->end)) { /* "{path}.html": a word */
			lex_word(l, t);
			break;
		}
		advance(l);
		t->kind = LEXER_OPEN;
		return;
	case '}':
		advance(l);
		t->kind = LEXER_CLOSE;
		return;
	case '"':
		lex_string(l, t);
		break;
	default:
		if (!is_word_char(c)) {
			advance(l);
			fail(l, t, t->col, "invalid character 0x%02x", c);
			return;
		}
		lex_word(l, t);
		break;
	}
	if (t->kind == LEXER_ERROR)
		return;

	if (glued) {
		/* `a"b"` or `"a"b`: almost certainly a mistake, and ambiguous to a reader. */
		fail(l, t, t->col, "%s",
		     after_string ? "missing space after a quoted string"
				  : "'\"' inside a word: quote the whole argument");
		return;
	}
	(void)buf_cstr(&l->text);
	t->text = l->text.data;
	t->len = l->text.len;
	l->glued = true;
	l->in_string = t->kind == LEXER_STRING;
}
