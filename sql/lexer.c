/*
 * lexer.c — ContextQL tokenizer (see lexer.h), a hand-written transcription of PostgreSQL 15's
 * scan.l for the token classes ContextQL uses.
 *
 * One pass over the text with a cursor; every token records its byte location and source length
 * so errors can quote the source. Decoded payloads (folded identifiers, string contents) are
 * copied into the statement arena; a decoded string is never longer than its source span, so each
 * is one allocation of that span (never of the rest of the text: memory stays linear in the
 * query). The token array itself is malloc'ed and grown in place, because the parser needs it
 * only while it runs: the caller frees it before the statement executes. When it cannot grow
 * (memory refused even after the reserve, ctx.h), the lexer keeps going into a spare token, as a
 * failed buf_t does, and the statement fails with 53200 after the token in hand. Token texts come
 * from arena_try_alloc (their size is the input's): one that does not fit (statement_mem_limit,
 * or memory refused) gives the token an empty text and fails the statement the same way. Rules that
 * differ from a naive tokenizer, as PostgreSQL has them:
 *  - an operator is the longest run of operator characters, cut before an embedded comment start,
 *    and a multi-character operator may end in + or - only if it also contains one of ~!@#^&|`?%
 *    (so `a<-1` is `a < -1` but `a<->b` is `a <-> b`);
 *  - `1.` and `.5` are numbers, `1..2` is `1` `..` `2`, `1e` is `1` then `e`;
 *  - integers that do not fit int64 become LEX_FLOAT (PostgreSQL makes them numeric);
 *  - 'a' followed by whitespace containing a newline and 'b' is the single string 'ab';
 *  - block comments nest, as PostgreSQL's do.
 * Lexical errors quote the rest of the text from the token's start, as PostgreSQL does
 * (`unterminated quoted string at or near "'abc"`).
 */
#include "lexer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct lexer {
    const char *text;
    size_t len;
    size_t pos;
    arena_t *arena;
    ctx_err_t *err;
    lex_token_t *tokens;
    int count;
    int cap;
    bool out_of_memory; /* the token array could not grow: tokens go to spare */
    lex_token_t spare[1];
} lexer_t;

static const char *const lex_reserved_words[] = {
    "all",          "analyse",
    "analyze",      "and",
    "any",          "array",
    "as",           "asc",
    "asymmetric",   "between",
    "both",         "case",
    "cast",         "check",
    "collate",      "column",
    "constraint",   "create",
    "cross",        "current_catalog",
    "current_date", "current_role",
    "current_time", "current_timestamp",
    "current_user", "default",
    "deferrable",   "desc",
    "distinct",     "do",
    "else",         "end",
    "except",       "false",
    "fetch",        "for",
    "foreign",      "from",
    "full",         "grant",
    "group",        "having",
    "ilike",        "in",
    "initially",    "inner",
    "intersect",    "into",
    "is",           "isnull",
    "join",         "lateral",
    "leading",      "left",
    "like",         "limit",
    "localtime",    "localtimestamp",
    "natural",      "not",
    "notnull",      "null",
    "offset",       "on",
    "only",         "or",
    "order",        "outer",
    "placing",      "primary",
    "references",   "returning",
    "right",        "select",
    "session_user", "some",
    "symmetric",    "table",
    "then",         "to",
    "trailing",     "true",
    "union",        "unique",
    "user",         "using",
    "variadic",     "when",
    "where",        "window",
    "with",
};

bool lex_is_reserved(const char *word) {
    CTX_ASSERT(word != NULL);
    size_t n = sizeof(lex_reserved_words) / sizeof(lex_reserved_words[0]);
    size_t lo = 0;
    size_t hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(word, lex_reserved_words[mid]);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return false;
}

int lex_char_position(const char *text, size_t len, int byte_offset) {
    CTX_ASSERT(text != NULL || len == 0);
    size_t end = byte_offset < 0 ? 0 : (size_t)byte_offset;
    if (end > len) {
        end = len;
    }
    int chars = 0;
    for (size_t i = 0; i < end; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            chars++;
        }
    }
    return chars + 1;
}

/* Largest n' <= n such that s[0, n') does not end inside a UTF-8 sequence. */
static size_t lex_clip_utf8(const char *s, size_t n) {
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;
    }
    return n;
}

