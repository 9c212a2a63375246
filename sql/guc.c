/*
 * guc.c — session settings: SET, SHOW, RESET, and the ParameterStatus values a client is told.
 *
 * Every session starts with the built-in table below; names are matched case-insensitively and
 * keep their canonical spelling (SHOW datestyle answers in a column named DateStyle, as
 * PostgreSQL does). Unknown names may be SET (drivers send settings we do not act on) and are then
 * stored and echoed by SHOW; SHOW of a name never set is 42704. Every value — SET's, RESET's
 * targets, the StartupMessage's parameters and `options` — passes one check (guc_check, rules
 * as PostgreSQL's: Booleans, integers with units and ranges, enums, encodings, DateStyle,
 * TimeZone, application_name) that refuses it with PostgreSQL's message and SQLSTATE or stores
 * its canonical spelling. A SET inside a transaction block
 * is undone by ROLLBACK, and SET LOCAL lasts until the block ends. Settings flagged GUC_REPORT are
 * re-sent to the client as ParameterStatus whenever their value changes.
 */
#include "session_int.h"
#include "stack.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct guc_default {
    const char *name;
    const char *value; /* NULL: filled from the session (user, server version, dims) */
    int flags;
    const char *description;
} guc_default_t;

static const guc_default_t guc_defaults[] = {
    {"application_name", "", GUC_REPORT, "Sets the application name to be reported."},
    {"block_size", "8192", GUC_READONLY, "Shows the size of a disk block."},
    {"client_encoding", "UTF8", GUC_REPORT, "Sets the client's character set encoding."},
    {"DateStyle", "ISO, MDY", GUC_REPORT, "Sets the display format for date and time values."},
    {"default_transaction_isolation", "read committed", 0,
     "Sets the transaction isolation level of each new transaction."},
    {"default_transaction_read_only", "off", GUC_REPORT,
     "Sets the default read-only status of new transactions."},
    {"enable_hnsw", "on", 0, "Enables the planner's use of the HNSW vector index."},
    {"extra_float_digits", "1", 0, "Sets the number of digits displayed for floats."},
    {"follower_writes", "forward", 0,
     "Sets whether a write on a cluster follower is forwarded to the leader or refused (25006)."},
    {"hnsw.ef_search", "40", 0, "Sets the size of the dynamic candidate list for HNSW search."},
    {"in_hot_standby", "off", GUC_REPORT | GUC_READONLY, "Shows whether hot standby is active."},
    {"integer_datetimes", "on", GUC_REPORT | GUC_READONLY,
     "Shows whether datetimes are integer based."},
    {"IntervalStyle", "postgres", GUC_REPORT, "Sets the display format for interval values."},
    {"is_superuser", "on", GUC_REPORT | GUC_READONLY,
     "Shows whether the current user is a superuser."},
    {"lc_collate", "C", GUC_READONLY, "Shows the collation order locale."},
    {"lc_ctype", "C", GUC_READONLY, "Shows the character classification locale."},
    {"max_identifier_length", "63", GUC_READONLY, "Shows the maximum identifier length."},
    {"max_index_keys", "32", GUC_READONLY, "Shows the maximum number of index keys."},
    {"max_stack_depth", NULL, 0, "Sets the maximum stack depth, in kilobytes."},
    {"read_consistency", "linearizable", 0,
     "Sets whether reads wait for the cluster leader's commit index (linearizable) or not "
     "(local)."},
    {"recursive_rows_max", "1000000", 0,
     "Sets the most rows a WITH RECURSIVE query may produce before it fails."},
    {"search_path", "\"$user\", public", 0,
     "Sets the schema search order for names that are not schema-qualified."},
    {"server_encoding", "UTF8", GUC_REPORT | GUC_READONLY,
     "Shows the server (database) character set encoding."},
    {"server_version", NULL, GUC_REPORT | GUC_READONLY, "Shows the server version."},
    {"server_version_num", "150000", GUC_READONLY, "Shows the server version as an integer."},
    {"session_authorization", NULL, GUC_REPORT, "Sets the session user name."},
    {"standard_conforming_strings", "on", GUC_REPORT,
     "Causes '...' strings to treat backslashes literally."},
    {"statement_mem_limit", NULL, 0, "Sets the maximum memory one statement may use."},
    {"statement_timeout", "0", 0, "Sets the maximum allowed duration of any statement."},
    {"synchronous_commit", "on", 0, "Sets the current transaction's synchronization level."},
    {"TimeZone", "UTC", GUC_REPORT,
     "Sets the time zone for displaying and interpreting time "
     "stamps."},
    {"transaction_isolation", "read committed", 0,
     "Sets the current transaction's isolation level."},
    {"transaction_read_only", "off", 0, "Sets the current transaction's read-only status."},
    {"vector_dimensions", NULL, GUC_READONLY, "Shows the dimension of every vector."},
    {"work_mem", "4MB", 0, "Sets the maximum memory to be used for query workspaces."},
};

