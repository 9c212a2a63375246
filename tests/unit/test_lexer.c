/*
 * test_lexer.c — unit tests of sql/lexer.c: every token class, PostgreSQL's operator and number
 * rules, string forms and escapes, comments, identifier folding and truncation, and lexical
 * errors with their messages and character positions.
 */
#include "lexer.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static arena_t arena;
static lex_token_t *toks;
static int ntoks;
static ctx_err_t err;

static void setup(void) {
    arena_init(&arena);
    ctx_err_clear(&err);
}

static void teardown(void) {
    lex_tokens_free(toks);
    toks = NULL;
    arena_destroy(&arena);
}

static int lex(const char *text) {
    ctx_err_clear(&err);
    lex_tokens_free(toks);
    toks = NULL;
    return lex_tokenize(text, strlen(text), &arena, &toks, &ntoks, &err);
}

/* Lexes text and asserts the token kinds and texts: expected is "KIND:text" items. */
static void expect_tokens(const char *text, int n, const lex_kind_t *kinds, const char **texts) {
    ck_assert_int_eq(lex(text), CTX_OK);
    ck_assert_int_eq(ntoks, n + 1);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(toks[i].kind, kinds[i]);
        ck_assert_str_eq(toks[i].text, texts[i]);
    }
    ck_assert_int_eq(toks[n].kind, LEX_EOF);
    ck_assert_int_eq(toks[n].location, (int)strlen(text));
}

START_TEST(test_identifiers_and_keywords) {
    ck_assert_int_eq(lex("SELECT Foo, \"Bar\"\"x\", _a$1 FROM t"), CTX_OK);
    ck_assert_int_eq(ntoks, 9);
    ck_assert_str_eq(toks[0].text, "select");
    ck_assert(!toks[0].quoted);
    ck_assert_str_eq(toks[1].text, "foo");
    ck_assert_str_eq(toks[2].text, ",");
    ck_assert_int_eq(toks[2].kind, LEX_OP);
    ck_assert_str_eq(toks[3].text, "Bar\"x");
    ck_assert(toks[3].quoted);
    ck_assert_int_eq(toks[3].location, 12);
    ck_assert_int_eq(toks[3].length, 8);
    ck_assert_str_eq(toks[5].text, "_a$1");
    ck_assert_str_eq(toks[6].text, "from");
    ck_assert(lex_is_reserved("select"));
    ck_assert(lex_is_reserved("where"));
    ck_assert(lex_is_reserved("join"));
    /* The reserved table is searched by bisection: every entry must be found. */
    const char *reserved[] = {"all",
                              "analyse",
                              "and",
                              "asymmetric",
                              "between",
                              "current_catalog",
                              "current_time",
                              "current_timestamp",
                              "current_user",
                              "default",
                              "deferrable",
                              "initially",
                              "inner",
                              "intersect",
                              "into",
                              "isnull",
                              "localtimestamp",
                              "notnull",
                              "null",
                              "only",
                              "outer",
                              "returning",
                              "session_user",
                              "trailing",
                              "variadic",
                              "window",
                              "with"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        ck_assert_msg(lex_is_reserved(reserved[i]), "%s", reserved[i]);
    }
    ck_assert(!lex_is_reserved("a"));
    ck_assert(!lex_is_reserved("zzz"));
    ck_assert(!lex_is_reserved("nodes"));
    ck_assert(!lex_is_reserved("similar"));
}
END_TEST

START_TEST(test_identifier_truncation) {
    char text[200];
    memset(text, 'A', 70);
    text[70] = '\0';
    ck_assert_int_eq(lex(text), CTX_OK);
    ck_assert_uint_eq(strlen(toks[0].text), 63);
    ck_assert_int_eq(toks[0].text[0], 'a');
    ck_assert_int_eq(toks[0].length, 70);
    /* 62 ASCII bytes then a 2-byte character: truncation must not split it. */
    memset(text, 'b', 62);
    strcpy(text + 62, "\xc3\xa9xyz");
    ck_assert_int_eq(lex(text), CTX_OK);
    ck_assert_uint_eq(strlen(toks[0].text), 62);
    /* Quoted identifiers are truncated too, and "" is an error. */
    snprintf(text, sizeof(text), "\"%070d\"", 0);
    ck_assert_int_eq(lex(text), CTX_OK);
    ck_assert_uint_eq(strlen(toks[0].text), 63);
    ck_assert_int_eq(lex("SELECT \"\""), CTX_ESYNTAX);
    ck_assert_str_eq(err.message, "zero-length delimited identifier at or near \"\"\"\"");
    ck_assert_int_eq(err.position, 8);
}
END_TEST

