/*
 * json.c — jsonb input (canonicalization) and navigation over canonical jsonb text.
 *
 * JSON values are stored as canonical jsonb text, so equality is byte equality and output is a
 * copy. value_json_canonical() parses with a small recursive-descent parser of its own (depth
 * bounded by JSON_DEPTH_MAX) rather than jansson, because jsonb keeps numbers as PostgreSQL's
 * numeric prints them ("2.50" stays "2.50", "1e3" becomes "1000", "-0" becomes "0"), which a
 * parser that converts numbers to double cannot reproduce; error details are PostgreSQL's json
 * lexer messages ("The input string ended unexpectedly.", "Token \"x\" is invalid.").
 * The parse builds an arena tree: strings decoded (\uXXXX with surrogate pairs → UTF-8; \u0000 is
 * rejected as PostgreSQL does), object members sorted the jsonb way (shorter key first, then
 * bytewise) with the last duplicate kept. The tree is then printed with ", " and ": ".
 *
 * Navigation (->, ->>, jsonb_typeof, jsonb_array_length) scans canonical text directly: it is
 * known valid, so skipping a value is bracket counting outside strings.
 */
#include "json.h"
#include "stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { J_NULL, J_TRUE, J_FALSE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };
enum { JSON_EXPONENT_MAX = 10000 };

typedef struct jnode jnode_t;
typedef struct jpair {
    const char *key;
    uint32_t key_len;
    uint32_t order; /* position in input, to keep the last duplicate */
    jnode_t *value;
} jpair_t;

struct jnode {
    int type;
    const char *str; /* J_STRING decoded bytes, J_NUMBER normalized text */
    uint32_t len;
    uint32_t count; /* J_ARRAY items / J_OBJECT pairs */
    jnode_t **items;
    jpair_t *pairs;
};

typedef struct jparser {
    const char *p;
    const char *end;
    const char *text;
    uint32_t text_len;
    arena_t *arena;
    ctx_err_t *err;
    buf_t scratch;
} jparser_t;

static bool j_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool j_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || (unsigned char)c >= 0x80;
}

static void j_skip_space(jparser_t *jp) {
    while (jp->p < jp->end && j_space(*jp->p)) {
        jp->p++;
    }
}

static int j_error(jparser_t *jp, const char *fmt, const char *token, int token_len) {
    int rc = ctx_err_set(jp->err, CTX_EINVALID_JSON, "invalid input syntax for type json");
    ctx_err_detail(jp->err, fmt, token_len, token);
    return rc;
}

static int j_error_end(jparser_t *jp) {
    int rc = ctx_err_set(jp->err, CTX_EINVALID_JSON, "invalid input syntax for type json");
    ctx_err_detail(jp->err, "The input string ended unexpectedly.");
    return rc;
}

/* Length of the token starting at p, as PostgreSQL's lexer delimits it for messages. */
static int j_token_len(const jparser_t *jp, const char *p) {
    const char *q = p;
    if (q >= jp->end) {
        return 0;
    }
    if (*q == '"') {
        for (q++; q < jp->end && *q != '"'; q++) {
            if (*q == '\\' && q + 1 < jp->end) {
                q++;
            }
        }
        return (int)(q < jp->end ? q + 1 - p : q - p);
    }
    if (!j_alnum(*q) && *q != '-') {
        return 1;
    }
    for (q++; q < jp->end && (j_alnum(*q) || *q == '.' || *q == '+' || *q == '-'); q++) {
    }
    return (int)(q - p);
}

/* "Expected X, but found "tok"." at the current position (or end-of-input). */
static int j_expected(jparser_t *jp, const char *what) {
    char fmt[96];
    if (jp->p >= jp->end) {
        return j_error_end(jp);
    }
    if (j_alnum(*jp->p) && !(*jp->p >= '0' && *jp->p <= '9')) {
        return j_error(jp, "Token \"%.*s\" is invalid.", jp->p, j_token_len(jp, jp->p));
    }
    snprintf(fmt, sizeof(fmt), "Expected %s, but found \"%%.*s\".", what);
    return j_error(jp, fmt, jp->p, j_token_len(jp, jp->p));
}

static int j_hex4(const char *p, const char *end, uint32_t *out) {
    uint32_t v = 0;
    if (end - p < 4) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return 0;
}