enum { GUC_DEFAULT_COUNT = sizeof(guc_defaults) / sizeof(guc_defaults[0]) };

static guc_t *guc_add(sql_session_t *s, const char *name, const char *value, int flags,
                      const char *description) {
    CTX_ASSERT(s->nguc < SESSION_GUCS_MAX);
    guc_t *g = &s->gucs[s->nguc++];
    memset(g, 0, sizeof(*g));
    g->name = ctx_strdup(name);
    g->value = ctx_strdup(value);
    g->reset_value = ctx_strdup(value);
    g->flags = flags;
    g->description = description;
    return g;
}

void guc_init_defaults(sql_session_t *s) {
    char dims[16];
    snprintf(dims, sizeof(dims), "%u", store_vector_dims(s->db->store));
    for (int i = 0; i < GUC_DEFAULT_COUNT; i++) {
        const guc_default_t *d = &guc_defaults[i];
        const char *value = d->value;
        if (value == NULL && strcmp(d->name, "statement_mem_limit") == 0) {
            value = s->db->statement_mem_limit != NULL ? s->db->statement_mem_limit : "1GB";
        }
        if (value == NULL && strcmp(d->name, "max_stack_depth") == 0) {
            value = s->db->max_stack_depth != NULL ? s->db->max_stack_depth : "2MB";
        }
        if (value == NULL) {
            value = strcmp(d->name, "server_version") == 0
                        ? s->db->server_version
                        : (strcmp(d->name, "vector_dimensions") == 0 ? dims : s->user);
        }
        guc_add(s, d->name, value, d->flags, d->description);
    }
}

guc_t *guc_find(sql_session_t *s, const char *name) {
    for (int i = 0; i < s->nguc; i++) {
        if (strcasecmp(s->gucs[i].name, name) == 0) {
            return &s->gucs[i];
        }
    }
    return NULL;
}

const char *guc_get(void *session, const char *name) {
    guc_t *g = guc_find(session, name);
    return g == NULL ? NULL : g->value;
}

void result_add_param_change(sql_result_t *result, arena_t *arena, const char *name,
                             const char *value) {
    sql_param_change_t *changes =
        arena_alloc(arena, sizeof(sql_param_change_t) * (size_t)(result->nparam_changes + 1));
    if (result->nparam_changes > 0) {
        memcpy(changes, result->param_changes,
               sizeof(sql_param_change_t) * (size_t)result->nparam_changes);
    }
    changes[result->nparam_changes].name = arena_strdup(arena, name);
    changes[result->nparam_changes].value = arena_strdup(arena, value);
    result->param_changes = changes;
    result->nparam_changes++;
}

void result_add_notice(sql_result_t *result, arena_t *arena, const char *severity, int code,
                       const char *message) {
    sql_notice_t *notices =
        arena_alloc(arena, sizeof(sql_notice_t) * (size_t)(result->nnotices + 1));
    if (result->nnotices > 0) {
        memcpy(notices, result->notices, sizeof(sql_notice_t) * (size_t)result->nnotices);
    }
    notices[result->nnotices].severity = severity;
    notices[result->nnotices].code = code;
    notices[result->nnotices].message = arena_strdup(arena, message);
    result->notices = notices;
    result->nnotices++;
}

/* A malloc'ed copy of a setting's text; NULL with 53200 in err when memory ran out. */
static char *guc_copy(const char *text, ctx_err_t *err) {
    size_t len = strlen(text);
    char *copy = ctx_try_malloc(len + 1);
    if (copy == NULL) {
        ctx_err_set(err, CTX_ENOMEM, "out of memory");
        ctx_err_detail(err, "Failed on request of size %zu for a setting's value.", len + 1);
        return NULL;
    }
    memcpy(copy, text, len + 1);
    return copy;
}

/* Gives g a copy of value. Inside a transaction block the first change keeps the old value as
 * begin_value (for ROLLBACK and SET LOCAL), moved rather than copied, so nothing but the new
 * value is allocated. CTX_ENOMEM (53200) leaves g unchanged. */