START_TEST(test_numbers) {
    ck_assert_int_eq(lex("42 3.5 .5 1. 1e3 2.5E-2 9223372036854775807 9223372036854775808 1..2"),
                     CTX_OK);
    ck_assert_int_eq(toks[0].kind, LEX_INTEGER);
    ck_assert_int_eq(toks[0].ival, 42);
    ck_assert_int_eq(toks[1].kind, LEX_FLOAT);
    ck_assert_double_eq(toks[1].fval, 3.5);
    ck_assert_int_eq(toks[2].kind, LEX_FLOAT);
    ck_assert_double_eq(toks[2].fval, 0.5);
    ck_assert_int_eq(toks[3].kind, LEX_FLOAT);
    ck_assert_str_eq(toks[3].text, "1.");
    ck_assert_int_eq(toks[4].kind, LEX_FLOAT);
    ck_assert_double_eq(toks[4].fval, 1000.0);
    ck_assert_double_eq_tol(toks[5].fval, 0.025, 1e-12);
    ck_assert_int_eq(toks[6].kind, LEX_INTEGER);
    ck_assert_int_eq(toks[6].ival, INT64_MAX);
    ck_assert_int_eq(toks[7].kind, LEX_FLOAT); /* overflows int64: numeric → float8 */
    ck_assert_double_eq(toks[7].fval, 9223372036854775808.0);
    ck_assert_int_eq(toks[8].kind, LEX_INTEGER);
    ck_assert_str_eq(toks[9].text, "..");
    ck_assert_int_eq(toks[10].ival, 2);
    /* 1e without digits: the number is 1 and e starts an identifier. */
    lex_kind_t kinds[] = {LEX_INTEGER, LEX_IDENT};
    const char *texts[] = {"1", "e"};
    expect_tokens("1e", 2, kinds, texts);
}
END_TEST

START_TEST(test_operators) {
    lex_kind_t k[16];
    for (int i = 0; i < 16; i++) {
        k[i] = LEX_OP;
    }
    const char *t1[] = {"<->", "<=>", "<#>", "->", "->>", "::", "||", "<>", "!=", ">=", "<=", "=>"};
    expect_tokens("<-> <=> <#> -> ->> :: || <> != >= <= =>", 12, k, t1);
    /* a<-1 is a < -1 (an operator may not end in - unless it has a special char) */
    lex_kind_t k2[] = {LEX_IDENT, LEX_OP, LEX_OP, LEX_INTEGER};
    const char *t2[] = {"a", "<", "-", "1"};
    expect_tokens("a<-1", 4, k2, t2);
    const char *t3[] = {"a", "@-", "1"};
    lex_kind_t k3[] = {LEX_IDENT, LEX_OP, LEX_INTEGER};
    expect_tokens("a@-1", 3, k3, t3);
    /* An operator stops before a comment start. */
    const char *t4[] = {"a", "<", "1"};
    expect_tokens("a<--c\n1", 3, k3, t4);
    const char *t5[] = {"a", "*", "1"};
    expect_tokens("a*/* c */1", 3, k3, t5);
    const char *t6[] = {"(", ")", ",", ";", "[", "]", ".", ":", ":="};
    expect_tokens("( ) , ; [ ] . : :=", 9, k, t6);
}
END_TEST

START_TEST(test_strings) {
    ck_assert_int_eq(lex("'it''s' E'a\\n\\t\\\\\\'\\x41\\u00e9\\101\\q' 'a'\n  'b' 'c' 'd'"),
                     CTX_OK);
    ck_assert_int_eq(toks[0].kind, LEX_STRING);
    ck_assert_str_eq(toks[0].text, "it's");
    ck_assert_int_eq(toks[0].length, 7);
    ck_assert_str_eq(toks[1].text, "a\n\t\\'A\xc3\xa9"
                                   "Aq");
    ck_assert_int_eq(toks[1].location, 8);
    ck_assert_str_eq(toks[2].text, "ab"); /* continued across a newline */
    ck_assert_str_eq(toks[3].text, "c");  /* no newline: separate tokens */
    ck_assert_str_eq(toks[4].text, "d");
    /* Standard strings keep backslashes. */
    ck_assert_int_eq(lex("'a\\nb'"), CTX_OK);
    ck_assert_str_eq(toks[0].text, "a\\nb");
    /* Surrogate pair, and invalid escapes. */
    ck_assert_int_eq(lex("E'\\uD83D\\uDE00'"), CTX_OK);
    ck_assert_str_eq(toks[0].text, "\xF0\x9F\x98\x80");
    ck_assert_int_eq(lex("E'\\u12'"), CTX_ESYNTAX);
    ck_assert_int_eq(lex("E'\\0'"), CTX_ESYNTAX);
}
END_TEST

START_TEST(test_dollar_quotes_and_params) {
    ck_assert_int_eq(lex("$$it's $x$$ $tag$a$$b$tag$ $1 $23 $"), CTX_OK);
    ck_assert_int_eq(toks[0].kind, LEX_STRING);
    ck_assert_str_eq(toks[0].text, "it's $x");
    ck_assert_int_eq(toks[1].kind, LEX_STRING);
    ck_assert_str_eq(toks[1].text, "a$$b");
    ck_assert_int_eq(toks[2].kind, LEX_PARAM);
    ck_assert_int_eq(toks[2].ival, 1);
    ck_assert_int_eq(toks[3].ival, 23);
    ck_assert_int_eq(toks[4].kind, LEX_OP);
    ck_assert_str_eq(toks[4].text, "$");
    ck_assert_int_eq(lex("SELECT $q$abc$"), CTX_ESYNTAX);
    ck_assert_str_eq(err.message, "unterminated dollar-quoted string at or near \"$q$abc$\"");
    ck_assert_int_eq(err.position, 8);
}
END_TEST