int lex_error_near(ctx_err_t *err, int code, const char *prefix, const char *text, size_t len,
                   int location, int length, bool to_end) {
    CTX_ASSERT(prefix != NULL);
    CTX_ASSERT(location >= 0 && (size_t)location <= len);
    size_t n = to_end ? len - (size_t)location : (size_t)length;
    if ((size_t)location + n > len) {
        n = len - (size_t)location;
    }
    if (n > LEX_NEAR_BYTES_MAX) {
        n = lex_clip_utf8(text + location, LEX_NEAR_BYTES_MAX);
    }
    int rc = ctx_err_set(err, code, "%s at or near \"%.*s\"", prefix, (int)n, text + location);
    ctx_err_position(err, lex_char_position(text, len, location));
    return rc;
}

static int lex_fail(lexer_t *lx, const char *prefix, size_t start) {
    return lex_error_near(lx->err, CTX_ESYNTAX, prefix, lx->text, lx->len, (int)start, 0, true);
}

static bool lex_is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool lex_is_digit(char c) {
    return c >= '0' && c <= '9';
}

static bool lex_is_ident_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c & 0x80) != 0;
}

static bool lex_is_ident_cont(char c) {
    return lex_is_ident_start(c) || lex_is_digit(c) || c == '$';
}

static bool lex_is_op_char(char c) {
    return c != '\0' && strchr("~!@#^&|`?+-*/%<>=", c) != NULL;
}

static int lex_hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static char lex_peek(const lexer_t *lx, size_t ahead) {
    return lx->pos + ahead < lx->len ? lx->text[lx->pos + ahead] : '\0';
}

/* Skips whitespace and comments; fails on an unterminated block comment. */
static int lex_skip_space(lexer_t *lx) {
    while (lx->pos < lx->len) {
        char c = lx->text[lx->pos];
        if (lex_is_space(c)) {
            lx->pos++;
        } else if (c == '-' && lex_peek(lx, 1) == '-') {
            while (lx->pos < lx->len && lx->text[lx->pos] != '\n' && lx->text[lx->pos] != '\r') {
                lx->pos++;
            }
        } else if (c == '/' && lex_peek(lx, 1) == '*') {
            size_t start = lx->pos;
            int depth = 0;
            do {
                if (lex_peek(lx, 0) == '/' && lex_peek(lx, 1) == '*') {
                    depth++;
                    lx->pos += 2;
                } else if (lex_peek(lx, 0) == '*' && lex_peek(lx, 1) == '/') {
                    depth--;
                    lx->pos += 2;
                } else {
                    lx->pos++;
                }
            } while (depth > 0 && lx->pos < lx->len);
            if (depth > 0) {
                return lex_fail(lx, "unterminated /* comment", start);
            }
        } else {
            break;
        }
    }
    return CTX_OK;
}

/* 53200 for a query whose tokens (the array or a text) did not fit. */
static int lex_out_of_memory(lexer_t *lx) {
    lx->out_of_memory = true;
    if (lx->arena->over_limit) {
        return arena_limit_error(lx->arena, "statement_mem_limit", lx->err);
    }
    ctx_err_set(lx->err, CTX_ENOMEM, "out of memory");
    ctx_err_detail(lx->err, "Failed to hold the tokens of a query of %zu bytes.", lx->len);
    return CTX_ENOMEM;
}

static lex_token_t *lex_push(lexer_t *lx, lex_kind_t kind, size_t start) {
    if (lx->count == lx->cap && !lx->out_of_memory) {
        int cap = lx->cap == 0 ? 64 : lx->cap * 2;
        lex_token_t *grown = ctx_try_realloc(lx->tokens, (size_t)cap * sizeof(*lx->tokens));
        lx->out_of_memory = grown == NULL;
        lx->tokens = grown != NULL ? grown : lx->tokens;
        lx->cap = grown != NULL ? cap : lx->cap;
    }
    lex_token_t *t = lx->out_of_memory ? lx->spare : &lx->tokens[lx->count++];
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    t->location = (int)start;
    t->length = (int)(lx->pos - start);
    return t;
}

/* n bytes of the arena for a token's text, or NULL with out_of_memory set (see the top). */
static char *lex_text_alloc(lexer_t *lx, size_t n) {
    char *p = arena_try_alloc(lx->arena, n);
    if (p == NULL) {
        lx->out_of_memory = true;
    }
    return p;
}