static int guc_assign(sql_session_t *s, guc_t *g, const char *value, arena_t *arena,
                      sql_result_t *result, ctx_err_t *err) {
    char *copy = guc_copy(value, err);
    if (copy == NULL) {
        return CTX_ENOMEM;
    }
    bool changed = strcmp(g->value, value) != 0;
    if (s->txn != TXN_IDLE && g->begin_value == NULL) {
        g->begin_value = g->value;
    } else {
        free(g->value);
    }
    g->value = copy;
    if (changed && (g->flags & GUC_REPORT) && result != NULL) {
        result_add_param_change(result, arena, g->name, g->value);
    }
    return CTX_OK;
}

/* Adds a setting the client names (GUC_USER): RESET makes it empty, and inside a transaction
 * block ROLLBACK does too. CTX_ENOMEM (53200) adds nothing. */
static int guc_add_user(sql_session_t *s, const char *name, const char *value, bool local,
                        ctx_err_t *err) {
    CTX_ASSERT(s->nguc < SESSION_GUCS_MAX);
    bool block = s->txn != TXN_IDLE;
    char *name_copy = guc_copy(name, err);
    char *value_copy = name_copy != NULL ? guc_copy(value, err) : NULL;
    char *reset = value_copy != NULL ? guc_copy("", err) : NULL;
    char *begin = reset != NULL && block ? guc_copy("", err) : NULL;
    if (reset == NULL || (block && begin == NULL)) {
        free(name_copy);
        free(value_copy);
        free(reset);
        return CTX_ENOMEM;
    }
    guc_t *g = &s->gucs[s->nguc++];
    *g = (guc_t){.name = name_copy,
                 .value = value_copy,
                 .begin_value = begin,
                 .reset_value = reset,
                 .local = local && block,
                 .flags = GUC_USER,
                 .description = "Set by the client."};
    return CTX_OK;
}

/* ---- Validation ------------------------------------------------------------------------------
 *
 * Every value a setting receives — SET, RESET's targets, the StartupMessage's parameters and its
 * `options` — passes guc_check, which either rejects it with PostgreSQL's message and SQLSTATE or
 * returns the canonical spelling SHOW reports ("5s" for 5000, "on" for true, "UTF8" for 'utf-8').
 * Names without a rule (search_path, unknown client settings) are stored as given. */

typedef enum {
    GK_BOOL,
    GK_INT,
    GK_MS, /* integer milliseconds, units us ms s min h d */
    GK_KB, /* integer kilobytes, units kB MB GB TB */
    GK_ENUM,
    GK_ENCODING,
    GK_DATESTYLE,
    GK_TIMEZONE,
    GK_NAME /* application_name: printable ASCII, at most 63 bytes */
} guc_kind_t;

typedef struct guc_rule {
    const char *name;
    guc_kind_t kind;
    long min;
    long max;
    const char *choices; /* GK_ENUM: ", "-separated */
} guc_rule_t;

enum { GUC_NAME_BYTES_MAX = 63, GUC_CANON_BYTES = 128 };

static const guc_rule_t guc_rules[] = {
    {"application_name", GK_NAME, 0, 0, NULL},
    {"client_encoding", GK_ENCODING, 0, 0, NULL},
    {"DateStyle", GK_DATESTYLE, 0, 0, NULL},
    {"default_transaction_isolation", GK_ENUM, 0, 0,
     "serializable, repeatable read, read committed, read uncommitted"},
    {"default_transaction_read_only", GK_BOOL, 0, 0, NULL},
    {"enable_hnsw", GK_BOOL, 0, 0, NULL},
    {"extra_float_digits", GK_INT, -15, 3, NULL},
    {"follower_writes", GK_ENUM, 0, 0, "forward, reject"},
    {"hnsw.ef_search", GK_INT, 1, 1000, NULL},
    {"IntervalStyle", GK_ENUM, 0, 0, "postgres, postgres_verbose, sql_standard, iso_8601"},
    {"max_stack_depth", GK_KB, 100, 2147483647, NULL},
    {"read_consistency", GK_ENUM, 0, 0, "linearizable, local"},
    {"recursive_rows_max", GK_INT, 1, 2147483647, NULL},
    {"standard_conforming_strings", GK_BOOL, 0, 0, NULL},
    {"statement_mem_limit", GK_KB, 64, 2147483647, NULL},
    {"statement_timeout", GK_MS, 0, 2147483647, NULL},
    {"synchronous_commit", GK_ENUM, 0, 0, "local, remote_write, remote_apply, on, off"},
    {"TimeZone", GK_TIMEZONE, 0, 0, NULL},
    {"transaction_isolation", GK_ENUM, 0, 0,
     "serializable, repeatable read, read committed, read uncommitted"},
    {"transaction_read_only", GK_BOOL, 0, 0, NULL},
    {"work_mem", GK_KB, 64, 2147483647, NULL},
};