START_TEST(test_comments) {
    ck_assert_int_eq(lex("-- only a comment\n/* and /* nested */ one */  "), CTX_OK);
    ck_assert_int_eq(ntoks, 1);
    ck_assert_int_eq(lex("a /* x /* y */ z */ b -- tail"), CTX_OK);
    ck_assert_int_eq(ntoks, 3);
    ck_assert_str_eq(toks[1].text, "b");
    ck_assert_int_eq(toks[1].location, 20);
    ck_assert_int_eq(lex("SELECT /* a /* b */ c"), CTX_ESYNTAX);
    ck_assert_str_eq(err.message, "unterminated /* comment at or near \"/* a /* b */ c\"");
    ck_assert_int_eq(err.position, 8);
}
END_TEST

START_TEST(test_unterminated) {
    ck_assert_int_eq(lex("SELECT 'abc"), CTX_ESYNTAX);
    ck_assert_str_eq(err.message, "unterminated quoted string at or near \"'abc\"");
    ck_assert_int_eq(err.position, 8);
    ck_assert_str_eq(ctx_sqlstate(err.code), "42601");
    ck_assert_int_eq(lex("SELECT E'ab\\'"), CTX_ESYNTAX);
    ck_assert_str_eq(err.message, "unterminated quoted string at or near \"E'ab\\'\"");
    ck_assert_int_eq(lex("SELECT \"abc"), CTX_ESYNTAX);
    ck_assert_str_eq(err.message, "unterminated quoted identifier at or near \"\"abc\"");
    /* Positions count characters, not bytes: é and ü are 2 bytes each. */
    ck_assert_int_eq(lex("SELECT 'é', 'ü', 'x"), CTX_ESYNTAX);
    ck_assert_int_eq(err.position, 18);
    ck_assert_int_eq(lex_char_position("éé'x", 6, 4), 3);
    ck_assert_int_eq(lex_char_position("abc", 3, 99), 4);
}
END_TEST

START_TEST(test_locations) {
    const char *text = "SELECT  x1 ,'é' FROM";
    ck_assert_int_eq(lex(text), CTX_OK);
    ck_assert_int_eq(toks[1].location, 8);
    ck_assert_int_eq(toks[1].length, 2);
    ck_assert_int_eq(toks[2].location, 11);
    ck_assert_int_eq(toks[3].location, 12);
    ck_assert_int_eq(toks[3].length, 4);
    ck_assert_int_eq(toks[4].location, 17);
    ck_assert_int_eq(lex_char_position(text, strlen(text), toks[4].location), 17);
}
END_TEST

/* Token texts are sized by the input: past the arena's limit, or when memory is refused at any
 * allocation, the query fails with 53200 instead of going on past the limit or aborting. */
START_TEST(test_token_texts_out_of_memory) {
    enum { BIG = 256 * 1024 };
    static const char *const shapes[] = {"SELECT '%s'", "SELECT \"%s\"", "SELECT 1%s",
                                         "SELECT a%s",  "SELECT $$%s$$", "SELECT 1 <%s 2"};
    char *body = malloc(BIG + 1);
    char *text = malloc(BIG + 64);
    ck_assert(body != NULL && text != NULL);
    for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
        char fill = k == 2 ? '0' : (k == 5 ? '<' : 'x');
        memset(body, fill, BIG);
        body[BIG] = '\0';
        snprintf(text, BIG + 64, shapes[k], body);
        arena_reset(&arena);
        arena_set_limit(&arena, ARENA_LIMIT_MIN_BYTES);
        ck_assert_int_eq(lex(text), CTX_ENOMEM);
        ck_assert_str_eq(ctx_sqlstate(err.code), "53200");
        ck_assert_ptr_nonnull(strstr(err.detail, "statement_mem_limit"));
        arena_set_limit(&arena, 0);
        ck_assert_int_eq(lex(text), CTX_OK);
    }
    for (long n = 1; n <= 8; n++) { /* every allocation of a fresh arena refused in turn */
        arena_destroy(&arena);
        arena_init(&arena);
        ctx_alloc_fail_at(n);
        int rc = lex("SELECT 'abc', \"Quoted\", 12, ident, $1 FROM t");
        ctx_alloc_fail_at(0);
        ck_assert_msg(rc == CTX_OK || rc == CTX_ENOMEM, "allocation %ld: %s", n, err.message);
    }
    free(body);
    free(text);
}
END_TEST

static Suite *lexer_suite(void) {
    Suite *s = suite_create("lexer");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_identifiers_and_keywords);
    tcase_add_test(tc, test_identifier_truncation);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_operators);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_dollar_quotes_and_params);
    tcase_add_test(tc, test_comments);
    tcase_add_test(tc, test_unterminated);
    tcase_add_test(tc, test_locations);
    tcase_add_test(tc, test_token_texts_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(lexer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
