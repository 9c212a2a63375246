/*
 * lexer.h — ContextQL tokens, following PostgreSQL's lexical rules (scan.l).
 *
 * The lexer turns a whole Query text into an array of tokens ending with LEX_EOF, so the parser
 * can look ahead freely and report the location of any token. Identifiers are folded as
 * PostgreSQL folds them (unquoted → ASCII lower case, "quoted" verbatim with "" → "), and
 * truncated to 63 bytes on a character boundary. Keywords are plain LEX_IDENT tokens; the parser
 * recognises them by their folded text (quoted identifiers are never keywords).
 */
#ifndef CTX_LEXER_H
#define CTX_LEXER_H

#include "arena.h"
#include "ctx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    LEX_IDENT_BYTES_MAX = 63,        /* NAMEDATALEN - 1 */
    LEX_TEXT_BYTES_MAX = 0x3fffffff, /* longest query text the lexer accepts */
    LEX_NEAR_BYTES_MAX = 400,        /* longest "at or near" excerpt in error messages */
};

typedef enum {
    LEX_EOF = 0, /* end of input; location = text length */
    LEX_IDENT,   /* identifier or keyword: text folded (unless quoted) */
    LEX_INTEGER, /* integer fitting int64: ival (text = digits as written) */
    LEX_FLOAT,   /* decimal, exponent, or integer overflowing int64: fval (text as written) */
    LEX_STRING,  /* '…', E'…', $$…$$: text = decoded contents (text_len bytes) */
    LEX_PARAM,   /* $n: ival = n (≥ 1… as written; 0 allowed, the binder rejects it) */
    LEX_OP,      /* operator or punctuation: text ("(", ",", "::", "<=>", "->>", "!=", …) */
} lex_kind_t;

/* 32 bytes: a long multi-row INSERT holds several tokens per row until it is parsed. */
typedef struct lex_token {
    const char *text; /* NUL-terminated, arena memory (see kinds) */
    union {
        int64_t ival; /* LEX_INTEGER, LEX_PARAM */
        double fval;  /* LEX_FLOAT */
    };
    int32_t location; /* byte offset of the token's first byte in the text */
    int32_t length;   /* bytes of source text the token spans */
    uint32_t text_len;
    uint8_t kind; /* lex_kind_t */
    bool quoted;  /* LEX_IDENT written as "quoted" (never a keyword) */
} lex_token_t;

_Static_assert(sizeof(lex_token_t) == 32, "lex_token_t stays 32 bytes");

/* Tokenizes text[0, len). On success *tokens holds *count tokens, the last one LEX_EOF: the
 * array is malloc'ed and owned by the caller (lex_tokens_free), the token texts are arena memory
 * and outlive it. On a lexical error returns CTX_ESYNTAX (unterminated string/identifier/comment,
 * bad escape, zero byte) or CTX_ELIMIT (text too long) with PostgreSQL's message and
 * err->position set (1-based character position); *tokens and *count are then NULL and 0. */
int lex_tokenize(const char *text, size_t len, arena_t *arena, lex_token_t **tokens, int *count,
                 ctx_err_t *err);
/* Frees a token array from lex_tokenize (NULL is allowed). */
void lex_tokens_free(lex_token_t *tokens);

/* 1-based character (UTF-8 code point) position of byte_offset in text: what ErrorResponse's
 * position field carries. byte_offset is clamped to [0, len]. */
int lex_char_position(const char *text, size_t len, int byte_offset);

/* True when word (folded) is a PostgreSQL reserved keyword (or one of the join/operator keywords
 * that cannot be a bare column label): such words are never taken as a bare alias or a column. */
bool lex_is_reserved(const char *word);

/* Writes `<prefix> at or near "<excerpt>"` for the source text from location to the end of the
 * token (or, when to_end, to the end of the text), clipped to LEX_NEAR_BYTES_MAX on a character
 * boundary, into err with err->position; returns code. */
int lex_error_near(ctx_err_t *err, int code, const char *prefix, const char *text, size_t len,
                   int location, int length, bool to_end);

#endif