/* A NUL-terminated copy of n bytes at s (arena), or NULL with out_of_memory set. */
static char *lex_text_copy(lexer_t *lx, const char *s, size_t n) {
    char *p = lex_text_alloc(lx, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void lex_set_text(lexer_t *lx, lex_token_t *t, const char *s, size_t n) {
    char *copy = lex_text_copy(lx, s, n);
    t->text = copy != NULL ? copy : "";
    t->text_len = copy != NULL ? (uint32_t)n : 0;
}

/* Identifier or keyword: folds ASCII to lower case, truncates to 63 bytes. */
static void lex_ident(lexer_t *lx) {
    size_t start = lx->pos;
    while (lx->pos < lx->len && lex_is_ident_cont(lx->text[lx->pos])) {
        lx->pos++;
    }
    size_t n = lx->pos - start;
    char *s = lex_text_copy(lx, lx->text + start, n);
    if (s == NULL) {
        lex_push(lx, LEX_IDENT, start)->text = "";
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 'A' && s[i] <= 'Z') {
            s[i] = (char)(s[i] - 'A' + 'a');
        }
    }
    if (n > LEX_IDENT_BYTES_MAX) {
        n = lex_clip_utf8(s, LEX_IDENT_BYTES_MAX);
        s[n] = '\0';
    }
    lex_token_t *t = lex_push(lx, LEX_IDENT, start);
    t->text = s;
    t->text_len = (uint32_t)n;
}

/* Byte offset just past the quoted token whose opening quote is at start: doubled quotes stay
 * inside, a backslash escapes the next byte when escapes, and (continues) a closing quote that
 * is followed by whitespace holding a newline and another quote goes on. lx->len when the token
 * is unterminated. Its decoded text is never longer than this span, so callers allocate the
 * span, not the rest of the query: lexing stays linear in the text. */
static size_t lex_quoted_end(const lexer_t *lx, size_t start, char quote, bool escapes,
                             bool continues) {
    size_t p = start + 1;
    while (p < lx->len) {
        char c = lx->text[p];
        if (c == '\\' && escapes) {
            p += 2;
            continue;
        }
        p++;
        if (c != quote) {
            continue;
        }
        if (p < lx->len && lx->text[p] == quote) {
            p++;
            continue;
        }
        size_t q = p;
        bool newline = false;
        while (continues && q < lx->len && lex_is_space(lx->text[q])) {
            newline = newline || lx->text[q] == '\n' || lx->text[q] == '\r';
            q++;
        }
        if (!(continues && newline && q < lx->len && lx->text[q] == quote)) {
            return p;
        }
        p = q + 1;
    }
    return lx->len;
}

/* "quoted identifier" with "" for a double quote inside. */
static int lex_quoted_ident(lexer_t *lx) {
    size_t start = lx->pos;
    char *out = lex_text_alloc(lx, lex_quoted_end(lx, start, '"', false, false) - start + 1);
    if (out == NULL) {
        return lex_out_of_memory(lx);
    }
    size_t n = 0;
    lx->pos++;
    for (;;) {
        if (lx->pos >= lx->len) {
            return lex_fail(lx, "unterminated quoted identifier", start);
        }
        char c = lx->text[lx->pos++];
        if (c == '"') {
            if (lex_peek(lx, 0) != '"') {
                break;
            }
            lx->pos++;
        }
        out[n++] = c;
    }
    if (n == 0) {
        return lex_fail(lx, "zero-length delimited identifier", start);
    }
    if (n > LEX_IDENT_BYTES_MAX) {
        n = lex_clip_utf8(out, LEX_IDENT_BYTES_MAX);
    }
    out[n] = '\0';
    lex_token_t *t = lex_push(lx, LEX_IDENT, start);
    t->quoted = true;
    t->text = out;
    t->text_len = (uint32_t)n;
    return CTX_OK;
}

static size_t lex_digits(lexer_t *lx) {
    size_t n = 0;
    while (lex_is_digit(lex_peek(lx, 0))) {
        lx->pos++;
        n++;
    }
    return n;
}

/* Integer, decimal or real constant (PostgreSQL's integer/decimal/real rules). */
static void lex_number(lexer_t *lx) {
    size_t start = lx->pos;
    bool is_float = false;
    lex_digits(lx);
    if (lex_peek(lx, 0) == '.' && lex_peek(lx, 1) != '.') {
        is_float = true;
        lx->pos++;
        lex_digits(lx);
    }
    char e = lex_peek(lx, 0);
    if (e == 'e' || e == 'E') {
        size_t mark = lx->pos;
        lx->pos++;
        if (lex_peek(lx, 0) == '+' || lex_peek(lx, 0) == '-') {
            lx->pos++;
        }
        if (lex_digits(lx) == 0) {
            lx->pos = mark; /* realfail: the exponent letter starts the next token */
        } else {
            is_float = true;
        }
    }
    char *s = lex_text_copy(lx, lx->text + start, lx->pos - start);
    lex_token_t *t = lex_push(lx, LEX_INTEGER, start);
    if (s == NULL) {
        t->text = "";
        return;
    }
    t->text = s;
    t->text_len = (uint32_t)(lx->pos - start);
    if (!is_float) {
        errno = 0;
        char *end = NULL;
        long long v = strtoll(s, &end, 10);
        if (errno == 0 && end != NULL && *end == '\0') {
            t->ival = (int64_t)v;
            return;
        }
    }
    t->kind = LEX_FLOAT;
    t->fval = strtod(s, NULL);
}

/* Appends code point cp as UTF-8; returns bytes written. */
static size_t lex_put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Reads exactly ndigits hex digits at the cursor into *cp; false when they are not there. */
static bool lex_read_hex(lexer_t *lx, int ndigits, uint32_t *cp) {
    uint32_t v = 0;
    for (int i = 0; i < ndigits; i++) {
        int h = lex_hex_value(lex_peek(lx, (size_t)i));
        if (h < 0) {
            return false;
        }
        v = v * 16 + (uint32_t)h;
    }
    lx->pos += (size_t)ndigits;
    *cp = v;
    return true;
}

/* \u / \U escape (cursor after the letter), with UTF-16 surrogate pairs. */
static int lex_unicode_escape(lexer_t *lx, char letter, size_t esc_start, char *out, size_t *n) {
    uint32_t cp = 0;
    if (!lex_read_hex(lx, letter == 'u' ? 4 : 8, &cp)) {
        return lex_fail(lx, "invalid Unicode escape", esc_start);
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t low = 0;
        if (lex_peek(lx, 0) != '\\' || lex_peek(lx, 1) != 'u') {
            return lex_fail(lx, "invalid Unicode surrogate pair", esc_start);
        }
        lx->pos += 2;
        if (!lex_read_hex(lx, 4, &low) || low < 0xDC00 || low > 0xDFFF) {
            return lex_fail(lx, "invalid Unicode surrogate pair", esc_start);
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xDC00 && cp <= 0xDFFF)) {
        return lex_fail(lx, "invalid Unicode escape value", esc_start);
    }
    *n += lex_put_utf8(out + *n, cp);
    return CTX_OK;
}

/* One backslash escape of an E'' string; the cursor is on the backslash. */
static int lex_escape(lexer_t *lx, char *out, size_t *n) {
    size_t esc_start = lx->pos;
    lx->pos++;
    if (lx->pos >= lx->len) {
        return CTX_OK; /* the caller reports the unterminated string */
    }
    char c = lx->text[lx->pos++];
    int byte = -1;
    switch (c) {
    case 'b':
        byte = '\b';
        break;
    case 'f':
        byte = '\f';
        break;
    case 'n':
        byte = '\n';
        break;
    case 'r':
        byte = '\r';
        break;
    case 't':
        byte = '\t';
        break;
    case 'u':
    case 'U':
        return lex_unicode_escape(lx, c, esc_start, out, n);
    case 'x':
        if (lex_hex_value(lex_peek(lx, 0)) < 0) {
            byte = 'x';
            break;
        }
        byte = lex_hex_value(lx->text[lx->pos++]);
        if (lex_hex_value(lex_peek(lx, 0)) >= 0) {
            byte = byte * 16 + lex_hex_value(lx->text[lx->pos++]);
        }
        break;
    default:
        if (c >= '0' && c <= '7') {
            byte = c - '0';
            for (int i = 0; i < 2 && lex_peek(lx, 0) >= '0' && lex_peek(lx, 0) <= '7'; i++) {
                byte = byte * 8 + (lx->text[lx->pos++] - '0');
            }
            byte &= 0xFF;
        } else {
            byte = (unsigned char)c;
        }
    }
    if (byte == 0) {
        return lex_fail(lx, "invalid byte sequence for encoding \"UTF8\": 0x00", esc_start);
    }
    out[(*n)++] = (char)byte;
    return CTX_OK;
}

/* After a closing quote: whitespace containing a newline then another quote continues the
 * string (SQL standard). Moves the cursor past that quote and returns true if so. */
static bool lex_string_continues(lexer_t *lx) {
    size_t p = lx->pos;
    bool newline = false;
    while (p < lx->len && lex_is_space(lx->text[p])) {
        newline = newline || lx->text[p] == '\n' || lx->text[p] == '\r';
        p++;
    }
    if (newline && p < lx->len && lx->text[p] == '\'') {
        lx->pos = p + 1;
        return true;
    }
    return false;
}

/* '…' (escapes = false) or E'…' (escapes = true); the cursor is on the opening quote. */
static int lex_string(lexer_t *lx, size_t start, bool escapes) {
    size_t end = lex_quoted_end(lx, lx->pos, '\'', escapes, true);
    char *out = lex_text_alloc(lx, end - lx->pos + 1);
    if (out == NULL) {
        return lex_out_of_memory(lx);
    }
    size_t n = 0;
    lx->pos++;
    for (;;) {
        if (lx->pos >= lx->len) {
            return lex_fail(lx, "unterminated quoted string", start);
        }
        char c = lx->text[lx->pos];
        if (c == '\'') {
            lx->pos++;
            if (lex_peek(lx, 0) == '\'') {
                out[n++] = '\'';
                lx->pos++;
            } else if (!lex_string_continues(lx)) {
                break;
            }
        } else if (c == '\\' && escapes) {
            int rc = lex_escape(lx, out, &n);
            if (rc != CTX_OK) {
                return rc;
            }
        } else {
            out[n++] = c;
            lx->pos++;
        }
    }
    out[n] = '\0';
    lex_token_t *t = lex_push(lx, LEX_STRING, start);
    t->text = out;
    t->text_len = (uint32_t)n;
    return CTX_OK;
}

/* Length of a dollar-quote delimiter ($$ or $tag$) at the cursor, 0 if there is none. */
static size_t lex_dollar_delim(const lexer_t *lx) {
    size_t i = 1;
    if (lex_is_ident_start(lex_peek(lx, i))) {
        while (lex_is_ident_cont(lex_peek(lx, i)) && lex_peek(lx, i) != '$') {
            i++;
        }
    }
    return lex_peek(lx, i) == '$' ? i + 1 : 0;
}

/* $n parameter, $tag$…$tag$ string, or a lone '$' (which the parser rejects). */
static int lex_dollar(lexer_t *lx) {
    size_t start = lx->pos;
    if (lex_is_digit(lex_peek(lx, 1))) {
        lx->pos++;
        size_t digits_start = lx->pos;
        lex_digits(lx);
        char *s = lex_text_copy(lx, lx->text + digits_start, lx->pos - digits_start);
        if (s == NULL) {
            return lex_out_of_memory(lx);
        }
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno != 0 || v > INT32_MAX) {
            return lex_fail(lx, "parameter number too large", start);
        }
        lex_token_t *t = lex_push(lx, LEX_PARAM, start);
        t->ival = v;
        lex_set_text(lx, t, lx->text + start, lx->pos - start);
        return CTX_OK;
    }
    size_t delim = lex_dollar_delim(lx);
    if (delim == 0) {
        lx->pos++;
        lex_set_text(lx, lex_push(lx, LEX_OP, start), "$", 1);
        return CTX_OK;
    }
    const char *tag = lx->text + start;
    size_t body = start + delim;
    for (size_t p = body; p + delim <= lx->len; p++) {
        if (lx->text[p] == '$' && memcmp(lx->text + p, tag, delim) == 0) {
            lx->pos = p + delim;
            lex_set_text(lx, lex_push(lx, LEX_STRING, start), lx->text + body, p - body);
            return CTX_OK;
        }
    }
    return lex_fail(lx, "unterminated dollar-quoted string", start);
}