static void j_put_utf8(buf_t *b, uint32_t cp) {
    uint8_t s[4];
    size_t n = 0;
    if (cp < 0x80) {
        s[n++] = (uint8_t)cp;
    } else if (cp < 0x800) {
        s[n++] = (uint8_t)(0xC0 | (cp >> 6));
        s[n++] = (uint8_t)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s[n++] = (uint8_t)(0xE0 | (cp >> 12));
        s[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        s[n++] = (uint8_t)(0x80 | (cp & 0x3F));
    } else {
        s[n++] = (uint8_t)(0xF0 | (cp >> 18));
        s[n++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        s[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        s[n++] = (uint8_t)(0x80 | (cp & 0x3F));
    }
    buf_append(b, s, n);
}

/* Decodes \uXXXX (and a following low surrogate) at jp->p (just after "\u"). */
static int j_unicode_escape(jparser_t *jp) {
    uint32_t cp = 0;
    uint32_t lo = 0;
    if (j_hex4(jp->p, jp->end, &cp) != 0) {
        return j_error(jp, "\"\\u\" must be followed by four hexadecimal digits.%.*s", "", 0);
    }
    jp->p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (jp->end - jp->p < 6 || jp->p[0] != '\\' || jp->p[1] != 'u' ||
            j_hex4(jp->p + 2, jp->end, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
            return j_error(jp, "Unicode low surrogate must follow a high surrogate.%.*s", "", 0);
        }
        jp->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return j_error(jp, "Unicode low surrogate must follow a high surrogate.%.*s", "", 0);
    } else if (cp == 0) {
        int rc = ctx_err_set(jp->err, CTX_EBAD_LITERAL, "unsupported Unicode escape sequence");
        ctx_err_detail(jp->err, "\\u0000 cannot be converted to text.");
        return rc;
    }
    j_put_utf8(&jp->scratch, cp);
    return 0;
}

static int j_escape(jparser_t *jp) {
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    if (jp->p >= jp->end) {
        return j_error_end(jp);
    }
    char c = *jp->p++;
    if (c == 'u') {
        return j_unicode_escape(jp);
    }
    const char *hit = memchr(from, c, sizeof(from) - 1);
    if (hit == NULL) {
        return j_error(jp, "Escape sequence \"\\%.*s\" is invalid.", jp->p - 1, 1);
    }
    buf_append_u8(&jp->scratch, (uint8_t)to[hit - from]);
    return 0;
}

/* Parses a string at jp->p (on the opening quote); decoded bytes go to the arena. */
static int j_string(jparser_t *jp, const char **out, uint32_t *len_out) {
    const char *start = jp->p;
    buf_reset(&jp->scratch);
    for (jp->p++; jp->p < jp->end && *jp->p != '"';) {
        unsigned char c = (unsigned char)*jp->p;
        if (c == '\\') {
            jp->p++;
            int rc = j_escape(jp);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (c < 0x20) {
            int rc = ctx_err_set(jp->err, CTX_EINVALID_JSON, "invalid input syntax for type json");
            ctx_err_detail(jp->err, "Character with value 0x%02x must be escaped.", c);
            return rc;
        }
        buf_append_u8(&jp->scratch, c);
        jp->p++;
    }
    if (jp->p >= jp->end) {
        return j_error(jp, "Token \"%.*s\" is invalid.", start, (int)(jp->end - start));
    }
    jp->p++;
    *len_out = (uint32_t)buf_size(&jp->scratch);
    *out = arena_strndup(jp->arena, (const char *)buf_peek(&jp->scratch), *len_out);
    return 0;
}

/* Writes the numeric text of digits (no sign) with the decimal point after `point` digits. */
static char *j_number_text(arena_t *arena, bool neg, const char *digits, int nd, int point) {
    int lead = 0;
    while (lead < nd && lead < point && digits[lead] == '0') {
        lead++;
    }
    bool zero = true;
    for (int i = 0; i < nd; i++) {
        zero = zero && digits[i] == '0';
    }
    int int_digits = point - lead > 0 ? point - lead : 0;
    int frac_digits = nd - point > 0 ? nd - point : 0;
    char *out = arena_alloc(arena, (size_t)(int_digits + frac_digits) + 4);
    size_t n = 0;
    if (neg && !zero) {
        out[n++] = '-';
    }
    if (int_digits == 0) {
        out[n++] = '0';
    }
    for (int i = lead; i < point; i++) {
        out[n++] = i < nd ? digits[i] : '0';
    }
    if (frac_digits > 0) {
        out[n++] = '.';
        for (int i = point; i < nd; i++) {
            out[n++] = i < 0 ? '0' : digits[i];
        }
    }
    out[n] = '\0';
    return out;
}

/* Parses a JSON number and normalizes it the way numeric_in + numeric_out print it. */
static int j_number(jparser_t *jp, jnode_t *node) {
    const char *start = jp->p;
    const char *p = jp->p;
    bool neg = false;
    const char *span_end = p;
    while (span_end < jp->end &&
           ((*span_end >= '0' && *span_end <= '9') || *span_end == '.' || *span_end == 'e' ||
            *span_end == 'E' || *span_end == '+' || *span_end == '-')) {
        span_end++;
    }
    char *digits = arena_alloc(jp->arena, (size_t)(span_end - p) + 1); /* this number's span */
    int nd = 0;
    int point = 0;
    long exp = 0;
    bool ok = true;

    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p < jp->end && *p == '0') {
        digits[nd++] = *p++;
    } else if (p < jp->end && *p >= '1' && *p <= '9') {
        while (p < jp->end && *p >= '0' && *p <= '9') {
            digits[nd++] = *p++;
        }
    } else {
        ok = false;
    }
    point = nd;
    if (ok && p < jp->end && *p == '.') {
        p++;
        ok = p < jp->end && *p >= '0' && *p <= '9';
        while (p < jp->end && *p >= '0' && *p <= '9') {
            digits[nd++] = *p++;
        }
    }
    if (ok && p < jp->end && (*p == 'e' || *p == 'E')) {
        bool eneg = false;
        p++;
        if (p < jp->end && (*p == '+' || *p == '-')) {
            eneg = *p++ == '-';
        }
        ok = p < jp->end && *p >= '0' && *p <= '9';
        while (p < jp->end && *p >= '0' && *p <= '9') {
            exp = exp < JSON_EXPONENT_MAX * 10 ? exp * 10 + (*p - '0') : exp;
            p++;
        }
        exp = eneg ? -exp : exp;
    }
    if (!ok || (p < jp->end && (j_alnum(*p) || *p == '.'))) {
        return j_error(jp, "Token \"%.*s\" is invalid.", start, j_token_len(jp, start));
    }
    if (exp > JSON_EXPONENT_MAX || exp < -JSON_EXPONENT_MAX) {
        return ctx_err_set(jp->err, CTX_ERANGE, "value overflows numeric format");
    }
    jp->p = p;
    node->type = J_NUMBER;
    node->str = j_number_text(jp->arena, neg, digits, nd, point + (int)exp);
    node->len = (uint32_t)strlen(node->str);
    return 0;
}

static int j_value(jparser_t *jp, jnode_t *node, int depth);

static int j_array(jparser_t *jp, jnode_t *node, int depth) {
    uint32_t cap = 4;
    node->type = J_ARRAY;
    node->items = arena_alloc(jp->arena, sizeof(jnode_t *) * cap);
    jp->p++;
    j_skip_space(jp);
    if (jp->p < jp->end && *jp->p == ']') {
        jp->p++;
        return 0;
    }
    for (;;) {
        if (node->count == cap) {
            jnode_t **grown = arena_alloc(jp->arena, sizeof(jnode_t *) * cap * 2);
            memcpy(grown, node->items, sizeof(jnode_t *) * cap);
            node->items = grown;
            cap *= 2;
        }
        jnode_t *item = arena_calloc(jp->arena, 1, sizeof(*item));
        int rc = j_value(jp, item, depth + 1);
        if (rc != 0) {
            return rc;
        }
        node->items[node->count++] = item;
        j_skip_space(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == ']') {
            jp->p++;
            return 0;
        }
        return j_expected(jp, "\",\" or \"]\"");
    }
}

static int j_pair_cmp(const void *pa, const void *pb) {
    const jpair_t *a = pa;
    const jpair_t *b = pb;
    if (a->key_len != b->key_len) {
        return a->key_len < b->key_len ? -1 : 1;
    }
    int c = a->key_len > 0 ? memcmp(a->key, b->key, a->key_len) : 0;
    if (c != 0) {
        return c;
    }
    return a->order < b->order ? -1 : (a->order > b->order);
}

/* Sorts members the jsonb way and keeps the last of each duplicated key. */
static void j_object_finish(jnode_t *node) {
    uint32_t kept = 0;
    ctx_qsort(node->pairs, node->count, sizeof(jpair_t), j_pair_cmp);
    for (uint32_t i = 0; i < node->count; i++) {
        bool dup_next =
            i + 1 < node->count && node->pairs[i + 1].key_len == node->pairs[i].key_len &&
            memcmp(node->pairs[i + 1].key, node->pairs[i].key, node->pairs[i].key_len) == 0;
        if (!dup_next) {
            node->pairs[kept++] = node->pairs[i];
        }
    }
    node->count = kept;
}

static int j_member(jparser_t *jp, jpair_t *pair, int depth, const char *expect) {
    int rc;
    j_skip_space(jp);
    if (jp->p >= jp->end || *jp->p != '"') {
        return j_expected(jp, expect);
    }
    rc = j_string(jp, &pair->key, &pair->key_len);
    if (rc != 0) {
        return rc;
    }
    j_skip_space(jp);
    if (jp->p >= jp->end || *jp->p != ':') {
        return j_expected(jp, "\":\"");
    }
    jp->p++;
    pair->value = arena_calloc(jp->arena, 1, sizeof(jnode_t));
    return j_value(jp, pair->value, depth + 1);
}

static int j_object(jparser_t *jp, jnode_t *node, int depth) {
    uint32_t cap = 4;
    node->type = J_OBJECT;
    node->pairs = arena_alloc(jp->arena, sizeof(jpair_t) * cap);
    jp->p++;
    j_skip_space(jp);
    if (jp->p < jp->end && *jp->p == '}') {
        jp->p++;
        return 0;
    }
    for (;;) {
        if (node->count == cap) {
            jpair_t *grown = arena_alloc(jp->arena, sizeof(jpair_t) * cap * 2);
            memcpy(grown, node->pairs, sizeof(jpair_t) * cap);
            node->pairs = grown;
            cap *= 2;
        }
        jpair_t *pair = &node->pairs[node->count];
        int rc = j_member(jp, pair, depth, node->count == 0 ? "string or \"}\"" : "string");
        if (rc != 0) {
            return rc;
        }
        pair->order = node->count++;
        j_skip_space(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == '}') {
            jp->p++;
            j_object_finish(node);
            return 0;
        }
        return j_expected(jp, "\",\" or \"}\"");
    }
}

static int j_word(jparser_t *jp, jnode_t *node) {
    static const struct {
        const char *word;
        int type;
    } words[] = {{"true", J_TRUE}, {"false", J_FALSE}, {"null", J_NULL}};
    int n = j_token_len(jp, jp->p);
    for (size_t i = 0; i < 3; i++) {
        if ((size_t)n == strlen(words[i].word) && memcmp(jp->p, words[i].word, (size_t)n) == 0) {
            node->type = words[i].type;
            jp->p += n;
            return 0;
        }
    }
    return j_error(jp, "Token \"%.*s\" is invalid.", jp->p, n);
}

static int j_value(jparser_t *jp, jnode_t *node, int depth) {
    CTX_ASSERT(depth >= 0);
    if (depth > JSON_DEPTH_MAX) {
        return ctx_err_set(jp->err, CTX_ELIMIT, "JSON nesting depth exceeds the maximum of %d",
                           JSON_DEPTH_MAX);
    }
    int rc = ctx_stack_check(jp->err);
    if (rc != CTX_OK) {
        return rc;
    }
    j_skip_space(jp);
    if (jp->p >= jp->end) {
        return j_error_end(jp);
    }
    switch (*jp->p) {
    case '{':
        return j_object(jp, node, depth);
    case '[':
        return j_array(jp, node, depth);
    case '"':
        node->type = J_STRING;
        return j_string(jp, &node->str, &node->len);
    default:
        break;
    }
    if (*jp->p == '-' || (*jp->p >= '0' && *jp->p <= '9')) {
        return j_number(jp, node);
    }
    if (j_alnum(*jp->p)) {
        return j_word(jp, node);
    }
    return j_expected(jp, "JSON value");
}

void json_append_string(buf_t *b, const char *s, size_t len) {
    buf_append_u8(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            break;
        }
        if (esc != NULL) {
            json_append_raw(b, esc);
        } else if (c < 0x20) {
            buf_printf(b, "\\u%04x", c);
        } else {
            buf_append_u8(b, c);
        }
    }
    buf_append_u8(b, '"');
}

/* Prints a parsed tree canonically; depth is bounded by the parser's limit and the stack. */
static int j_print(buf_t *b, const jnode_t *node, ctx_err_t *err) {
    static const char *const words[] = {"null", "true", "false"};
    int rc = ctx_stack_check(err);
    if (rc != CTX_OK) {
        return rc;
    }
    switch (node->type) {
    case J_NULL:
    case J_TRUE:
    case J_FALSE:
        json_append_raw(b, words[node->type]);
        return CTX_OK;
    case J_NUMBER:
        buf_append(b, node->str, node->len);
        return CTX_OK;
    case J_STRING:
        json_append_string(b, node->str, node->len);
        return CTX_OK;
    case J_ARRAY:
        buf_append_u8(b, '[');
        for (uint32_t i = 0; rc == CTX_OK && i < node->count; i++) {
            json_append_raw(b, i > 0 ? ", " : "");
            rc = j_print(b, node->items[i], err);
        }
        buf_append_u8(b, ']');
        return rc;
    default:
        CTX_ASSERT(node->type == J_OBJECT);
        buf_append_u8(b, '{');
        for (uint32_t i = 0; rc == CTX_OK && i < node->count; i++) {
            json_append_raw(b, i > 0 ? ", " : "");
            json_append_string(b, node->pairs[i].key, node->pairs[i].key_len);
            json_append_raw(b, ": ");
            rc = j_print(b, node->pairs[i].value, err);
        }
        buf_append_u8(b, '}');
        return rc;
    }
}

int value_json_canonical(const char *text, uint32_t len, arena_t *arena, value_t *out,
                         ctx_err_t *err) {
    arena_t tree; /* the parse tree is scratch: only the canonical text goes to arena */
    jparser_t jp = {
        .p = text, .end = text + len, .text = text, .text_len = len, .arena = &tree, .err = err};
    jnode_t root = {0};
    buf_t b;
    int rc;

    CTX_ASSERT(arena != NULL && out != NULL);
    CTX_ASSERT(text != NULL || len == 0);
    arena_init(&tree);
    buf_init(&jp.scratch);
    buf_init(&b);
    rc = j_value(&jp, &root, 0);
    if (rc != 0) {
        goto done;
    }
    j_skip_space(&jp);
    if (jp.p < jp.end) {
        rc = j_expected(&jp, "end of input");
        goto done;
    }
    rc = j_print(&b, &root, err);
    if (rc != 0) {
        goto done;
    }
    *out = value_json(arena_strndup(arena, (const char *)buf_peek(&b), buf_size(&b)),
                      (uint32_t)buf_size(&b));
done:
    if (rc != 0) {
        *out = value_null();
    }
    buf_free(&jp.scratch);
    buf_free(&b);
    arena_destroy(&tree);
    return rc;
}

/* ---- navigation over canonical text ----------------------------------------------------- */

/* End of the value starting at p (canonical text: no leading space). */
static const char *j_skip_value(const char *p, const char *end) {
    int depth = 0;
    CTX_ASSERT(p < end);
    do {
        char c = *p;
        if (c == '"') {
            for (p++; *p != '"'; p++) {
                p += *p == '\\';
            }
            p++;
        } else if (c == '{' || c == '[') {
            depth++;
            p++;
        } else if (c == '}' || c == ']') {
            depth--;
            p++;
        } else if (depth > 0 && (c == ',' || c == ' ' || c == ':')) {
            p++;
        } else {
            while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != ':') {
                p++;
            }
        }
    } while (depth > 0 && p < end);
    return p;
}

const char *jsonb_typeof(json_slice_t doc) {
    CTX_ASSERT(doc.len > 0);
    switch (doc.ptr[0]) {
    case '{':
        return "object";
    case '[':
        return "array";
    case '"':
        return "string";
    case 't':
    case 'f':
        return "boolean";
    case 'n':
        return "null";
    default:
        return "number";
    }
}

/* Calls back for each element (array) or member (object; key includes quotes). Stops when fn
 * returns true; returns that. */
typedef bool (*j_each_fn)(json_slice_t key, json_slice_t value, void *arg);

static bool j_each(json_slice_t doc, j_each_fn fn, void *arg) {
    const char *p = doc.ptr + 1;
    const char *end = doc.ptr + doc.len;
    bool object = doc.ptr[0] == '{';
    CTX_ASSERT(doc.ptr[0] == '{' || doc.ptr[0] == '[');
    while (p < end && *p != ']' && *p != '}') {
        json_slice_t key = {NULL, 0};
        if (object) {
            const char *k = p;
            p = j_skip_value(p, end);
            key = (json_slice_t){k, (uint32_t)(p - k)};
            p += 2; /* ": " */
        }
        const char *v = p;
        p = j_skip_value(p, end);
        if (fn(key, (json_slice_t){v, (uint32_t)(p - v)}, arg)) {
            return true;
        }
        if (*p == ',') {
            p += 2;
        }
    }
    return false;
}

typedef struct j_find {
    int64_t idx;
    const char *key;
    uint32_t key_len;
    json_slice_t out;
} j_find_t;

static bool j_count_cb(json_slice_t key, json_slice_t value, void *arg) {
    (void)key;
    (void)value;
    ((j_find_t *)arg)->idx++;
    return false;
}

static bool j_index_cb(json_slice_t key, json_slice_t value, void *arg) {
    j_find_t *f = arg;
    (void)key;
    if (f->idx-- == 0) {
        f->out = value;
        return true;
    }
    return false;
}

static bool j_key_cb(json_slice_t key, json_slice_t value, void *arg) {
    j_find_t *f = arg;
    if (key.len == f->key_len && ctx_memcmp(key.ptr, f->key, key.len) == 0) {
        f->out = value;
        return true;
    }
    return false;
}

int64_t json_array_length(json_slice_t doc) {
    j_find_t f = {0};
    if (doc.len == 0 || doc.ptr[0] != '[') {
        return -1;
    }
    j_each(doc, j_count_cb, &f);
    return f.idx;
}

bool jsonb_array_get(json_slice_t doc, int64_t idx, json_slice_t *out) {
    j_find_t f = {.idx = idx};
    if (doc.len == 0 || doc.ptr[0] != '[') {
        return false;
    }
    if (idx < 0) {
        int64_t n = json_array_length(doc);
        if (-idx > n) {
            return false;
        }
        f.idx = n + idx;
    }
    if (!j_each(doc, j_index_cb, &f)) {
        return false;
    }
    *out = f.out;
    return true;
}

bool jsonb_object_get(json_slice_t doc, const char *key, uint32_t key_len, json_slice_t *out) {
    buf_t b;
    j_find_t f = {0};
    bool found = false;
    if (doc.len == 0 || doc.ptr[0] != '{') {
        return false;
    }
    buf_init(&b);
    json_append_string(&b, key, key_len);
    f.key = (const char *)buf_peek(&b);
    f.key_len = (uint32_t)buf_size(&b);
    found = j_each(doc, j_key_cb, &f);
    if (found) {
        *out = f.out;
    }
    buf_free(&b);
    return found;
}

bool json_as_text(json_slice_t v, arena_t *arena, json_slice_t *out) {
    CTX_ASSERT(v.len > 0);
    if (v.ptr[0] == 'n') {
        return false;
    }
    if (v.ptr[0] != '"') {
        *out = v;
        return true;
    }
    if (memchr(v.ptr, '\\', v.len) == NULL) {
        *out = (json_slice_t){v.ptr + 1, v.len - 2};
        return true;
    }
    /* Canonical strings were validated: re-parse to decode escapes. */
    jparser_t jp = {.p = v.ptr, .end = v.ptr + v.len, .arena = arena};
    buf_init(&jp.scratch);
    int rc = j_string(&jp, &out->ptr, &out->len);
    CTX_ASSERT(rc == 0);
    buf_free(&jp.scratch);
    return true;
}

static bool j_append_cb(json_slice_t key, json_slice_t value, void *arg) {
    buf_t *b = arg;
    if (buf_size(b) > 1) {
        json_append_raw(b, ", ");
    }
    if (key.ptr != NULL) {
        buf_append(b, key.ptr, key.len);
        json_append_raw(b, ": ");
    }
    buf_append(b, value.ptr, value.len);
    return false;
}

/* Appends the elements of a (or a itself when a scalar/object acts as one element). */
static void j_append_elements(buf_t *b, json_slice_t a) {
    if (a.ptr[0] == '[') {
        j_each(a, j_append_cb, b);
    } else {
        j_append_cb((json_slice_t){NULL, 0}, a, b);
    }
}

int json_concat(json_slice_t a, json_slice_t b, arena_t *arena, value_t *out, ctx_err_t *err) {
    buf_t t;
    int rc;
    CTX_ASSERT(a.len > 0 && b.len > 0);
    buf_init(&t);
    if (a.ptr[0] == '{' && b.ptr[0] == '{') {
        buf_append_u8(&t, '{');
        j_each(a, j_append_cb, &t);
        j_each(b, j_append_cb, &t);
        buf_append_u8(&t, '}');
    } else {
        buf_append_u8(&t, '[');
        j_append_elements(&t, a);
        j_append_elements(&t, b);
        buf_append_u8(&t, ']');
    }
    rc = value_json_canonical((const char *)buf_peek(&t), (uint32_t)buf_size(&t), arena, out, err);
    buf_free(&t);
    return rc;
}
