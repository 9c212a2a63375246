/*
 * exec_window.c — PLAN_WINDOW: window functions over the child's rows.
 *
 * Each window call is computed on its own: the rows' PARTITION BY keys, ORDER BY keys and
 * function arguments are evaluated once into a key array, row indices are sorted by (partition,
 * order) — ties by input position, so results are deterministic — and one pass over each
 * partition fills the call's column:
 *   ranking      row_number, rank, dense_rank (peers: equal ORDER BY keys)
 *   offset       lag / lead (value, offset = 1, default = NULL), within the partition
 *   frame        first_value, last_value, nth_value, count, sum, avg, min, max over the frame:
 *                ROWS or RANGE BETWEEN {UNBOUNDED PRECEDING | n PRECEDING | CURRENT ROW |
 *                n FOLLOWING | UNBOUNDED FOLLOWING} (RANGE offsets: not supported), by default
 *                RANGE UNBOUNDED PRECEDING .. CURRENT ROW with ORDER BY and the whole partition
 *                without, as PostgreSQL 15.
 * Aggregates over a frame that starts at the partition's first row are accumulated as the
 * frame's end moves forward (one pass); other frames are folded row by row, which costs the
 * frame's width per row. Memory comes from the statement arena (statement_mem_limit).
 */
#include "exec_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct window_sort {
    const value_t *keys; /* per input row: npart partition values, norder order values, args */
    int width;
    int npart;
    int norder;
    const bool *desc;
} window_sort_t;

static bool values_equal(const value_t *a, const value_t *b, int n) {
    for (int c = 0; c < n; c++) {
        bool na = value_is_null(&a[c]), nb = value_is_null(&b[c]);
        if (na != nb || (!na && value_compare(&a[c], &b[c]) != 0)) {
            return false;
        }
    }
    return true;
}

static int window_cmp(const void *x, const void *y, void *arg) {
    const window_sort_t *w = arg;
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    const value_t *ka = w->keys + a * (uint64_t)w->width;
    const value_t *kb = w->keys + b * (uint64_t)w->width;
    for (int k = 0; k < w->npart + w->norder; k++) {
        bool na = value_is_null(&ka[k]), nb = value_is_null(&kb[k]);
        int c = na || nb ? (na == nb ? 0 : (na ? 1 : -1)) : value_compare(&ka[k], &kb[k]);
        if (k >= w->npart && w->desc[k - w->npart]) {
            c = -c;
        }
        if (c != 0) {
            return c;
        }
    }
    return (a > b) - (a < b);
}

/* One call being computed: its sorted rows and their keys. */
typedef struct window_run {
    const expr_t *win;
    window_sort_t sort;
    uint64_t *order;        /* sorted position → input row */
    uint64_t *peer_start;   /* sorted position → first position of its peer group */
    uint64_t *peer_end;     /* … one past the last */
    int64_t start_n, end_n; /* frame offsets */
} window_run_t;

static const value_t *run_key(const window_run_t *w, uint64_t pos) {
    return w->sort.keys + w->order[pos] * (uint64_t)w->sort.width;
}

/* Argument k of the call at sorted position pos. */
static const value_t *run_arg(const window_run_t *w, uint64_t pos, int k) {
    return run_key(w, pos) + w->sort.npart + w->sort.norder + k;
}

/* Running aggregate over frame rows. */
typedef struct window_acc {
    int64_t count;
    int64_t isum;
    double fsum;
    bool is_float;
    bool overflow;
    bool any;
    value_t best;
} window_acc_t;

static void acc_add(const expr_t *win, window_acc_t *a, const value_t *v) {
    if (win->star) {
        a->count++;
        return;
    }
    if (value_is_null(v)) {
        return;
    }
    a->count++;
    const char *n = win->name;
    if (strcmp(n, "min") == 0 || strcmp(n, "max") == 0) {
        int c = a->any ? value_compare(v, &a->best) : 0;
        if (!a->any || (n[1] == 'i' ? c < 0 : c > 0)) {
            a->best = *v;
        }
    } else if (v->kind == VAL_INT) {
        a->overflow |= __builtin_add_overflow(a->isum, v->u.i, &a->isum);
        a->fsum += (double)v->u.i;
    } else if (v->kind == VAL_FLOAT) {
        a->is_float = true;
        a->fsum += v->u.f;
    }
    a->any = true;
}