static int guc_invalid(const char *name, const char *value, ctx_err_t *err) {
    return ctx_err_set(err, CTX_EBAD_PARAM, "invalid value for parameter \"%s\": \"%s\"", name,
                       value);
}

static bool guc_prefix(const char *value, const char *word, size_t min) {
    size_t len = strlen(value);
    return len >= min && len <= strlen(word) && strncasecmp(value, word, len) == 0;
}

/* PostgreSQL's parse_bool: on/off, true/false, yes/no, 1/0 and unambiguous prefixes. */
static int guc_check_bool(const char *name, const char *value, char *canon, ctx_err_t *err) {
    if (guc_prefix(value, "true", 1) || guc_prefix(value, "yes", 1) || guc_prefix(value, "on", 2) ||
        strcmp(value, "1") == 0) {
        strcpy(canon, "on");
        return CTX_OK;
    }
    if (guc_prefix(value, "false", 1) || guc_prefix(value, "no", 1) ||
        guc_prefix(value, "off", 2) || strcmp(value, "0") == 0) {
        strcpy(canon, "off");
        return CTX_OK;
    }
    return ctx_err_set(err, CTX_EBAD_PARAM, "parameter \"%s\" requires a Boolean value", name);
}

typedef struct guc_unit {
    const char *suffix;
    double scale; /* in the setting's base unit */
} guc_unit_t;

static const guc_unit_t guc_time_units[] = {{"us", 0.001},  {"ms", 1},      {"s", 1000},
                                            {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
static const guc_unit_t guc_memory_units[] = {
    {"kB", 1}, {"MB", 1024}, {"GB", 1024.0 * 1024}, {"TB", 1024.0 * 1024 * 1024}};

/* An integer setting with an optional unit (PostgreSQL's parse_int): a number, spaces, a unit
 * (case-sensitive, as PostgreSQL's memory units are); rounded to the base unit. SHOW spells the
 * value in the largest unit that divides it exactly. */
static int guc_check_int(const guc_rule_t *rule, const char *value, char *canon, ctx_err_t *err) {
    const guc_unit_t *units = rule->kind == GK_MS ? guc_time_units : guc_memory_units;
    int nunits = rule->kind == GK_MS ? 6 : (rule->kind == GK_KB ? 4 : 0);
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || errno != 0 || !isfinite(v)) {
        return guc_invalid(rule->name, value, err);
    }
    while (*end == ' ' || *end == '\t') {
        end++;
    }
    if (*end != '\0') {
        int u = 0;
        while (u < nunits && strcmp(end, units[u].suffix) != 0) {
            u++;
        }
        if (u == nunits) {
            guc_invalid(rule->name, value, err);
            if (rule->kind == GK_MS) {
                ctx_err_hint(err, "Valid units for this parameter are \"us\", \"ms\", \"s\", "
                                  "\"min\", \"h\", and \"d\".");
            } else if (rule->kind == GK_KB) {
                ctx_err_hint(err, "Valid units for this parameter are \"kB\", \"MB\", \"GB\", "
                                  "and \"TB\".");
            }
            return err->code;
        }
        v *= units[u].scale;
    }
    v = rint(v);
    if (v < (double)rule->min || v > (double)rule->max) {
        const char *unit = rule->kind == GK_MS ? " ms" : (rule->kind == GK_KB ? " kB" : "");
        return ctx_err_set(err, CTX_EBAD_PARAM,
                           "%.0f%s is outside the valid range for parameter \"%s\" (%ld .. %ld)", v,
                           unit, rule->name, rule->min, rule->max);
    }
    long n = (long)v;
    int best = 0;
    for (int u = 1; u < nunits && n != 0; u++) {
        long scale = (long)units[u].scale;
        if (units[u].scale >= 1 && n % scale == 0) {
            best = u;
        }
    }
    long scale = nunits > 0 && units[best].scale >= 1 ? (long)units[best].scale : 1;
    if (rule->kind == GK_MS && best == 0) {
        best = 1; /* milliseconds, never microseconds */
        scale = 1;
    }
    snprintf(canon, GUC_CANON_BYTES, "%ld%s", n / scale,
             nunits > 0 && n != 0 ? units[best].suffix : "");
    return CTX_OK;
}

static int guc_check_enum(const guc_rule_t *rule, const char *value, char *canon, ctx_err_t *err) {
    const char *p = rule->choices;
    size_t len = strlen(value);
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n == len && strncasecmp(p, value, n) == 0 && n < GUC_CANON_BYTES) {
            memcpy(canon, p, n);
            canon[n] = '\0';
            return CTX_OK;
        }
        p += n;
        p += strspn(p, ", ");
    }
    if (strcmp(rule->name, "synchronous_commit") == 0 &&
        guc_check_bool(rule->name, value, canon, err) == CTX_OK) {
        return CTX_OK; /* PostgreSQL also takes a Boolean here */
    }
    guc_invalid(rule->name, value, err);
    ctx_err_hint(err, "Available values: %s.", rule->choices);
    return err->code;
}