/* Punctuation and operators whose token text points at this table instead of an arena copy. */
static const char *const lex_common_ops[] = {
    "(",  ")",  ",", ";", "[", "]", ".", ":",  "::", "=",   "<",  ">",   "<=",  ">=",
    "<>", "!=", "+", "-", "*", "/", "%", "||", "->", "->>", "=>", "<->", "<=>", "<#>"};

/* Operator per PostgreSQL's {operator} rule, or a single punctuation character. */
static void lex_operator(lexer_t *lx) {
    size_t start = lx->pos;
    size_t n = 0;
    while (lex_is_op_char(lex_peek(lx, n))) {
        n++;
    }
    const char *s = lx->text + start;
    for (size_t i = 0; i + 1 < n; i++) {
        if ((s[i] == '/' && s[i + 1] == '*') || (s[i] == '-' && s[i + 1] == '-')) {
            n = i;
            break;
        }
    }
    if (n > 1 && (s[n - 1] == '+' || s[n - 1] == '-')) {
        bool special = false;
        for (size_t i = 0; i + 1 < n; i++) {
            special = special || strchr("~!@#^&|`?%", s[i]) != NULL;
        }
        while (!special && n > 1 && (s[n - 1] == '+' || s[n - 1] == '-')) {
            n--;
        }
    }
    if (n == 0) {
        n = 1; /* punctuation: ( ) , ; [ ] . : or a character no rule accepts */
        if (s[0] == ':' && (lex_peek(lx, 1) == ':' || lex_peek(lx, 1) == '=')) {
            n = 2;
        } else if (s[0] == '.' && lex_peek(lx, 1) == '.') {
            n = 2;
        } else if (((unsigned char)s[0] & 0x80) != 0) {
            n = 1;
        }
    }
    lx->pos += n;
    lex_token_t *t = lex_push(lx, LEX_OP, start);
    for (size_t i = 0; i < sizeof(lex_common_ops) / sizeof(lex_common_ops[0]); i++) {
        if (strlen(lex_common_ops[i]) == n && memcmp(lex_common_ops[i], s, n) == 0) {
            t->text = lex_common_ops[i]; /* no copy per punctuation token */
            t->text_len = (uint32_t)n;
            return;
        }
    }
    lex_set_text(lx, t, s, n);
}