static int acc_result(const expr_t *win, const window_acc_t *a, value_t *out, ctx_err_t *err) {
    const char *n = win->name;
    if (strcmp(n, "count") == 0) {
        *out = value_int(a->count);
    } else if (!a->any) {
        *out = value_null();
    } else if (strcmp(n, "min") == 0 || strcmp(n, "max") == 0) {
        *out = a->best;
    } else if (strcmp(n, "avg") == 0) {
        *out = value_float(a->fsum / (double)a->count);
    } else if (a->is_float || win->type == CT_FLOAT8) {
        *out = value_float(a->fsum);
    } else if (a->overflow) {
        return ctx_err_set(err, CTX_ERANGE, "bigint out of range");
    } else {
        *out = value_int(a->isum);
    }
    return CTX_OK;
}

/* The frame of sorted position i in partition [ps, pe): positions [*fs, *fe). */
static void frame_of(const window_run_t *w, uint64_t i, uint64_t ps, uint64_t pe, uint64_t *fs,
                     uint64_t *fe) {
    const expr_t *win = w->win;
    if (win->window_frame == FRAME_DEFAULT) {
        *fs = ps;
        *fe = win->nwindow_order > 0 ? w->peer_end[i] : pe;
        return;
    }
    bool range = win->window_frame == FRAME_RANGE;
    uint64_t back = (uint64_t)w->start_n, ahead = (uint64_t)w->end_n;
    switch (win->frame_start) {
    case BOUND_UNBOUNDED_PRECEDING:
        *fs = ps;
        break;
    case BOUND_PRECEDING:
        *fs = i - ps > back ? i - back : ps;
        break;
    case BOUND_CURRENT:
        *fs = range ? w->peer_start[i] : i;
        break;
    case BOUND_FOLLOWING:
        *fs = pe - i > (uint64_t)w->start_n ? i + (uint64_t)w->start_n : pe;
        break;
    default:
        *fs = pe;
    }
    switch (win->frame_end) {
    case BOUND_UNBOUNDED_PRECEDING:
        *fe = ps;
        break;
    case BOUND_PRECEDING:
        *fe = i - ps >= ahead ? i - ahead + 1 : ps;
        break;
    case BOUND_CURRENT:
        *fe = range ? w->peer_end[i] : i + 1;
        break;
    case BOUND_FOLLOWING:
        *fe = pe - i > ahead + 1 ? i + ahead + 1 : pe;
        break;
    default:
        *fe = pe;
    }
    if (*fe < *fs) {
        *fe = *fs;
    }
}

/* lag / lead: the argument `offset` rows back / ahead in the partition, else the default. */
static value_t offset_value(const window_run_t *w, uint64_t i, uint64_t ps, uint64_t pe) {
    const expr_t *win = w->win;
    int64_t off = 1;
    if (win->nargs >= 2) {
        const value_t *o = run_arg(w, i, 1);
        if (value_is_null(o)) {
            return value_null();
        }
        off = o->kind == VAL_INT ? o->u.i : (int64_t)o->u.f;
    }
    if (strcmp(win->name, "lag") == 0) {
        off = -off;
    }
    int64_t j = (int64_t)i + off;
    if (j >= (int64_t)ps && j < (int64_t)pe) {
        return *run_arg(w, (uint64_t)j, 0);
    }
    return win->nargs >= 3 ? *run_arg(w, i, 2) : value_null();
}