/* PostgreSQL's encoding names (pg_encname_tbl), compared after dropping everything but letters
 * and digits, so 'utf-8', UTF8 and Unicode are one name. Only UTF8 is served: the others are
 * real encodings this server has no conversion for. */
static const char *const guc_other_encodings[] = {
    "abc",          "alt",         "big5",         "euccn",       "eucjis2004",  "eucjp",
    "euckr",        "euctw",       "gb18030",      "gbk",         "iso88591",    "iso885910",
    "iso885913",    "iso885914",   "iso885915",    "iso885916",   "iso88595",    "iso88596",
    "iso88597",     "iso88598",    "iso88599",     "johab",       "koi8",        "koi8r",
    "koi8u",        "latin1",      "latin10",      "latin2",      "latin3",      "latin4",
    "latin5",       "latin6",      "latin7",       "latin8",      "latin9",      "mskanji",
    "muleinternal", "shiftjis",    "shiftjis2004", "sjis",        "sqlascii",    "tcvn",
    "tcvn5712",     "uhc",         "vscii",        "win",         "win1250",     "win1251",
    "win1252",      "win1253",     "win1254",      "win1255",     "win1256",     "win1257",
    "win1258",      "win866",      "win874",       "win932",      "win936",      "win949",
    "win950",       "windows1250", "windows1251",  "windows1252", "windows1253", "windows1254",
    "windows1255",  "windows1256", "windows1257",  "windows1258", "windows866",  "windows874",
    "windows932",   "windows936",  "windows949",   "windows950"};

static int guc_check_encoding(const char *name, const char *value, char *canon, ctx_err_t *err) {
    char clean[GUC_CANON_BYTES];
    size_t n = 0;
    for (const char *p = value; *p != '\0' && n + 1 < sizeof(clean); p++) {
        if (isalnum((unsigned char)*p)) {
            clean[n++] = (char)tolower((unsigned char)*p);
        }
    }
    clean[n] = '\0';
    if (strcmp(clean, "utf8") == 0 || strcmp(clean, "unicode") == 0) {
        strcpy(canon, "UTF8");
        return CTX_OK;
    }
    size_t count = sizeof(guc_other_encodings) / sizeof(guc_other_encodings[0]);
    for (size_t i = 0; i < count && strlen(value) < GUC_CANON_BYTES; i++) {
        if (strcmp(clean, guc_other_encodings[i]) == 0) {
            ctx_err_set(err, CTX_EFEATURE, "invalid value for parameter \"%s\": \"%s\"", name,
                        value);
            ctx_err_detail(err, "Conversion between %s and UTF8 is not supported.", value);
            ctx_err_hint(err, "ContextDB exchanges text in UTF8 only.");
            return err->code;
        }
    }
    return guc_invalid(name, value, err);
}

/* DateStyle: an output format (ISO, SQL, Postgres, German) and a field order (MDY, DMY, YMD),
 * either of which may be left out to keep the current one; German alone implies DMY. */