/* Scans one token at the cursor (which is not at whitespace or end of input). */
static int lex_one(lexer_t *lx) {
    char c = lx->text[lx->pos];
    char next = lex_peek(lx, 1);
    if (c == '\0') {
        return lex_fail(lx, "invalid byte sequence for encoding \"UTF8\": 0x00", lx->pos);
    }
    if ((c == 'e' || c == 'E') && next == '\'') {
        size_t start = lx->pos;
        lx->pos++;
        return lex_string(lx, start, true);
    }
    if ((c == 'n' || c == 'N') && next == '\'') {
        size_t start = lx->pos;
        lx->pos++;
        return lex_string(lx, start, false);
    }
    if (lex_is_ident_start(c)) {
        lex_ident(lx);
        return CTX_OK;
    }
    if (lex_is_digit(c) || (c == '.' && lex_is_digit(next))) {
        lex_number(lx);
        return CTX_OK;
    }
    switch (c) {
    case '\'':
        return lex_string(lx, lx->pos, false);
    case '"':
        return lex_quoted_ident(lx);
    case '$':
        return lex_dollar(lx);
    default:
        lex_operator(lx);
        return CTX_OK;
    }
}

int lex_tokenize(const char *text, size_t len, arena_t *arena, lex_token_t **tokens, int *count,
                 ctx_err_t *err) {
    CTX_ASSERT(text != NULL || len == 0);
    CTX_ASSERT(arena != NULL && tokens != NULL && count != NULL);
    lexer_t lx = {.text = text == NULL ? "" : text, .len = len, .arena = arena, .err = err};
    int rc = CTX_OK;
    if (len > LEX_TEXT_BYTES_MAX) {
        rc = ctx_err_set(err, CTX_ELIMIT, "query text of %zu bytes is too long", len);
        goto fail;
    }
    for (;;) {
        rc = lex_skip_space(&lx);
        if (rc != CTX_OK) {
            goto fail;
        }
        if (lx.pos >= lx.len) {
            break;
        }
        rc = lex_one(&lx);
        if (rc == CTX_OK && lx.out_of_memory) {
            rc = lex_out_of_memory(&lx);
        }
        if (rc != CTX_OK) {
            goto fail;
        }
        CTX_ASSERT(lx.tokens[lx.count - 1].length > 0);
    }
    lex_set_text(&lx, lex_push(&lx, LEX_EOF, lx.len), "", 0);
    if (lx.out_of_memory) {
        rc = ctx_err_set(err, CTX_ENOMEM, "out of memory");
        goto fail;
    }
    *tokens = lx.tokens;
    *count = lx.count;
    return CTX_OK;
fail:
    free(lx.tokens);
    *tokens = NULL;
    *count = 0;
    return rc;
}

void lex_tokens_free(lex_token_t *tokens) {
    free(tokens);
}