/* Frame functions for every position of partition [ps, pe). */
static int frame_values(const window_run_t *w, uint64_t ps, uint64_t pe, value_t *result,
                        ctx_err_t *err) {
    const expr_t *win = w->win;
    const char *n = win->name;
    bool value_fn = strcmp(n, "first_value") == 0 || strcmp(n, "last_value") == 0 ||
                    strcmp(n, "nth_value") == 0;
    bool running =
        win->window_frame == FRAME_DEFAULT || win->frame_start == BOUND_UNBOUNDED_PRECEDING;
    window_acc_t acc = {0};
    uint64_t upto = ps;
    for (uint64_t i = ps; i < pe; i++) {
        uint64_t fs, fe;
        frame_of(w, i, ps, pe, &fs, &fe);
        value_t v = value_null();
        if (value_fn) {
            int64_t nth = 1;
            if (strcmp(n, "nth_value") == 0) {
                const value_t *k = run_arg(w, i, 1);
                nth = value_is_null(k) ? 0 : k->u.i;
                if (nth <= 0) {
                    return ctx_err_set(err, CTX_EBAD_PARAM,
                                       "argument of nth_value must be greater than zero");
                }
            }
            uint64_t at = n[0] == 'l' ? fe - 1 : fs + (uint64_t)nth - 1;
            if (fe > fs && at >= fs && at < fe) {
                v = *run_arg(w, at, 0);
            }
        } else {
            if (!running || fe < upto) {
                memset(&acc, 0, sizeof(acc));
                upto = fs;
            }
            for (; upto < fe; upto++) {
                acc_add(win, &acc, run_arg(w, upto, 0));
            }
            int rc = acc_result(win, &acc, &v, err);
            if (rc != CTX_OK) {
                return rc;
            }
        }
        result[w->order[i]] = v;
    }
    return CTX_OK;
}

/* row_number, rank, dense_rank, lag, lead for partition [ps, pe). */
static void rank_values(const window_run_t *w, uint64_t ps, uint64_t pe, value_t *result) {
    const char *n = w->win->name;
    int64_t dense = 0;
    for (uint64_t i = ps; i < pe; i++) {
        dense += w->peer_start[i] == i ? 1 : 0;
        value_t v;
        if (strcmp(n, "lag") == 0 || strcmp(n, "lead") == 0) {
            v = offset_value(w, i, ps, pe);
        } else if (strcmp(n, "rank") == 0) {
            v = value_int((int64_t)(w->peer_start[i] - ps) + 1);
        } else if (strcmp(n, "dense_rank") == 0) {
            v = value_int(dense);
        } else {
            v = value_int((int64_t)(i - ps) + 1);
        }
        result[w->order[i]] = v;
    }
}

/* Evaluates keys and arguments per row and sorts; fills w. */
static int window_prepare(const expr_t *win, const rowset_t *in, exec_ctx_t *ctx, window_run_t *w,
                          ctx_err_t *err) {
    int width = win->nwindow_part + win->nwindow_order + win->nargs;
    arena_t *arena = ctx->eval.arena;
    value_t *keys = arena_try_calloc(arena, in->nrows * (uint64_t)width + 1, sizeof(value_t));
    w->order = arena_try_calloc(arena, in->nrows + 1, sizeof(uint64_t));
    w->peer_start = arena_try_calloc(arena, in->nrows + 1, sizeof(uint64_t));
    w->peer_end = arena_try_calloc(arena, in->nrows + 1, sizeof(uint64_t));
    if (keys == NULL || w->order == NULL || w->peer_start == NULL || w->peer_end == NULL) {
        return exec_nomem(ctx, err);
    }
    for (uint64_t r = 0; r < in->nrows; r++) {
        w->order[r] = r;
        const value_t *row = &in->rows[r * (uint64_t)in->ncols];
        for (int k = 0; k < width; k++) {
            int o = k - win->nwindow_part, a = o - win->nwindow_order;
            const expr_t *e =
                o < 0 ? win->window_part[k] : (a < 0 ? win->window_order[o] : win->args[a]);
            int rc = eval_expr(e, row, &ctx->eval, &keys[r * (uint64_t)width + k], err);
            if (rc != CTX_OK) {
                return rc;
            }
        }
    }
    w->win = win;
    w->sort = (window_sort_t){keys, width, win->nwindow_part, win->nwindow_order, win->window_desc};
    qsort_r(w->order, in->nrows, sizeof(uint64_t), window_cmp, &w->sort);
    int nkeys = win->nwindow_part + win->nwindow_order;
    for (uint64_t i = 0; i < in->nrows; i++) {
        bool same = i > 0 && values_equal(run_key(w, i), run_key(w, i - 1), nkeys);
        w->peer_start[i] = same ? w->peer_start[i - 1] : i;
    }
    for (uint64_t i = in->nrows; i-- > 0;) {
        bool same = i + 1 < in->nrows && w->peer_start[i + 1] == w->peer_start[i];
        w->peer_end[i] = same ? w->peer_end[i + 1] : i + 1;
    }
    return CTX_OK;
}