static int guc_check_datestyle(const char *value, const char *current, char *canon,
                               ctx_err_t *err) {
    static const char *const styles[] = {"ISO", "SQL", "Postgres", "German"};
    static const char *const orders[] = {"MDY", "DMY", "YMD"};
    int style = strncasecmp(current, "SQL", 3) == 0 ? 1 : 0;
    style = strncasecmp(current, "Postgres", 8) == 0 ? 2 : style;
    style = strncasecmp(current, "German", 6) == 0 ? 3 : style;
    int order = strstr(current, "DMY") != NULL ? 1 : (strstr(current, "YMD") != NULL ? 2 : 0);
    int new_style = -1, new_order = -1;
    char copy[GUC_CANON_BYTES];
    if (strlen(value) >= sizeof(copy)) {
        return guc_invalid("DateStyle", value, err);
    }
    strcpy(copy, value);
    char *save = NULL;
    for (char *t = strtok_r(copy, ", \t", &save); t != NULL; t = strtok_r(NULL, ", \t", &save)) {
        int s = -1, o = -1;
        if (strcasecmp(t, "DEFAULT") == 0) {
            s = 0;
            o = 0;
        } else if (strcasecmp(t, "ISO") == 0 || strcasecmp(t, "SQL") == 0 ||
                   strncasecmp(t, "POSTGRES", 8) == 0 || strcasecmp(t, "GERMAN") == 0) {
            s = toupper((unsigned char)t[0]) == 'I'   ? 0
                : toupper((unsigned char)t[1]) == 'Q' ? 1
                : toupper((unsigned char)t[0]) == 'P' ? 2
                                                      : 3;
        } else if (strcasecmp(t, "YMD") == 0) {
            o = 2;
        } else if (strcasecmp(t, "DMY") == 0 || strncasecmp(t, "EURO", 4) == 0) {
            o = 1;
        } else if (strcasecmp(t, "MDY") == 0 || strcasecmp(t, "US") == 0 ||
                   strncasecmp(t, "NONEURO", 7) == 0) {
            o = 0;
        } else {
            guc_invalid("DateStyle", value, err);
            ctx_err_detail(err, "Unrecognized key word: \"%s\".", t);
            return err->code;
        }
        if ((s >= 0 && new_style >= 0 && s != new_style) ||
            (o >= 0 && new_order >= 0 && o != new_order)) {
            guc_invalid("DateStyle", value, err);
            ctx_err_detail(err, "Conflicting \"datestyle\" specifications.");
            return err->code;
        }
        new_style = s >= 0 ? s : new_style;
        new_order = o >= 0 ? o : new_order;
    }
    if (new_style == 3 && new_order < 0) {
        new_order = 1;
    }
    snprintf(canon, GUC_CANON_BYTES, "%s, %s", styles[new_style >= 0 ? new_style : style],
             orders[new_order >= 0 ? new_order : order]);
    return CTX_OK;
}

/* TimeZone: a UTC offset in hours ("+02", "-5:30") or a zone the system's tz database names
 * ("UTC", "Europe/Paris"; without /usr/share/zoneinfo any well-formed name). */
static int guc_check_timezone(const char *value, char *canon, ctx_err_t *err) {
    size_t len = strlen(value);
    bool offset = len > 0 && len < 8;
    for (size_t i = 0; i < len && offset; i++) {
        char c = value[i];
        offset = isdigit((unsigned char)c) || c == ':' || ((c == '+' || c == '-') && i == 0);
    }
    bool name = len > 0 && len < GUC_CANON_BYTES && strstr(value, "..") == NULL &&
                value[0] != '/' && !isdigit((unsigned char)value[0]);
    for (size_t i = 0; i < len && name; i++) {
        char c = value[i];
        name = isalnum((unsigned char)c) || c == '/' || c == '_' || c == '-' || c == '+';
    }
    if (name && strcasecmp(value, "UTC") != 0 && strcasecmp(value, "GMT") != 0) {
        char path[GUC_CANON_BYTES + 32];
        snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", value);
        struct stat st;
        bool have_tzdata = stat("/usr/share/zoneinfo", &st) == 0 && S_ISDIR(st.st_mode);
        name = !have_tzdata || (stat(path, &st) == 0 && S_ISREG(st.st_mode));
    }
    if (!offset && !name) {
        return guc_invalid("TimeZone", value, err);
    }
    snprintf(canon, GUC_CANON_BYTES, "%s", strcasecmp(value, "utc") == 0 ? "UTC" : value);
    return CTX_OK;
}

/* application_name: bytes outside printable ASCII become '?' and the value is cut to 63 bytes,
 * as PostgreSQL stores it. */
static void guc_clean_name(const char *value, char *canon) {
    size_t n = 0;
    for (; value[n] != '\0' && n < GUC_NAME_BYTES_MAX; n++) {
        unsigned char c = (unsigned char)value[n];
        canon[n] = c >= 32 && c < 127 ? (char)c : '?';
    }
    canon[n] = '\0';
}

static const guc_rule_t *guc_rule(const char *name) {
    for (size_t i = 0; i < sizeof(guc_rules) / sizeof(guc_rules[0]); i++) {
        if (strcasecmp(guc_rules[i].name, name) == 0) {
            return &guc_rules[i];
        }
    }
    return NULL;
}

/* max_stack_depth (canon: its checked spelling) must fit the stack of the thread that runs
 * statements less a slop (common/stack.h), as PostgreSQL refuses a value too close to the
 * platform's limit. */
static int guc_check_stack_depth(const char *value, const char *canon, ctx_err_t *err) {
    size_t bytes = 0;
    if (arena_parse_size(canon, &bytes) < 0) {
        return guc_invalid("max_stack_depth", value, err);
    }
    size_t allowed_kb = ctx_stack_depth_allowed_bytes() / CTX_STACK_FRAME_SCALE / 1024;
    if (bytes / 1024 > allowed_kb) {
        guc_invalid("max_stack_depth", value, err);
        ctx_err_detail(err, "\"max_stack_depth\" must not exceed %zukB.", allowed_kb);
        ctx_err_hint(err, "Increase the platform's stack depth limit via \"ulimit -s\" or local "
                          "equivalent.");
        return err->code;
    }
    return CTX_OK;
}

