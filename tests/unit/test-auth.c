/* Tests for src/http/auth.c: the Basic Authorization field, strictly. */
#include <errno.h>
#include <string.h>

#include "http/auth.h"
#include "test.h"

static char out[HTTP_BASIC_MAX];
static struct http_basic_cred cred;

static int parse(const char *v)
{
	memset(&cred, 0, sizeof(cred));
	return http_basic_auth_parse(v, strlen(v), out, sizeof(out), &cred);
}

static void ok(const char *v, const char *user, const char *pass)
{
	CHECK_EQ_INT(parse(v), 0);
	CHECK(cred.user_len == strlen(user) && memcmp(cred.user, user, cred.user_len) == 0);
	CHECK(cred.pass_len == strlen(pass) && memcmp(cred.pass, pass, cred.pass_len) == 0);
}

int main(void)
{
	ok("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin", "open sesame"); /* RFC 7617 */
	ok("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin", "open sesame");
	ok("BASIC   dTpw", "u", "p");			     /* several SP */
	ok("Basic dTo=", "u", "");			     /* empty password */
	ok("Basic dTpwOnE=", "u", "p:q");		     /* the first ':' splits */
	ok("Basic dGVzdDoxMjPCow==", "test", "123\xc2\xa3"); /* UTF-8 (RFC 7617 §2.1) */
	CHECK_EQ_INT(parse("Bearer abc"), -ENOENT);
	CHECK_EQ_INT(parse("Basically dTpw"), -ENOENT);
	CHECK_EQ_INT(parse(""), -ENOENT);
	CHECK_EQ_INT(parse("Basic"), -EINVAL);
	CHECK_EQ_INT(parse("Basic "), -EINVAL);
	CHECK_EQ_INT(parse("Basic\tdTpw"), -ENOENT); /* HTAB is not SP: another scheme word */
	CHECK_EQ_INT(parse("Basic dTpw "), -EINVAL); /* trailing */
	CHECK_EQ_INT(parse("Basic dTp"), -EINVAL);   /* not a multiple of 4 */
	CHECK_EQ_INT(parse("Basic dTo"), -EINVAL);   /* padding missing */
	CHECK_EQ_INT(parse("Basic dT=w"), -EINVAL);  /* '=' inside */
	CHECK_EQ_INT(parse("Basic dTpw===="), -EINVAL);
	CHECK_EQ_INT(parse("Basic dTp="), -EINVAL);	/* "u:" + bits left over: not canonical */
	CHECK_EQ_INT(parse("Basic dTo_"), -EINVAL);	/* base64url */
	CHECK_EQ_INT(parse("Basic dXNlcg=="), -EINVAL); /* no ':' */
	CHECK_EQ_INT(parse("Basic OnA="), -EINVAL);	/* empty user-id */
	CHECK_EQ_INT(parse("Basic dTpwAA=="), -EINVAL); /* NUL in the password */
	CHECK_EQ_INT(parse("Basic dQp1OnA="), -EINVAL); /* LF in the user-id */
	CHECK_EQ_INT(parse("Basic ===="), -EINVAL);
	{
		char big[HTTP_BASIC_MAX + 16] = "Basic ";
		memset(big + 6, 'A', HTTP_BASIC_MAX + 4);
		big[6 + HTTP_BASIC_MAX + 4] = '\0';
		CHECK_EQ_INT(parse(big), -EINVAL); /* too long: refused, not cut */
		char small[4];
		CHECK_EQ_INT(
		    http_basic_auth_parse("Basic dTpwOnE=", 14, small, sizeof(small), &cred),
		    -EINVAL);
	}
	TEST_MAIN_END();
}