/* A frame offset: a constant, non-negative integer. */
static int frame_offset(const expr_t *e, const rowset_t *in, exec_ctx_t *ctx, int64_t *out,
                        ctx_err_t *err) {
    *out = 0;
    if (e == NULL) {
        return CTX_OK;
    }
    value_t v;
    int rc = eval_expr(e, in->nrows > 0 ? in->rows : NULL, &ctx->eval, &v, err);
    if (rc == CTX_OK && (v.kind != VAL_INT || v.u.i < 0)) {
        rc = ctx_err_set(err, CTX_EBAD_PARAM, "frame offset must be a non-negative integer");
    }
    *out = rc == CTX_OK ? v.u.i : 0;
    return rc;
}

/* Computes one window function's value for every input row into result[]. */
static int window_compute(const expr_t *win, const rowset_t *in, exec_ctx_t *ctx, value_t *result,
                          ctx_err_t *err) {
    window_run_t w;
    memset(&w, 0, sizeof(w));
    int rc = frame_offset(win->frame_start_n, in, ctx, &w.start_n, err);
    rc = rc == CTX_OK ? frame_offset(win->frame_end_n, in, ctx, &w.end_n, err) : rc;
    rc = rc == CTX_OK ? window_prepare(win, in, ctx, &w, err) : rc;
    const char *n = win->name;
    bool ranking = strcmp(n, "row_number") == 0 || strcmp(n, "rank") == 0 ||
                   strcmp(n, "dense_rank") == 0 || strcmp(n, "lag") == 0 || strcmp(n, "lead") == 0;
    uint64_t ps = 0;
    while (rc == CTX_OK && ps < in->nrows) {
        uint64_t pe = ps + 1;
        while (pe < in->nrows &&
               values_equal(run_key(&w, pe), run_key(&w, ps), win->nwindow_part)) {
            pe++;
        }
        if (ranking) {
            rank_values(&w, ps, pe, result);
        } else {
            rc = frame_values(&w, ps, pe, result, err);
        }
        if (rc == CTX_OK && ctx->eval.env != NULL && ctx->eval.env->cancel != NULL &&
            atomic_load(ctx->eval.env->cancel)) {
            rc = ctx_err_set(err, CTX_ECANCELED, "canceling statement due to user request");
        }
        ps = pe;
    }
    return rc;
}

int exec_window(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                ctx_err_t *err) {
    int extra = plan->nwindows;
    CTX_ASSERT(plan->ncols == in->ncols + extra);
    value_t *results = arena_try_calloc(ctx->eval.arena, in->nrows * extra + 1, sizeof(value_t));
    value_t *col = arena_try_alloc(ctx->eval.arena, sizeof(value_t) * (in->nrows + 1));
    if (results == NULL || col == NULL) {
        return exec_nomem(ctx, err);
    }
    for (int w = 0; w < extra; w++) {
        int rc = window_compute(plan->windows[w], in, ctx, col, err);
        if (rc != CTX_OK) {
            return rc;
        }
        for (uint64_t r = 0; r < in->nrows; r++) {
            results[r * extra + w] = col[r];
        }
    }
    rs_builder_t b;
    rs_init(&b, out, plan->ncols, ctx);
    for (uint64_t r = 0; r < in->nrows; r++) {
        value_t *row = rs_push(&b, err);
        if (row == NULL) {
            return err->code;
        }
        ctx_memcpy(row, &in->rows[r * (uint64_t)in->ncols], sizeof(value_t) * (size_t)in->ncols);
        ctx_memcpy(row + in->ncols, results + r * extra, sizeof(value_t) * (size_t)extra);
    }
    return CTX_OK;
}