/* Validates value for setting name (whose current value is current, NULL for a new name) and
 * sets *out to the spelling to store: value itself, or canon (GUC_CANON_BYTES). */
static int guc_check(const char *name, const char *value, const char *current, char *canon,
                     const char **out, ctx_err_t *err) {
    *out = value;
    const guc_rule_t *rule = guc_rule(name);
    if (rule == NULL) {
        return CTX_OK;
    }
    int rc = CTX_OK;
    switch (rule->kind) {
    case GK_BOOL:
        rc = guc_check_bool(rule->name, value, canon, err);
        break;
    case GK_INT:
    case GK_MS:
    case GK_KB:
        rc = guc_check_int(rule, value, canon, err);
        break;
    case GK_ENUM:
        rc = guc_check_enum(rule, value, canon, err);
        break;
    case GK_ENCODING:
        rc = guc_check_encoding(rule->name, value, canon, err);
        break;
    case GK_DATESTYLE:
        rc = guc_check_datestyle(value, current != NULL ? current : "ISO, MDY", canon, err);
        break;
    case GK_TIMEZONE:
        rc = guc_check_timezone(value, canon, err);
        break;
    case GK_NAME:
        guc_clean_name(value, canon);
        break;
    }
    if (rc == CTX_OK && strcmp(rule->name, "max_stack_depth") == 0) {
        rc = guc_check_stack_depth(value, canon, err);
    }
    if (rc == CTX_OK) {
        *out = canon;
    }
    return rc;
}

int guc_set(sql_session_t *s, const char *name, const char *value, bool local, arena_t *arena,
            sql_result_t *result, ctx_err_t *err) {
    CTX_ASSERT(s != NULL && name != NULL);
    CTX_ASSERT(err != NULL);
    guc_t *g = guc_find(s, name);
    if (g != NULL && (g->flags & GUC_READONLY)) {
        return ctx_err_set(err, CTX_ECANT_CHANGE, "parameter \"%s\" cannot be changed", g->name);
    }
    if (value == NULL) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "parameter \"%s\" requires a value", name);
    }
    char canon[GUC_CANON_BYTES];
    const char *checked;
    int rc = guc_check(name, value, g != NULL ? g->value : NULL, canon, &checked, err);
    if (rc != CTX_OK) {
        return rc;
    }
    if (g == NULL && s->nguc >= SESSION_GUCS_MAX) {
        return ctx_err_set(err, CTX_ELIMIT,
                           "cannot set \"%s\": a session holds at most %d parameters", name,
                           SESSION_GUCS_MAX);
    }
    if (g == NULL) {
        return guc_add_user(s, name, checked, local, err);
    }
    rc = guc_assign(s, g, checked, arena, result, err);
    if (rc == CTX_OK && local && s->txn != TXN_IDLE) {
        g->local = true;
    }
    return rc;
}

/* SET's values joined with ", " (arena), or NULL with 53200 in err. */
static char *join_values(const set_stmt_t *set, arena_t *arena, ctx_err_t *err) {
    size_t len = 1;
    for (int i = 0; i < set->nvalues; i++) {
        len += strlen(set->values[i]) + 2;
    }
    char *out = arena_try_alloc(arena, len);
    if (out == NULL) {
        ctx_err_set(err, CTX_ENOMEM, "out of memory");
        ctx_err_detail(err, "Failed on request of size %zu for a setting's value.", len);
        return NULL;
    }
    out[0] = '\0';
    for (int i = 0; i < set->nvalues; i++) {
        if (i > 0) {
            strcat(out, ", ");
        }
        strcat(out, set->values[i]);
    }
    return out;
}

static int show_all(sql_session_t *s, arena_t *arena, sql_result_t *result) {
    static const bind_column_t cols[] = {{NULL, "name", CT_TEXT, 0, 0},
                                         {NULL, "setting", CT_TEXT, 0, 0},
                                         {NULL, "description", CT_TEXT, 0, 0}};
    result_columns(result, cols, 3, arena);
    result->rows = arena_alloc(arena, sizeof(value_t) * 3 * (size_t)s->nguc);
    int order[SESSION_GUCS_MAX];
    for (int i = 0; i < s->nguc; i++) {
        order[i] = i;
    }
    for (int i = 1; i < s->nguc; i++) { /* insertion sort by name, case-insensitive */
        int j = i;
        while (j > 0 && strcasecmp(s->gucs[order[j - 1]].name, s->gucs[order[j]].name) > 0) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
            j--;
        }
    }
    for (int i = 0; i < s->nguc; i++) {
        const guc_t *g = &s->gucs[order[i]];
        value_t *row = result->rows + 3 * i;
        row[0] = value_text(g->name, (uint32_t)strlen(g->name));
        row[1] = value_text(g->value, (uint32_t)strlen(g->value));
        row[2] = value_text(g->description, (uint32_t)strlen(g->description));
    }
    result->nrows = (uint64_t)s->nguc;
    result->tag = "SHOW";
    return CTX_OK;
}

static int show_one(sql_session_t *s, const char *name, arena_t *arena, sql_result_t *result,
                    ctx_err_t *err) {
    guc_t *g = guc_find(s, name);
    if (g == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_OBJECT, "unrecognized configuration parameter \"%s\"",
                           name);
    }
    bind_column_t col = {NULL, g->name, CT_TEXT, 0, 0};
    result_columns(result, &col, 1, arena);
    result->rows = arena_alloc(arena, sizeof(value_t));
    size_t len = strlen(g->value);
    char *value = arena_try_alloc(arena, len + 1);
    if (value == NULL) {
        ctx_err_set(err, CTX_ENOMEM, "out of memory");
        ctx_err_detail(err, "Failed on request of size %zu for a setting's value.", len + 1);
        return CTX_ENOMEM;
    }
    memcpy(value, g->value, len + 1);
    result->rows[0] = value_text(value, (uint32_t)len);
    result->nrows = 1;
    result->tag = "SHOW";
    return CTX_OK;
}

static int reset_one(sql_session_t *s, const char *name, arena_t *arena, sql_result_t *result,
                     ctx_err_t *err) {
    guc_t *g = guc_find(s, name);
    if (g == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_OBJECT, "unrecognized configuration parameter \"%s\"",
                           name);
    }
    if (g->flags & GUC_READONLY) {
        return ctx_err_set(err, CTX_ECANT_CHANGE, "parameter \"%s\" cannot be changed", g->name);
    }
    return guc_assign(s, g, g->reset_value, arena, result, err);
}

int guc_execute(sql_session_t *s, const stmt_t *stmt, arena_t *arena, sql_result_t *result,
                ctx_err_t *err) {
    const set_stmt_t *set = stmt->u.set;
    if (stmt->kind == STMT_SHOW) {
        return set->all ? show_all(s, arena, result) : show_one(s, set->name, arena, result, err);
    }
    result->tag = stmt->kind == STMT_SET ? "SET" : "RESET";
    if (stmt->kind == STMT_RESET || set->is_default) {
        if (!set->all) {
            return reset_one(s, set->name, arena, result, err);
        }
        int rc = CTX_OK;
        for (int i = 0; i < s->nguc && rc == CTX_OK; i++) {
            if (!(s->gucs[i].flags & GUC_READONLY)) {
                rc = guc_assign(s, &s->gucs[i], s->gucs[i].reset_value, arena, result, err);
            }
        }
        return rc;
    }
    if (stmt->kind == STMT_SET && set->is_local && s->txn == TXN_IDLE) {
        result_add_notice(result, arena, "WARNING", CTX_ENO_TXN,
                          "SET LOCAL can only be used in transaction blocks");
    }
    const char *value = join_values(set, arena, err);
    if (value == NULL) {
        return CTX_ENOMEM;
    }
    return guc_set(s, set->name, value, set->is_local, arena, result, err);
}

void guc_txn_begin(sql_session_t *s) {
    for (int i = 0; i < s->nguc; i++) {
        free(s->gucs[i].begin_value); /* none is left from an earlier block: guc_txn_end took it */
        s->gucs[i].begin_value = NULL;
        s->gucs[i].local = false;
    }
}

void guc_txn_end(sql_session_t *s, bool commit, arena_t *arena, sql_result_t *result) {
    for (int i = 0; i < s->nguc; i++) {
        guc_t *g = &s->gucs[i];
        if (g->begin_value != NULL && (!commit || g->local)) {
            /* the value from before the block comes back: moved, so this cannot fail */
            bool changed = strcmp(g->value, g->begin_value) != 0;
            free(g->value);
            g->value = g->begin_value;
            if (changed && (g->flags & GUC_REPORT) && result != NULL) {
                result_add_param_change(result, arena, g->name, g->value);
            }
        } else {
            free(g->begin_value);
        }
        g->begin_value = NULL;
        g->local = false;
    }
}
