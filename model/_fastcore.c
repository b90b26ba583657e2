/* The fast tick's core, fused and parallel (SPEC 4.1, 4.2, 4.4, 4.6, 11). See model/kernels.py.
 *
 * Three passes over the nodes instead of a dozen numpy passes and three sparse products:
 *   prepare             4.1 injection; packs senders and the power vector side by side (ev)
 *   spread_decay_power  4.2 spreading + 4.4 decay/floor/clamp + window sums + first power step,
 *                       one pass over Wt gathering E and v together (one cache miss, not two)
 *   power_step          each further power step
 * Rows are independent; every total is summed per fixed block of BLOCK rows into `partials`
 * (one row of columns per block), so results are the same on any number of threads.
 * Built by setuptools with OpenMP; without OpenMP it runs on one thread, same results.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BLOCK 4096
/* The calling conventions of this module, checked by model/kernels.py: bump on any change of a signature. */
#define API_VERSION 4

/* Threads only where they pay (SPEC 11). A parallel region costs a wake-up of the other threads
 * and, on a machine where another process keeps a core busy, a wait for the thread that lost its
 * core; for small graphs that is more than the work. Each pass asks team(rows) for its number of
 * threads: one below min_rows rows per thread (serial, no parallel region at all), more above,
 * never more than omp_get_max_threads(). Blocks are handed out dynamically so that a thread that
 * lost its core does not hold the others up; partial sums stay per fixed block, so the bytes do
 * not depend on the thread count or the schedule. */
static Py_ssize_t min_rows = 65536;

static int team(Py_ssize_t rows) {
#ifdef _OPENMP
    Py_ssize_t want = rows / min_rows, most = omp_get_max_threads();
    return (int)(want < 1 ? 1 : want < most ? want : most);
#else
    (void)rows;
    return 1;
#endif
}
/* Passes that compute much per node (persist: exponentials, a log and roots, about 35 ns a node on one
 * thread four nodes at a time, against a few ns for the memory-bound passes) count each node this many
 * times when choosing threads: two threads from 65,536 nodes. Measured (the whole persistence step, one
 * against two threads): 2.0 against 2.2 ms at 3·10^4 nodes, 4.4 against 4.3 at 6·10^4, 6.7 against 5.7
 * at 10^5. */
#define COMPUTE_BOUND 2

/* Prefetch the gather this many stored entries ahead: the lateral links make it a scattered
 * read, and the hardware prefetcher cannot guess it (measured: about 1.5x on the products). */
#define AHEAD 64

/* 1 for NaN or ±inf, branch-free. The slow passes return whether every state value they wrote is
 * finite: the model then skips its own pass over those arrays (model.py, _check), which cost as much
 * as a compiled pass (about 8 ms of each slow tick at N = 10^6). */
#define NOT_FINITE(v) ((v) - (v) != 0.0)

static inline int row_not_finite(const double *x, Py_ssize_t M) {
    int bad = 0;
    for (Py_ssize_t m = 0; m < M; m++) bad |= NOT_FINITE(x[m]);
    return bad;
}

/* partial-sum columns (kept in step with model/kernels.py) */
enum { PREV_TOTAL, INJECTED, V_SQUARES, PREP_COLS };
enum { BEFORE, AFTER, SQUARES, SATURATED, ACTIVE, AV_SQUARES, TYPE0 };

/* Check a buffer's item size and length; set a Python error and return 0 if wrong. */
static int check(Py_buffer *b, const char *name, Py_ssize_t itemsize, Py_ssize_t n) {
    if (b->itemsize != itemsize || b->len != itemsize * n) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items of %zd bytes, got %zd bytes of items of %zd",
                     name, n, itemsize, b->len, b->itemsize);
        return 0;
    }
    return 1;
}

static void release(Py_buffer **bufs, int count) {
    for (int i = 0; i < count; i++)
        if (bufs[i]->obj) PyBuffer_Release(bufs[i]);
}

static Py_ssize_t n_blocks(Py_ssize_t n) { return (n + BLOCK - 1) / BLOCK; }

/* prepare(E, inject, received_sum, power_v, alive, ev, partials) */
static PyObject *prepare(PyObject *self, PyObject *args) {
    Py_buffer E = {0}, inj = {0}, rec = {0}, pv = {0}, alive = {0}, ev = {0}, part = {0};
    Py_buffer *all[] = {&E, &inj, &rec, &pv, &alive, &ev, &part};
    if (!PyArg_ParseTuple(args, "w*w*w*y*y*w*w*", &E, &inj, &rec, &pv, &alive, &ev, &part)) {
        release(all, 7);
        return NULL;
    }
    Py_ssize_t n = E.len / 8, nb = n_blocks(n);
    if (!(check(&E, "E", 8, n) && check(&inj, "inject", 8, n) && check(&rec, "received_sum", 8, n) &&
          check(&pv, "power_v", 8, n) && check(&alive, "alive", 1, n) && check(&ev, "ev", 8, 2 * n) &&
          check(&part, "partials", 8, nb * PREP_COLS))) {
        release(all, 7);
        return NULL;
    }
    double *e = E.buf, *in = inj.buf, *r = rec.buf, *x = ev.buf, *p = part.buf;
    const double *v = pv.buf;
    const uint8_t *a = alive.buf;
    int nt = team(n);
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 1)
    for (Py_ssize_t blk = 0; blk < nb; blk++) {
        Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
        double prev = 0.0, injected = 0.0, vsq = 0.0;
        for (Py_ssize_t i = lo; i < hi; i++) {
            prev += e[i];
            if (in[i] != 0.0) {
                injected += in[i];
                e[i] += in[i];
                r[i] += in[i];
                in[i] = 0.0;
            }
            double vi = a[i] ? v[i] : 0.0;
            x[2 * i] = a[i] ? e[i] : 0.0;
            x[2 * i + 1] = vi;
            vsq += vi * vi;
        }
        p[blk * PREP_COLS + PREV_TOTAL] = prev;
        p[blk * PREP_COLS + INJECTED] = injected;
        p[blk * PREP_COLS + V_SQUARES] = vsq;
    }
    Py_END_ALLOW_THREADS
    release(all, 7);
    Py_RETURN_NONE;
}

/* RET(i): the retention of node i, per node (ret has N items) or by type (ret_by_type: RET_TYPES items,
 * indexed by node_type, the unused ones 0; without resistance or consolidation retention depends on the
 * type alone, and the N-item array would be one more pass to make and two to read). The mask keeps any
 * node_type byte inside the table. */
#define RET_TYPES 128
#define RET(i) (by_type ? rt[t[i] & (RET_TYPES - 1)] : rt[i])

/* Check ret's length against its kind; set a Python error and return 0 if wrong. */
static int check_ret(Py_buffer *ret, int by_type, Py_ssize_t n) {
    return check(ret, by_type ? "ret (by type)" : "ret", 8, by_type ? RET_TYPES : n);
}

/* spread_decay_power(indptr, indices, data, ev, inv_norm, E, alive, ret, node_type, n_types,
 *                    alpha, floor, E_max, active_threshold, av_out, received_sum, E_sum, partials, ret_by_type) */
static PyObject *spread_decay_power(PyObject *self, PyObject *args) {
    Py_buffer ptr = {0}, idx = {0}, dat = {0}, ev = {0}, E = {0}, alive = {0}, ret = {0}, typ = {0}, avo = {0},
              rec = {0}, esum = {0}, part = {0};
    Py_buffer *all[] = {&ptr, &idx, &dat, &ev, &E, &alive, &ret, &typ, &avo, &rec, &esum, &part};
    double inv_norm, alpha, floor_, E_max, thr;
    int n_types, by_type;
    if (!PyArg_ParseTuple(args, "y*y*y*y*dw*y*y*y*iddddw*w*w*w*p", &ptr, &idx, &dat, &ev, &inv_norm, &E, &alive, &ret,
                          &typ, &n_types, &alpha, &floor_, &E_max, &thr, &avo, &rec, &esum, &part, &by_type)) {
        release(all, 12);
        return NULL;
    }
    if (n_types < 1 || n_types > 128) {
        release(all, 12);
        PyErr_Format(PyExc_ValueError, "n_types must be in 1..128, got %d", n_types);
        return NULL;
    }
    Py_ssize_t n = E.len / 8, nb = n_blocks(n), cols = TYPE0 + n_types, nnz = idx.len / 4;
    if (!(check(&ptr, "indptr", 4, n + 1) && check(&idx, "indices", 4, nnz) && check(&dat, "data", 8, nnz) &&
          check(&ev, "ev", 8, 2 * n) && check(&E, "E", 8, n) && check(&alive, "alive", 1, n) &&
          check_ret(&ret, by_type, n) && check(&typ, "node_type", 1, n) && check(&avo, "av_out", 8, n) &&
          check(&rec, "received_sum", 8, n) && check(&esum, "E_sum", 8, n) && check(&part, "partials", 8, nb * cols))) {
        release(all, 12);
        return NULL;
    }
    const int32_t *restrict ip = ptr.buf, *restrict ix = idx.buf;
    const double *restrict d = dat.buf, *restrict x = ev.buf, *restrict rt = ret.buf;
    const uint8_t *restrict a = alive.buf;
    const int8_t *restrict t = typ.buf;
    double *restrict e = E.buf, *restrict av = avo.buf, *restrict r = rec.buf, *restrict es = esum.buf;
    double *restrict p = part.buf;
    int nt = team(n);
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 1)
    for (Py_ssize_t blk = 0; blk < nb; blk++) {
        Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
        double before = 0.0, after = 0.0, squares = 0.0, saturated = 0.0, active = 0.0, avsq = 0.0;
        double *row = p + blk * cols, type_sums[128] = {0.0};
        for (Py_ssize_t i = lo; i < hi; i++) {
            double g = 0.0, w = 0.0;
            for (int32_t k = ip[i]; k < ip[i + 1]; k++) {
                if (k + AHEAD < nnz) __builtin_prefetch(x + 2 * (Py_ssize_t)ix[k + AHEAD]);
                const double *xj = x + 2 * (Py_ssize_t)ix[k];
                g += d[k] * xj[0];
                w += d[k] * xj[1];
            }
            double gain = a[i] ? g * alpha : 0.0;
            r[i] += gain;
            double ei = e[i] + gain;
            before += ei;
            double ri = RET(i);
            ei *= ri;
            if (floor_ > ei) ei = 0.0;
            if (E_max <= ei) {
                ei = E_max;
                saturated += 1.0;
            }
            if (thr < ei) active += 1.0;
            e[i] = ei;
            es[i] += ei;
            after += ei;
            squares += ei * ei;
            type_sums[t[i] & 127] += ei;
            double o = a[i] ? (w * inv_norm * alpha + x[2 * i + 1] * inv_norm) * ri : 0.0;
            av[i] = o;
            avsq += o * o;
        }
        row[BEFORE] = before;
        row[AFTER] = after;
        row[SQUARES] = squares;
        row[SATURATED] = saturated;
        row[ACTIVE] = active;
        row[AV_SQUARES] = avsq;
        for (int k = 0; k < n_types; k++) row[TYPE0 + k] = type_sums[k];
    }
    Py_END_ALLOW_THREADS
    release(all, 12);
    Py_RETURN_NONE;
}

/* power_step(indptr, indices, data, av, inv_norm, alive, ret, alpha, av_out, partials, node_type, ret_by_type) */
static PyObject *power_step(PyObject *self, PyObject *args) {
    Py_buffer ptr = {0}, idx = {0}, dat = {0}, avb = {0}, alive = {0}, ret = {0}, avo = {0}, part = {0}, typ = {0};
    Py_buffer *all[] = {&ptr, &idx, &dat, &avb, &alive, &ret, &avo, &part, &typ};
    double inv_norm, alpha;
    int by_type;
    if (!PyArg_ParseTuple(args, "y*y*y*y*dy*y*dw*w*y*p", &ptr, &idx, &dat, &avb, &inv_norm, &alive, &ret, &alpha, &avo,
                          &part, &typ, &by_type)) {
        release(all, 9);
        return NULL;
    }
    Py_ssize_t n = avb.len / 8, nb = n_blocks(n), nnz = idx.len / 4;
    if (!(check(&ptr, "indptr", 4, n + 1) && check(&idx, "indices", 4, nnz) && check(&dat, "data", 8, nnz) &&
          check(&alive, "alive", 1, n) && check(&typ, "node_type", 1, n) && check(&avo, "av_out", 8, n) &&
          check(&part, "partials", 8, nb) && check_ret(&ret, by_type, n))) {
        release(all, 9);
        return NULL;
    }
    if (avb.buf == avo.buf) {
        release(all, 9);
        PyErr_SetString(PyExc_ValueError, "av and av_out must be different arrays");
        return NULL;
    }
    const int8_t *restrict t = typ.buf;
    const int32_t *restrict ip = ptr.buf, *restrict ix = idx.buf;
    const double *restrict d = dat.buf, *restrict v = avb.buf, *restrict rt = ret.buf;
    const uint8_t *restrict a = alive.buf;
    double *restrict out = avo.buf, *restrict p = part.buf;
    int nt = team(n);
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 1)
    for (Py_ssize_t blk = 0; blk < nb; blk++) {
        Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
        double sq = 0.0;
        for (Py_ssize_t i = lo; i < hi; i++) {
            double w = 0.0;
            for (int32_t k = ip[i]; k < ip[i + 1]; k++) {
                if (k + AHEAD < nnz) __builtin_prefetch(v + ix[k + AHEAD]);
                w += d[k] * v[ix[k]];
            }
            double o = a[i] ? (w * inv_norm * alpha + v[i] * inv_norm) * RET(i) : 0.0;
            out[i] = o;
            sq += o * o;
        }
        p[blk] = sq;
    }
    Py_END_ALLOW_THREADS
    release(all, 9);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ the slow tick (SPEC 5.1, 5.2, 5.4)
 * Same per-element arithmetic, in the same order, as model/mechanisms/weights.py and persistence.py;
 * no per-node temporaries. Sums whose order the numpy reference fixes (np.bincount: node order)
 * run serially in that order and give the same bits; the rest are per fixed block. */

#define MAX_ARGS 40

typedef struct {
    Py_buffer b[MAX_ARGS];
    int n;
} Bufs;

static void bufs_release(Bufs *B) {
    for (int i = 0; i < B->n; i++) PyBuffer_Release(&B->b[i]);
    B->n = 0;
}

/* The C-contiguous buffer of args[pos], `count` items of `itemsize` bytes; NULL with an error if not. */
static void *arg_buf(Bufs *B, PyObject *args, int pos, const char *name, Py_ssize_t itemsize, Py_ssize_t count,
                     int writable) {
    Py_buffer *b = &B->b[B->n];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(args, pos), b, flags) < 0) return NULL;
    B->n++;
    return check(b, name, itemsize, count) ? b->buf : NULL;
}

static int arg_count(PyObject *args, Py_ssize_t want, const char *fn) {
    if (PyTuple_GET_SIZE(args) != want) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments, got %zd", fn, want, PyTuple_GET_SIZE(args));
        return 0;
    }
    return 1;
}

static double arg_double(PyObject *args, int pos) { return PyFloat_AsDouble(PyTuple_GET_ITEM(args, pos)); }
static Py_ssize_t arg_size(PyObject *args, int pos) { return PyLong_AsSsize_t(PyTuple_GET_ITEM(args, pos)); }

/* slow_weights(indptr, indices, W, w, node_type, type_factor, E_sum, window_ticks, E_ref, eta_W, eta_w, W_max,
 *              budget, learn, scaling, x, out, partials, reverse)
 * 5.1 decay of W (by the source's type) and w; 5.2 Hebbian step, clips and the budget. partials: per block
 * Σ W and Σ w before decay, after decay (the weight removed). x and out are work arrays of N.
 * reverse: for a symmetric structure with sorted rows, the stored position of each entry's reverse edge
 * (length nnz), so that each source's outgoing sum is gathered in parallel, in the same order as the
 * serial scatter (np.bincount's: ascending position); empty: the serial scatter.
 * Returns True when every W and w it wrote is finite (see NOT_FINITE). */
static PyObject *slow_weights(PyObject *self, PyObject *args) {
    Bufs B = {.n = 0};
    if (!arg_count(args, 19, "slow_weights")) return NULL;
    Py_ssize_t n = PyObject_Length(PyTuple_GET_ITEM(args, 3)), nnz = PyObject_Length(PyTuple_GET_ITEM(args, 1));
    Py_ssize_t n_types = PyObject_Length(PyTuple_GET_ITEM(args, 5)), nb = n_blocks(n);
    if (n < 0 || nnz < 0 || n_types < 0) return NULL;
    const int32_t *ip = arg_buf(&B, args, 0, "indptr", 4, n + 1, 0);
    const int32_t *ix = ip ? arg_buf(&B, args, 1, "indices", 4, nnz, 0) : NULL;
    double *W = ix ? arg_buf(&B, args, 2, "W", 8, nnz, 1) : NULL;
    double *w = W ? arg_buf(&B, args, 3, "w", 8, n, 1) : NULL;
    const int8_t *t = w ? arg_buf(&B, args, 4, "node_type", 1, n, 0) : NULL;
    const double *f = t ? arg_buf(&B, args, 5, "type_factor", 8, n_types, 0) : NULL;
    const double *es = f ? arg_buf(&B, args, 6, "E_sum", 8, n, 0) : NULL;
    double *x = es ? arg_buf(&B, args, 15, "x", 8, n, 1) : NULL;
    double *out = x ? arg_buf(&B, args, 16, "out", 8, n, 1) : NULL;
    double *p = out ? arg_buf(&B, args, 17, "partials", 8, 4 * nb, 1) : NULL;
    Py_ssize_t n_rev = PyObject_Length(PyTuple_GET_ITEM(args, 18));
    const int32_t *rev = p && n_rev > 0 ? arg_buf(&B, args, 18, "reverse", 4, nnz, 0) : NULL;
    if (n_rev > 0 && !rev) p = NULL;
    Py_ssize_t wt = arg_size(args, 7);
    double E_ref = arg_double(args, 8), eta_W = arg_double(args, 9), eta_w = arg_double(args, 10);
    double W_max = arg_double(args, 11), budget = arg_double(args, 12);
    int learn = PyObject_IsTrue(PyTuple_GET_ITEM(args, 13)), scaling = PyObject_IsTrue(PyTuple_GET_ITEM(args, 14));
    if (!p || PyErr_Occurred()) {
        bufs_release(&B);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (t[i] < 0 || t[i] >= n_types) {
            bufs_release(&B);
            PyErr_Format(PyExc_ValueError, "node_type[%zd] = %d is not below %zd", i, (int)t[i], n_types);
            return NULL;
        }
    int nt = team(n), bad = 0;
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#pragma omp for schedule(dynamic, 1)
        for (Py_ssize_t blk = 0; blk < nb; blk++) {  /* Ē/E_ref per node (0 before any fast tick) */
            Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
            if (wt) /* a loop without a branch: the divisions run two at a time */
                for (Py_ssize_t i = lo; i < hi; i++) x[i] = es[i] / (double)wt / E_ref;
            else
                for (Py_ssize_t i = lo; i < hi; i++) x[i] = 0.0;
        }
#pragma omp for schedule(dynamic, 1) reduction(| : bad)
        for (Py_ssize_t blk = 0; blk < nb; blk++) {
            Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
            double Wb = 0.0, Wa = 0.0, wb = 0.0, wa = 0.0;
            for (Py_ssize_t i = lo; i < hi; i++) {  /* row i holds the edges into i */
                double wi = w[i];
                wb += wi;
                wi *= f[t[i]];
                wa += wi;
                if (learn) {
                    wi += eta_w * x[i];
                    wi = wi < 1e-3 ? 1e-3 : wi;
                    wi = wi > W_max ? W_max : wi;
                }
                w[i] = wi;
                bad |= NOT_FINITE(wi);
                for (int32_t k = ip[i]; k < ip[i + 1]; k++) {
                    if (k + AHEAD < nnz) {
                        __builtin_prefetch(x + ix[k + AHEAD]);
                        __builtin_prefetch(t + ix[k + AHEAD]);
                    }
                    int32_t j = ix[k];
                    double Wk = W[k];
                    Wb += Wk;
                    Wk *= f[t[j]];
                    Wa += Wk;
                    if (learn) {
                        Wk += eta_W * x[j] * x[i];
                        Wk = Wk < 0.0 ? 0.0 : Wk;
                        Wk = Wk > W_max ? W_max : Wk;
                    }
                    W[k] = Wk;
                    bad |= NOT_FINITE(Wk); /* the budget's scaling (by budget / sum < 1) keeps it finite */
                }
            }
            p[4 * blk] = Wb;
            p[4 * blk + 1] = wb;
            p[4 * blk + 2] = Wa;
            p[4 * blk + 3] = wa;
        }
        if (learn && scaling && rev) {
            /* each source's outgoing sum, gathered from its reverse edges, then, over budget, the same
             * edges scaled while their lines are still in the cache: each edge is read and written by its
             * source's row alone, so the threads never touch the same value */
#pragma omp for schedule(dynamic, 1)
            for (Py_ssize_t blk = 0; blk < nb; blk++) {
                Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
                for (Py_ssize_t j = lo; j < hi; j++) {
                    double o = 0.0;
                    for (int32_t k = ip[j]; k < ip[j + 1]; k++) {
                        if (k + AHEAD < nnz) __builtin_prefetch(W + rev[k + AHEAD], 1);
                        o += W[rev[k]];
                    }
                    out[j] = o;
                    if (o > budget) {
                        double shrink = budget / o;
                        for (int32_t k = ip[j]; k < ip[j + 1]; k++) W[rev[k]] *= shrink;
                    }
                }
            }
        } else if (learn && scaling) {
#pragma omp single
            {  /* each source's outgoing sum, in stored order like np.bincount */
                memset(out, 0, n * sizeof(double));
                for (Py_ssize_t k = 0; k < nnz; k++) out[ix[k]] += W[k];
            }
#pragma omp for schedule(dynamic, 1)
            for (Py_ssize_t blk = 0; blk < nb; blk++) {
                Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
                for (int32_t k = ip[lo]; k < ip[hi]; k++) {
                    if (k + AHEAD < nnz) __builtin_prefetch(out + ix[k + AHEAD]);
                    double o = out[ix[k]];
                    if (o > budget) W[k] *= budget / o;
                }
            }
        }
    }
    Py_END_ALLOW_THREADS
    bufs_release(&B);
    return PyBool_FromLong(!bad);
}

/* softmax(l/τ) of one row into e, the row maximum subtracted first (persistence.softmax); returns
 * Σ e ln e over the items that are not 0, from ln e_m = l_m/τ − max − ln Σ (one log, not M). */
static inline double softmax_row(const double *l, double *e, Py_ssize_t M, double tau) {
    double mx = l[0] / tau;
    for (Py_ssize_t m = 1; m < M; m++) mx = l[m] / tau > mx ? l[m] / tau : mx;
    double s = 0.0;
    for (Py_ssize_t m = 0; m < M; m++) {
        e[m] = exp(l[m] / tau - mx);
        s += e[m];
    }
    double log_s = log(s), neg = 0.0;
    for (Py_ssize_t m = 0; m < M; m++) {
        e[m] /= s;
        if (e[m] > 0.0) neg += e[m] * (l[m] / tau - mx - log_s);
    }
    return neg;
}

/* Σ q ln q over the items of a row that are not 0 (minus its entropy). */
static inline double neg_entropy_scalar(const double *q, Py_ssize_t M) {
    double neg = 0.0;
    for (Py_ssize_t m = 0; m < M; m++)
        if (q[m] > 0.0) neg += q[m] * log(q[m]);
    return neg;
}

/* ------------------------------------------------------------------ four lanes at once (x86-64, glibc)
 * The persistence law spends its time in exponentials, logarithms, roots and divisions, not in memory
 * traffic: about 65 ns a node on one thread at M = 4. Where the CPU has AVX2 and FMA (checked at
 * import) and glibc's vector maths library (libmvec) is linked, rows of M = 4 categories are handled
 * four numbers at a time: an internal node's observed row and its Σ q ln q (one vector log), and the
 * persistence step of four nodes together (their θ and q transposed so that each lane is a node); so
 * is coherence's tanh of four nodes. Divisions and roots are IEEE-exact in any width, and the
 * arithmetic is in the scalar path's order (no FMA contraction: built with -ffp-contract=off), so the
 * two paths differ only by libmvec's exp, log and tanh, within 4 ulp of glibc's scalar ones. Which path a
 * node takes depends on its position and on which nodes are alive, never on the number of threads: the
 * bytes do not depend on the thread count. */
#if defined(COHLAB_MVEC) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HAVE_SIMD4 1
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("avx2,fma")
__m256d _ZGVdN4v_exp(__m256d x); /* libmvec: exp, log and tanh of four doubles (AVX2) */
__m256d _ZGVdN4v_log(__m256d x);
__m256d _ZGVdN4v_tanh(__m256d x) __attribute__((weak)); /* from glibc 2.35: NULL before */

static int tanh4_lanes(const double *x, double *out) {
    _mm256_storeu_pd(out, _ZGVdN4v_tanh(_mm256_loadu_pd(x)));
    return 1;
}

static double neg_entropy4(const double *q) {
    __m256d v = _mm256_loadu_pd(q);
    __m256d positive = _mm256_cmp_pd(v, _mm256_setzero_pd(), _CMP_GT_OQ);
    double t[4];
    _mm256_storeu_pd(t, _mm256_and_pd(positive, _mm256_mul_pd(v, _ZGVdN4v_log(v))));
    return (((0.0 + t[0]) + t[1]) + t[2]) + t[3]; /* the scalar loop's order; a skipped item adds +0 */
}

/* observe's step of an alive internal node i at M = 4 (the scalar loop's operations, in its order): q_i the
 * w-weighted mean of its alive children's rows (kept without any), *ne = Σ q ln q; 1 if q_i is not finite. */
static int observe_row4(double *q, const double *w, const uint8_t *a, int64_t first, int64_t count, Py_ssize_t i,
                        double *ne) {
    __m256d num = _mm256_setzero_pd();
    double den = 0.0;
    for (int64_t c = first; c < first + count; c++) {
        double lw = a[c] ? w[c] : 0.0;
        den += lw;
        num = _mm256_add_pd(num, _mm256_mul_pd(_mm256_set1_pd(lw), _mm256_loadu_pd(q + c * 4)));
    }
    if (den > 0.0) _mm256_storeu_pd(q + i * 4, _mm256_div_pd(num, _mm256_set1_pd(den)));
    *ne = neg_entropy4(q + i * 4);
    __m256d v = _mm256_loadu_pd(q + i * 4), d = _mm256_sub_pd(v, v); /* 0 where finite */
    return _mm256_movemask_pd(_mm256_cmp_pd(d, _mm256_setzero_pd(), _CMP_NEQ_UQ)) != 0;
}

/* Rows r0..r3 of a 4×4 block become its columns (and back: the transpose is its own inverse). */
static inline void transpose4(__m256d *r0, __m256d *r1, __m256d *r2, __m256d *r3) {
    __m256d t0 = _mm256_unpacklo_pd(*r0, *r1), t1 = _mm256_unpackhi_pd(*r0, *r1);
    __m256d t2 = _mm256_unpacklo_pd(*r2, *r3), t3 = _mm256_unpackhi_pd(*r2, *r3);
    *r0 = _mm256_permute2f128_pd(t0, t2, 0x20);
    *r1 = _mm256_permute2f128_pd(t1, t3, 0x20);
    *r2 = _mm256_permute2f128_pd(t0, t2, 0x31);
    *r3 = _mm256_permute2f128_pd(t1, t3, 0x31);
}
#pragma GCC pop_options
#else
#define HAVE_SIMD4 0
#endif

static int simd4 = 0; /* the CPU runs the four-lane path (set at import) */

/* Whether this CPU can run the four-lane path (AVX2 and FMA), in a build that has it. */
static int cpu_has_simd4(void) {
#if HAVE_SIMD4
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* out[0..4) = tanh(x[0..4)) with one vector tanh where there is one (then 1), else nothing done (0). */
static inline int tanh4(const double *x, double *out) {
#if HAVE_SIMD4
    if (simd4 && _ZGVdN4v_tanh) return tanh4_lanes(x, out);
#endif
    (void)x;
    (void)out;
    return 0;
}

static inline double neg_entropy(const double *q, Py_ssize_t M) {
#if HAVE_SIMD4
    if (M == 4 && simd4) return neg_entropy4(q);
#endif
    return neg_entropy_scalar(q, M);
}

#define MAX_M 1000
#define LOG_EPS (-27.631021115928547) /* ln 1e-12, the floor of p in D_KL */

/* Depths, nodes and categories make sense (after the sizes were read); else a Python error and 0. */
static int tree_sizes(Py_ssize_t L, Py_ssize_t n, Py_ssize_t M) {
    if (PyErr_Occurred()) return 0;
    if (L < 1 || n < 0) {
        PyErr_SetString(PyExc_ValueError, "level_start needs at least two entries");
        return 0;
    }
    if (M < 1 || M > MAX_M) {
        PyErr_Format(PyExc_ValueError, "categories must be in 1..%d, got %zd", MAX_M, M);
        return 0;
    }
    return 1;
}

/* The depth ranges cover the N nodes; else a Python error and 0. */
static int ends_at(const int64_t *ls, Py_ssize_t L, Py_ssize_t n) {
    if (ls[L] == n) return 1;
    PyErr_Format(PyExc_ValueError, "level_start ends at %lld, not at N = %zd", (long long)ls[L], n);
    return 0;
}

/* observe(level_start, first_child, n_children, alive, w, z, q, M, tau, leaves, neg_entropy)
 * Reality (5.4): alive leaves q = softmax(z/τ) (leaves = 1), or q set already by sampling (2), or q and
 * neg_entropy both unchanged since the last call (0); then bottom-up each alive internal node with
 * alive children q = Σ w_c q_c / Σ w_c over its alive children. neg_entropy = Σ q ln q of every alive
 * node whose q this call set (leaves 1 or 2) and of every alive internal node, for D_KL in persist.
 * Returns True when every q it wrote (and, with leaves = 2, every sampled q it read) is finite. */
static PyObject *observe(PyObject *self, PyObject *args) {
    Bufs B = {.n = 0};
    if (!arg_count(args, 11, "observe")) return NULL;
    Py_ssize_t L = PyObject_Length(PyTuple_GET_ITEM(args, 0)) - 1, n = PyObject_Length(PyTuple_GET_ITEM(args, 3));
    Py_ssize_t M = arg_size(args, 7);
    if (!tree_sizes(L, n, M)) return NULL;
    const int64_t *ls = arg_buf(&B, args, 0, "level_start", 8, L + 1, 0);
    const int64_t *fc = ls ? arg_buf(&B, args, 1, "first_child", 8, n, 0) : NULL;
    const int64_t *nc = fc ? arg_buf(&B, args, 2, "n_children", 8, n, 0) : NULL;
    const uint8_t *a = nc ? arg_buf(&B, args, 3, "alive", 1, n, 0) : NULL;
    const double *w = a ? arg_buf(&B, args, 4, "w", 8, n, 0) : NULL;
    const double *z = w ? arg_buf(&B, args, 5, "z", 8, n * M, 0) : NULL;
    double *q = z ? arg_buf(&B, args, 6, "q", 8, n * M, 1) : NULL;
    double *ne = q ? arg_buf(&B, args, 10, "neg_entropy", 8, n, 1) : NULL;
    double tau = arg_double(args, 8);
    long leaves = PyLong_AsLong(PyTuple_GET_ITEM(args, 9));
    if (!PyErr_Occurred() && (leaves < 0 || leaves > 2)) PyErr_SetString(PyExc_ValueError, "leaves must be 0, 1 or 2");
    if (!ne || PyErr_Occurred()) {
        bufs_release(&B);
        return NULL;
    }
    if (!ends_at(ls, L, n)) {
        bufs_release(&B);
        return NULL;
    }
    Py_ssize_t nb = n_blocks(n);
    int nt = team(n), bad = 0;
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        if (leaves) {
#pragma omp for schedule(dynamic, 1) reduction(| : bad)
            for (Py_ssize_t blk = 0; blk < nb; blk++) {
                Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
                for (Py_ssize_t i = lo; i < hi; i++)
                    if (nc[i] == 0 && a[i]) {
                        ne[i] = leaves == 1 ? softmax_row(z + i * M, q + i * M, M, tau) : neg_entropy(q + i * M, M);
                        bad |= row_not_finite(q + i * M, M);
                    }
            }
        }
        for (Py_ssize_t d = L - 2; d >= 0; d--) {
            Py_ssize_t lo = ls[d], hi = ls[d + 1];
#pragma omp for schedule(dynamic, 256) reduction(| : bad)
            for (Py_ssize_t i = lo; i < hi; i++) {
                if (nc[i] == 0 || !a[i]) continue;
#if HAVE_SIMD4
                if (M == 4 && simd4) {
                    bad |= observe_row4(q, w, a, fc[i], nc[i], i, ne + i);
                    continue;
                }
#endif
                double den = 0.0, num[MAX_M];
                for (Py_ssize_t m = 0; m < M; m++) num[m] = 0.0;
                for (int64_t c = fc[i]; c < fc[i] + nc[i]; c++) {
                    double lw = a[c] ? w[c] : 0.0;
                    den += lw;
                    for (Py_ssize_t m = 0; m < M; m++) num[m] += lw * q[c * M + m];
                }
                if (den > 0.0)
                    for (Py_ssize_t m = 0; m < M; m++) q[i * M + m] = num[m] / den;
                ne[i] = neg_entropy(q + i * M, M);
                bad |= row_not_finite(q + i * M, M);
            }
        }
    }
    Py_END_ALLOW_THREADS
    bufs_release(&B);
    return PyBool_FromLong(!bad);
}

/* What the persistence step of one node reads and writes (see persist below). */
typedef struct {
    const int64_t *par, *fc, *nc;
    const uint8_t *a;
    const double *q, *ne;
    double *th, *dkl, *inc, *base, *R, *pr;
    const double *peer; /* each depth's mean income over alive nodes */
    Py_ssize_t M;
    int first, by_scale;
    double b_base, surplus, half_nu, beta, eta, kappa;
} Persist;

/* Mean previous R over the alive children of i (1 without any), and the parent's new R and pressure
 * (the environment's R = 1 and pressure 0 for the root or a dormant parent). */
static inline void neighbours(const Persist *P, Py_ssize_t i, Py_ssize_t d, double *r_children, double *r_parent,
                              double *p_parent) {
    double r_sum = 0.0, r_cnt = 0.0;
    for (int64_t c = P->fc[i]; c < P->fc[i] + P->nc[i]; c++)
        if (P->a[c]) {
            r_sum += P->R[c];
            r_cnt += 1.0;
        }
    *r_children = r_cnt > 0.0 ? r_sum / r_cnt : 1.0;
    *r_parent = 1.0;
    *p_parent = 0.0;
    if (d > 0 && P->a[P->par[i]]) {
        *r_parent = P->R[P->par[i]];
        *p_parent = P->pr[P->par[i]];
    }
}

/* The persistence step of node i at depth d: baseline, D_KL, R, pressure and θ (dormant nodes keep all);
 * 1 when a value it wrote is not finite. */
static int persist_node(const Persist *P, Py_ssize_t i, Py_ssize_t d) {
    if (!P->a[i]) return 0;
    Py_ssize_t M = P->M;
    double p[MAX_M];
    const double *qi = P->q + i * M;
    double *ti = P->th + i * M;
    double meas = P->by_scale ? P->peer[d] : P->inc[i];
    P->base[i] = P->first ? meas : (1.0 - P->b_base) * P->base[i] + P->b_base * meas;
    double energy_in = P->surplus * (P->base[i] > 0.0 ? P->inc[i] / P->base[i] : 1.0);
    /* p = softmax θ; ln p_m = θ_m − max − ln Σ (one log, not M), ε-floored like the reference */
    double mx = ti[0], sum = 0.0;
    for (Py_ssize_t m = 1; m < M; m++) mx = ti[m] > mx ? ti[m] : mx;
    for (Py_ssize_t m = 0; m < M; m++) sum += p[m] = exp(ti[m] - mx);
    double log_sum = log(sum);
    for (Py_ssize_t m = 0; m < M; m++) p[m] /= sum;
    double cross = 0.0; /* Σ q ln p, p ε-floored like the reference */
    for (Py_ssize_t m = 0; m < M; m++)
        if (qi[m] > 0.0) cross += qi[m] * (p[m] > 1e-12 ? ti[m] - mx - log_sum : LOG_EPS);
    double kl = P->ne[i] - cross;
    P->dkl[i] = kl > 0.0 ? kl : 0.0;
    double r_children, r_parent, p_parent;
    neighbours(P, i, d, &r_children, &r_parent, &p_parent);
    double x = r_parent * r_children; /* x^(ν/2); ν = 0.5 (the default) by two square roots */
    double r_new = energy_in * (P->half_nu == 0.25 ? sqrt(sqrt(x)) : pow(x, P->half_nu)) / (1.0 + P->dkl[i]);
    P->R[i] = r_new;
    P->pr[i] = (1.0 - r_new > 0.0 ? 1.0 - r_new : 0.0) + P->beta * p_parent;
    double rate = P->eta * (1.0 + P->kappa * P->pr[i]);
    for (Py_ssize_t m = 0; m < M; m++) ti[m] -= rate * (p[m] - qi[m]);
    return NOT_FINITE(P->base[i]) | NOT_FINITE(P->dkl[i]) | NOT_FINITE(r_new) | NOT_FINITE(P->pr[i]) |
           row_not_finite(ti, M);
}

#if HAVE_SIMD4
#pragma GCC push_options
#pragma GCC target("avx2,fma")
/* persist_node for the four alive nodes i..i+3 at M = 4, a node per lane, the same operations in the
 * same order (only exp and log are libmvec's); 1 when a value it wrote is not finite. */
static int persist_quad(const Persist *P, Py_ssize_t i, Py_ssize_t d) {
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
    double *t = P->th + i * 4;
    const double *qq = P->q + i * 4;
    __m256d t0 = _mm256_loadu_pd(t), t1 = _mm256_loadu_pd(t + 4), t2 = _mm256_loadu_pd(t + 8),
            t3 = _mm256_loadu_pd(t + 12);
    __m256d q0 = _mm256_loadu_pd(qq), q1 = _mm256_loadu_pd(qq + 4), q2 = _mm256_loadu_pd(qq + 8),
            q3 = _mm256_loadu_pd(qq + 12);
    transpose4(&t0, &t1, &t2, &t3); /* t_m: θ of category m, lane j = node i + j */
    transpose4(&q0, &q1, &q2, &q3);
    __m256d inc = _mm256_loadu_pd(P->inc + i);
    __m256d meas = P->by_scale ? _mm256_set1_pd(P->peer[d]) : inc;
    __m256d base = P->first ? meas
                            : _mm256_add_pd(_mm256_mul_pd(_mm256_set1_pd(1.0 - P->b_base), _mm256_loadu_pd(P->base + i)),
                                            _mm256_mul_pd(_mm256_set1_pd(P->b_base), meas));
    _mm256_storeu_pd(P->base + i, base);
    __m256d has_base = _mm256_cmp_pd(base, zero, _CMP_GT_OQ);
    __m256d energy_in = _mm256_mul_pd(_mm256_set1_pd(P->surplus),
                                      _mm256_blendv_pd(one, _mm256_div_pd(inc, base), has_base));
    __m256d mx = t0;
    mx = _mm256_max_pd(t1, mx); /* t_m > mx ? t_m : mx, as the scalar loop */
    mx = _mm256_max_pd(t2, mx);
    mx = _mm256_max_pd(t3, mx);
    __m256d e0 = _ZGVdN4v_exp(_mm256_sub_pd(t0, mx)), e1 = _ZGVdN4v_exp(_mm256_sub_pd(t1, mx)),
            e2 = _ZGVdN4v_exp(_mm256_sub_pd(t2, mx)), e3 = _ZGVdN4v_exp(_mm256_sub_pd(t3, mx));
    __m256d sum = _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(e0, e1), e2), e3);
    __m256d log_sum = _ZGVdN4v_log(sum);
    __m256d p[4] = {_mm256_div_pd(e0, sum), _mm256_div_pd(e1, sum), _mm256_div_pd(e2, sum), _mm256_div_pd(e3, sum)};
    __m256d tm[4] = {t0, t1, t2, t3}, qm[4] = {q0, q1, q2, q3};
    __m256d cross = zero, floor_p = _mm256_set1_pd(1e-12), log_eps = _mm256_set1_pd(LOG_EPS);
    for (int m = 0; m < 4; m++) {
        __m256d log_p = _mm256_blendv_pd(log_eps, _mm256_sub_pd(_mm256_sub_pd(tm[m], mx), log_sum),
                                         _mm256_cmp_pd(p[m], floor_p, _CMP_GT_OQ));
        __m256d term = _mm256_and_pd(_mm256_cmp_pd(qm[m], zero, _CMP_GT_OQ), _mm256_mul_pd(qm[m], log_p));
        cross = _mm256_add_pd(cross, term);
    }
    __m256d kl = _mm256_sub_pd(_mm256_loadu_pd(P->ne + i), cross);
    kl = _mm256_and_pd(_mm256_cmp_pd(kl, zero, _CMP_GT_OQ), kl);
    _mm256_storeu_pd(P->dkl + i, kl);
    double rc[4], rp[4], pp[4];
    for (int j = 0; j < 4; j++) neighbours(P, i + j, d, rc + j, rp + j, pp + j);
    __m256d x = _mm256_mul_pd(_mm256_loadu_pd(rp), _mm256_loadu_pd(rc)), root;
    if (P->half_nu == 0.25) {
        root = _mm256_sqrt_pd(_mm256_sqrt_pd(x));
    } else {
        double xs[4];
        _mm256_storeu_pd(xs, x);
        root = _mm256_setr_pd(pow(xs[0], P->half_nu), pow(xs[1], P->half_nu), pow(xs[2], P->half_nu),
                              pow(xs[3], P->half_nu));
    }
    __m256d r_new = _mm256_div_pd(_mm256_mul_pd(energy_in, root), _mm256_add_pd(one, kl));
    _mm256_storeu_pd(P->R + i, r_new);
    __m256d short_fall = _mm256_sub_pd(one, r_new);
    short_fall = _mm256_and_pd(_mm256_cmp_pd(short_fall, zero, _CMP_GT_OQ), short_fall);
    __m256d pressure = _mm256_add_pd(short_fall, _mm256_mul_pd(_mm256_set1_pd(P->beta), _mm256_loadu_pd(pp)));
    _mm256_storeu_pd(P->pr + i, pressure);
    __m256d rate = _mm256_mul_pd(_mm256_set1_pd(P->eta),
                                 _mm256_add_pd(one, _mm256_mul_pd(_mm256_set1_pd(P->kappa), pressure)));
    for (int m = 0; m < 4; m++) tm[m] = _mm256_sub_pd(tm[m], _mm256_mul_pd(rate, _mm256_sub_pd(p[m], qm[m])));
    transpose4(tm, tm + 1, tm + 2, tm + 3);
    for (int m = 0; m < 4; m++) _mm256_storeu_pd(t + 4 * m, tm[m]);
    /* x − x is 0 for a finite x, NaN otherwise: one test of the sum of every value written */
    __m256d all = _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(base, kl), _mm256_add_pd(r_new, pressure)),
                                _mm256_add_pd(_mm256_add_pd(tm[0], tm[1]), _mm256_add_pd(tm[2], tm[3])));
    all = _mm256_sub_pd(all, all);
    return _mm256_movemask_pd(_mm256_cmp_pd(all, zero, _CMP_NEQ_UQ)) != 0;
}
#pragma GCC pop_options
#endif

/* persist(level_start, parent, first_child, n_children, alive, q, theta, dkl, received_sum, income, baseline, R,
 *         pressure, M, window_ticks, first, income_ema, baseline_ema, scale_baseline, surplus, coupling, beta,
 *         eta, kappa, neg_entropy)
 * The persistence law after the observation (5.4), for the alive nodes: income EMA, baseline (peers at the
 * same depth, or self), D_KL(q‖softmax θ), then top-down R and pressure from the parent's new values and the
 * children's previous R, and the learning step of θ; one pass per depth, no temporaries.
 * neg_entropy: Σ q ln q of every alive node, as observe leaves it (so D_KL = Σ q ln q − Σ q ln p needs no
 * log of q). Returns True when every income, baseline, D_KL, R, pressure and θ it wrote is finite. */
static PyObject *persist(PyObject *self, PyObject *args) {
    Bufs B = {.n = 0};
    if (!arg_count(args, 25, "persist")) return NULL;
    Py_ssize_t L = PyObject_Length(PyTuple_GET_ITEM(args, 0)) - 1, n = PyObject_Length(PyTuple_GET_ITEM(args, 4));
    Py_ssize_t M = arg_size(args, 13), wt = arg_size(args, 14);
    if (!tree_sizes(L, n, M)) return NULL;
    const int64_t *ls = arg_buf(&B, args, 0, "level_start", 8, L + 1, 0);
    const int64_t *par = ls ? arg_buf(&B, args, 1, "parent", 8, n, 0) : NULL;
    const int64_t *fc = par ? arg_buf(&B, args, 2, "first_child", 8, n, 0) : NULL;
    const int64_t *nc = fc ? arg_buf(&B, args, 3, "n_children", 8, n, 0) : NULL;
    const uint8_t *a = nc ? arg_buf(&B, args, 4, "alive", 1, n, 0) : NULL;
    const double *q = a ? arg_buf(&B, args, 5, "q", 8, n * M, 0) : NULL;
    double *th = q ? arg_buf(&B, args, 6, "theta", 8, n * M, 1) : NULL;
    double *dkl = th ? arg_buf(&B, args, 7, "dkl", 8, n, 1) : NULL;
    const double *rec = dkl ? arg_buf(&B, args, 8, "received_sum", 8, n, 0) : NULL;
    double *inc = rec ? arg_buf(&B, args, 9, "income", 8, n, 1) : NULL;
    double *base = inc ? arg_buf(&B, args, 10, "baseline", 8, n, 1) : NULL;
    double *R = base ? arg_buf(&B, args, 11, "R", 8, n, 1) : NULL;
    double *pr = R ? arg_buf(&B, args, 12, "pressure", 8, n, 1) : NULL;
    const double *ne = pr ? arg_buf(&B, args, 24, "neg_entropy", 8, n, 0) : NULL;
    int first = PyObject_IsTrue(PyTuple_GET_ITEM(args, 15));
    double a_inc = arg_double(args, 16), b_base = arg_double(args, 17);
    int by_scale = PyObject_IsTrue(PyTuple_GET_ITEM(args, 18));
    double surplus = 1.0 + arg_double(args, 19), half_nu = 0.5 * arg_double(args, 20), beta = arg_double(args, 21);
    double eta = arg_double(args, 22), kappa = arg_double(args, 23);
    if (!ne || PyErr_Occurred()) {
        bufs_release(&B);
        return NULL;
    }
    if (!ends_at(ls, L, n)) {
        bufs_release(&B);
        return NULL;
    }
    double *peer = PyMem_Calloc(L, sizeof(double));
    if (!peer) {
        bufs_release(&B);
        return PyErr_NoMemory();
    }
    int nt = team(n * COMPUTE_BOUND), bad = 0; /* a softmax, a log and roots per node: threads pay sooner */
    double per_tick = (double)(wt > 1 ? wt : 1);
    Py_BEGIN_ALLOW_THREADS
    /* income EMA and each depth's mean income over alive nodes, in node order (np.bincount's order) */
    for (Py_ssize_t d = 0; d < L; d++) {
        double total = 0.0, count = 0.0;
        for (Py_ssize_t i = ls[d]; i < ls[d + 1]; i++) {
            if (!a[i]) continue;
            double r = rec[i] / per_tick;
            inc[i] = first ? r : (1.0 - a_inc) * inc[i] + a_inc * r;
            total += inc[i];
            count += 1.0;
        }
        peer[d] = count > 0.0 ? total / count : 0.0;
        bad |= NOT_FINITE(total); /* a NaN or inf income makes the sum so (an overflow only asks for a check) */
    }
    Persist P = {par, fc, nc, a, q, ne, th, dkl, inc, base, R, pr, peer, M, first, by_scale,
                 b_base, surplus, half_nu, beta, eta, kappa};
#if HAVE_SIMD4
    int quads = simd4 && M == 4;
#endif
#pragma omp parallel num_threads(nt) if (nt > 1)
    for (Py_ssize_t d = 0; d < L; d++) {
        Py_ssize_t lo = ls[d], hi = ls[d + 1];
#pragma omp for schedule(dynamic, 256) reduction(| : bad)
        for (Py_ssize_t k = 0; k < (hi - lo + 3) / 4; k++) { /* four nodes at a time */
            Py_ssize_t i = lo + 4 * k, end = i + 4 < hi ? i + 4 : hi;
#if HAVE_SIMD4
            if (quads && end - i == 4 && a[i] && a[i + 1] && a[i + 2] && a[i + 3]) {
                bad |= persist_quad(&P, i, d);
                continue;
            }
#endif
            for (; i < end; i++) bad |= persist_node(&P, i, d);
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(peer);
    bufs_release(&B);
    return PyBool_FromLong(!bad);
}

/* A live-tree leaf's coherence input: x itself (already clipped), or with E_half > 0, x being the window sum
 * E_sum, ē/(ē + E_half) clipped to [0.1, 0.99] with ē = E_sum/per_tick: coherence.leaf_input's
 * "activation", the same operations, computed only where used (no N-item array). */
static inline double leaf_input(double x, double per_tick, double E_half) {
    if (E_half > 0.0) {
        double e = x / per_tick;
        x = e / (e + E_half);
        x = x < 0.1 ? 0.1 : x > 0.99 ? 0.99 : x;
    }
    return x;
}

/* coherence(level_start, parent, first_child, n_children, alive, w, x, gamma, C, g, lam, child_weight, target, eta,
 *           per_tick, E_half)
 * Coherence backpropagation (5.3) after the inputs x (see leaf_input): forward bottom-up (g, C and Σ w over
 * alive children), the adjoint λ top-down from the current γ, then the γ step of internal nodes; one pass
 * per depth. Returns True when every C, g, λ and γ it wrote is finite. */
static PyObject *coherence(PyObject *self, PyObject *args) {
    Bufs B = {.n = 0};
    if (!arg_count(args, 16, "coherence")) return NULL;
    Py_ssize_t L = PyObject_Length(PyTuple_GET_ITEM(args, 0)) - 1, n = PyObject_Length(PyTuple_GET_ITEM(args, 4));
    if (!tree_sizes(L, n, 1)) return NULL;
    const int64_t *ls = arg_buf(&B, args, 0, "level_start", 8, L + 1, 0);
    const int64_t *par = ls ? arg_buf(&B, args, 1, "parent", 8, n, 0) : NULL;
    const int64_t *fc = par ? arg_buf(&B, args, 2, "first_child", 8, n, 0) : NULL;
    const int64_t *nc = fc ? arg_buf(&B, args, 3, "n_children", 8, n, 0) : NULL;
    const uint8_t *a = nc ? arg_buf(&B, args, 4, "alive", 1, n, 0) : NULL;
    const double *w = a ? arg_buf(&B, args, 5, "w", 8, n, 0) : NULL;
    const double *x = w ? arg_buf(&B, args, 6, "x", 8, n, 0) : NULL;
    double *gam = x ? arg_buf(&B, args, 7, "gamma", 8, n, 1) : NULL;
    double *C = gam ? arg_buf(&B, args, 8, "C", 8, n, 1) : NULL;
    double *g = C ? arg_buf(&B, args, 9, "g", 8, n, 1) : NULL;
    double *lam = g ? arg_buf(&B, args, 10, "lam", 8, n, 1) : NULL;
    double *cw = lam ? arg_buf(&B, args, 11, "child_weight", 8, n, 1) : NULL;
    double target = arg_double(args, 12), eta = arg_double(args, 13);
    double per_tick = arg_double(args, 14), E_half = arg_double(args, 15);
    if (!cw || PyErr_Occurred() || !ends_at(ls, L, n)) {
        bufs_release(&B);
        return NULL;
    }
    int nt = team(n), bad = 0;
    Py_ssize_t nb = n_blocks(n);
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        for (Py_ssize_t d = L - 1; d >= 0; d--) { /* forward, bottom-up, four nodes at a time */
            Py_ssize_t lo = ls[d], hi = ls[d + 1];
#pragma omp for schedule(dynamic, 256) reduction(| : bad)
            for (Py_ssize_t k = 0; k < (hi - lo + 3) / 4; k++) {
                Py_ssize_t i0 = lo + 4 * k, m = i0 + 4 < hi ? 4 : hi - i0;
                double arg[4];
                int all_inner = m == 4; /* four nodes with alive children: one vector tanh */
                for (Py_ssize_t j = 0; j < m; j++) {
                    Py_ssize_t i = i0 + j;
                    double num = 0.0, den = 0.0;
                    for (int64_t c = fc[i]; c < fc[i] + nc[i]; c++) {
                        double lw = a[c] ? w[c] : 0.0;
                        num += lw * C[c];
                        den += lw;
                    }
                    den = a[i] ? den : 0.0;
                    g[i] = den > 0.0 ? num / den : 0.0;
                    cw[i] = den;
                    arg[j] = gam[i] * g[i];
                    if (!(den > 0.0)) {
                        C[i] = a[i] ? leaf_input(x[i], per_tick, E_half) : 0.0;
                        all_inner = 0;
                    }
                }
                if (!(all_inner && tanh4(arg, C + i0)))
                    for (Py_ssize_t j = 0; j < m; j++)
                        if (cw[i0 + j] > 0.0) C[i0 + j] = tanh(arg[j]);
                for (Py_ssize_t j = 0; j < m; j++) bad |= NOT_FINITE(g[i0 + j]) | NOT_FINITE(C[i0 + j]);
            }
        }
#pragma omp single
        {
            lam[0] = a[0] ? 2.0 * (C[0] - target) : 0.0;
            bad |= NOT_FINITE(lam[0]);
        }
        for (Py_ssize_t d = 1; d < L; d++) { /* adjoint, top-down, from the current γ */
#pragma omp for schedule(dynamic, 1024) reduction(| : bad)
            for (Py_ssize_t i = ls[d]; i < ls[d + 1]; i++) {
                int64_t p = par[i];
                double sent = lam[p] * gam[p] * (1.0 - C[p] * C[p]), den = cw[p];
                lam[i] = a[0] ? sent * (den > 0.0 ? (a[i] ? w[i] : 0.0) / den : 0.0) : 0.0;
                bad |= NOT_FINITE(lam[i]);
            }
        }
#pragma omp for schedule(dynamic, 1) reduction(| : bad)
        for (Py_ssize_t blk = 0; blk < nb; blk++) { /* learning: internal nodes with alive children */
            Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
            for (Py_ssize_t i = lo; i < hi; i++) {
                if (!(cw[i] > 0.0)) continue;
                double v = gam[i] - eta * lam[i] * (1.0 - C[i] * C[i]) * g[i];
                gam[i] = v < 0.0 ? 0.0 : v > 10.0 ? 10.0 : v;
                bad |= NOT_FINITE(gam[i]);
            }
        }
    }
    Py_END_ALLOW_THREADS
    bufs_release(&B);
    return PyBool_FromLong(!bad);
}

/* level_sums(level_start, alive, out, x_0, x_1, ...)
 * out[d, 0] = alive nodes at depth d, out[d, 1 + k] = Σ x_k over them. Each depth is cut into blocks of
 * BLOCK nodes, summed on the threads in four interleaved chains (one chain of additions in node order
 * waits on each addition's latency: 22 ms for one array at 10^7 nodes), then over the blocks in order:
 * the same bits on any number of threads, within rounding of np.bincount's node-order sums. */
static PyObject *level_sums(PyObject *self, PyObject *args) {
    Bufs B = {.n = 0};
    Py_ssize_t K = PyTuple_GET_SIZE(args) - 3;
    if (K < 0 || K > MAX_ARGS - 3) {
        PyErr_Format(PyExc_TypeError, "level_sums takes 3 to %d arguments", MAX_ARGS);
        return NULL;
    }
    Py_ssize_t L = PyObject_Length(PyTuple_GET_ITEM(args, 0)) - 1, n = PyObject_Length(PyTuple_GET_ITEM(args, 1));
    if (L < 1 || n < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "level_start needs at least two entries");
        return NULL;
    }
    const int64_t *ls = arg_buf(&B, args, 0, "level_start", 8, L + 1, 0);
    const uint8_t *a = ls ? arg_buf(&B, args, 1, "alive", 1, n, 0) : NULL;
    double *out = a ? arg_buf(&B, args, 2, "out", 8, L * (K + 1), 1) : NULL;
    const double *x[MAX_ARGS];
    for (Py_ssize_t k = 0; k < K && out; k++)
        if (!(x[k] = arg_buf(&B, args, 3 + k, "values", 8, n, 0))) out = NULL;
    if (!out) {
        bufs_release(&B);
        return NULL;
    }
    if (!ends_at(ls, L, n)) {
        bufs_release(&B);
        return NULL;
    }
    Py_ssize_t tasks = 0; /* blocks over all depths */
    for (Py_ssize_t d = 0; d < L; d++) tasks += n_blocks(ls[d + 1] - ls[d]);
    int64_t *start = malloc(2 * (tasks + 1) * sizeof(int64_t)), *stop = start + tasks + 1;
    double *part = malloc((tasks + 1) * (K + 1) * sizeof(double));
    if (!start || !part) {
        free(start);
        free(part);
        bufs_release(&B);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t d = 0, t = 0; d < L; d++) /* each block ends at BLOCK nodes or at its depth's end */
        for (int64_t lo = ls[d]; lo < ls[d + 1]; lo += BLOCK, t++) {
            start[t] = lo;
            stop[t] = lo + BLOCK < ls[d + 1] ? lo + BLOCK : ls[d + 1];
        }
    int nt = team(n * (K + 1) / 4);
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 1)
    for (Py_ssize_t t = 0; t < tasks; t++) {
        int64_t lo = start[t], hi = stop[t];
        double *row = part + t * (K + 1);
        for (Py_ssize_t k = -1; k < K; k++) {
            const double *xk = k < 0 ? NULL : x[k];
            double c[4] = {0.0, 0.0, 0.0, 0.0};
            int64_t i = lo;
            for (; i + 4 <= hi; i += 4)
                for (int j = 0; j < 4; j++) c[j] += a[i + j] ? (xk ? xk[i + j] : 1.0) : 0.0;
            for (; i < hi; i++) c[0] += a[i] ? (xk ? xk[i] : 1.0) : 0.0;
            row[k + 1] = (c[0] + c[1]) + (c[2] + c[3]);
        }
    }
    for (Py_ssize_t d = 0, t = 0; d < L; d++) { /* over the blocks of each depth in order */
        for (Py_ssize_t k = 0; k <= K; k++) out[d * (K + 1) + k] = 0.0;
        for (int64_t lo = ls[d]; lo < ls[d + 1]; lo += BLOCK, t++)
            for (Py_ssize_t k = 0; k <= K; k++) out[d * (K + 1) + k] += part[t * (K + 1) + k];
    }
    Py_END_ALLOW_THREADS
    free(start);
    free(part);
    bufs_release(&B);
    Py_RETURN_NONE;
}

/* median(x, alive) -> float or None
 * The median of x over the alive entries, the value np.median gives (the middle item, or the mean of the
 * two middle items), NaN when an alive item is NaN or none is alive; None (the caller falls back to
 * np.median) when an item is infinite. No copy of x and no full selection. Past MEDIAN_PICK items, one pass
 * over a window of values guessed from a sample (window_median); for fewer items, or where the guess
 * missed, a pass for the range, then histograms of the items inside a window of values that holds the
 * middle ranks, each narrowing the window to the bins holding them (bounded by those bins' smallest and
 * largest items, so membership is decided by comparing values, exactly), until it holds at most
 * MEDIAN_PICK items; those are copied and the middle ranks selected among them. */
#define MEDIAN_BINS 4096
#define MEDIAN_PICK 65536
#define MEDIAN_LEVELS 8

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The k-th smallest of p[0..m) (no NaN), p partly reordered so that every item right of k is not smaller:
 * quickselect with a median-of-three pivot, sorting what is left after 64 rounds (adversarial input). */
static double select_kth(double *p, Py_ssize_t m, Py_ssize_t k) {
    Py_ssize_t lo = 0, hi = m - 1;
    for (int round = 0; lo < hi; round++) {
        if (round == 64) {
            qsort(p + lo, hi - lo + 1, sizeof(double), cmp_double);
            break;
        }
        Py_ssize_t mid = lo + (hi - lo) / 2;
        double x = p[lo], y = p[mid], z = p[hi];
        double pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        Py_ssize_t i = lo, j = hi;
        while (i <= j) { /* Hoare: p[lo..j] <= pivot <= p[i..hi] */
            while (p[i] < pivot) i++;
            while (p[j] > pivot) j--;
            if (i <= j) {
                double t = p[i];
                p[i++] = p[j];
                p[j--] = t;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break; /* j < k < i: p[k] equals the pivot */
    }
    return p[k];
}

/* The r-th smallest of pick[0..m) in *v1 and, when `next`, the (r + 1)-th in *v2 (else *v2 = *v1): the
 * smallest item right of the r-th once select_kth has partly reordered pick. */
static void select_pair(double *pick, Py_ssize_t m, Py_ssize_t r, int next, double *v1, double *v2) {
    *v1 = *v2 = select_kth(pick, m, r);
    if (next) {
        *v2 = pick[r + 1];
        for (Py_ssize_t i = r + 2; i < m; i++) *v2 = pick[i] < *v2 ? pick[i] : *v2;
    }
}

/* The histogram bin of v in a window starting at lo; monotone in v, and any v gives a valid bin. */
static inline Py_ssize_t bin_of(double v, double lo, double scale) {
    double f = (v - lo) * scale;
    return !(f >= 0.0) ? 0 : f >= MEDIAN_BINS ? MEDIAN_BINS - 1 : (Py_ssize_t)f;
}

/* Ranks k1 ≤ k2 (counted over alive items) of x, all inside [lo, hi] with `below` alive items under lo
 * and `inside` in it: their values in *v1, *v2; 0 when memory ran out. */
static int middle_ranks(const double *x, const uint8_t *a, Py_ssize_t n, double lo, double hi, Py_ssize_t below,
                        Py_ssize_t inside, Py_ssize_t k1, Py_ssize_t k2, double *v1, double *v2) {
    Py_ssize_t hist[MEDIAN_BINS];
    double bmin[MEDIAN_BINS], bmax[MEDIAN_BINS];
    for (int level = 0; level < MEDIAN_LEVELS && inside > MEDIAN_PICK && lo < hi; level++) {
        double scale = MEDIAN_BINS / (hi - lo);
        if (!isfinite(scale)) break;
        for (int b = 0; b < MEDIAN_BINS; b++) {
            hist[b] = 0;
            bmin[b] = INFINITY;
            bmax[b] = -INFINITY;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            double v = x[i];
            if (a[i] && v >= lo && v <= hi) {
                Py_ssize_t b = bin_of(v, lo, scale);
                hist[b]++;
                bmin[b] = v < bmin[b] ? v : bmin[b];
                bmax[b] = v > bmax[b] ? v : bmax[b];
            }
        }
        Py_ssize_t b1 = 0, under = below;
        while (under + hist[b1] <= k1) under += hist[b1++];
        Py_ssize_t b2 = b1, upto = under + hist[b1];
        while (upto <= k2) upto += hist[++b2];
        /* bins are monotone in v: items of lower bins are below bmin[b1], of higher ones above bmax[b2] */
        lo = bmin[b1];
        hi = bmax[b2];
        below = under;
        inside = upto - under;
    }
    if (lo == hi) { /* every item of the window is equal */
        *v1 = *v2 = lo;
        return 1;
    }
    double *pick = malloc(inside * sizeof(double));
    if (!pick) return 0;
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < n && j < inside; i++)
        if (a[i] && x[i] >= lo && x[i] <= hi) pick[j++] = x[i];
    select_pair(pick, inside, k1 - below, k2 != k1, v1, v2);
    free(pick);
    return 1;
}

/* A guess at a window of values [lo, hi] holding the middle ranks: the ranks m/2 ± 2√m of a systematic
 * sample of m ≤ MEDIAN_SAMPLE alive items (the middle ± 4 standard errors of a random sample's); lo = hi
 * when the sample's middle is one repeated value. 0 when the sample is too small. Only speed depends on
 * the guess: window_median checks it. */
#define MEDIAN_SAMPLE 4096
static int sampled_window(const double *x, const uint8_t *a, Py_ssize_t n, double *lo, double *hi) {
    double s[MEDIAN_SAMPLE];
    Py_ssize_t m = 0;
    for (Py_ssize_t j = 0; j < MEDIAN_SAMPLE; j++) {
        Py_ssize_t i = (Py_ssize_t)((double)j * (double)n / MEDIAN_SAMPLE);
        if (a[i]) s[m++] = x[i];
    }
    if (m < 256) return 0;
    Py_ssize_t half = (Py_ssize_t)(2.0 * sqrt((double)m)) + 1;
    *lo = select_kth(s, m, m / 2 - half);
    *hi = select_kth(s, m, m / 2 + half);
    return 1;
}

/* The median of the alive items of x (np.median's value) from one pass over x. With [lo, hi] guessed by
 * sampled_window, the pass counts the alive items below lo and equal to lo (a repeated value, such as
 * the R = 0 of every node nothing has reached yet, can hold the middle ranks by itself) and copies,
 * branch-free, those in (lo, hi], among which the middle ranks are selected. 0 (nothing found: the
 * caller takes the general path) when an alive item is not finite, none is alive, or the middle ranks
 * are not at lo or among at most count/8 + MEDIAN_PICK copied items. */
static int window_median(const double *x, const uint8_t *a, Py_ssize_t n, double *result) {
    double lo, hi;
    if (!sampled_window(x, a, n, &lo, &hi)) return 0;
    /* Each thread copies from its own contiguous part into its own segment of `pick` (the median is a value:
     * it does not depend on the order of the copies), then the segments are closed up. */
    Py_ssize_t cap = n / 8 + MEDIAN_PICK, count = 0, below = 0, at_lo = 0, inside = 0, bad = 0;
    int nt = team(n);
    Py_ssize_t seg = cap + 1, part = (n + nt - 1) / nt, got[64];
    double *pick = malloc((size_t)nt * seg * sizeof(double));
    if (!pick || nt > 64) {
        free(pick);
        return 0;
    }
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(+ : count, below, at_lo) reduction(| : bad)
    {
#ifdef _OPENMP
        int t = omp_get_thread_num();
#else
        int t = 0;
#endif
        Py_ssize_t start = t * part, end = start + part < n ? start + part : n, kept = 0;
        double *mine = pick + t * seg;
        for (Py_ssize_t i = start; i < end; i++) {
            double v = x[i];
            Py_ssize_t live = a[i] != 0;
            count += live;
            bad |= live & NOT_FINITE(v);
            below += live & (v < lo);
            at_lo += live & (v == lo);
            mine[kept < cap ? kept : cap] = v; /* kept only if counted, and only the first cap of them */
            kept += live & (v > lo) & (v <= hi);
        }
        got[t] = kept;
    }
    for (int t = 0; t < nt; t++) { /* close up the segments, or give up past cap */
        if (got[t] > cap || inside + got[t] > cap) {
            inside = cap + 1;
            break;
        }
        memmove(pick + inside, pick + t * seg, got[t] * sizeof(double));
        inside += got[t];
    }
    /* ranks below..base-1 hold lo, base..base+inside-1 the copied items in order */
    Py_ssize_t k1 = (count - 1) / 2, k2 = count / 2, base = below + at_lo; /* the middle ranks (k2 = k1 or k1 + 1) */
    int found = !bad && count > 0 && below <= k1 && k2 < base + (inside <= cap ? inside : 0);
    if (found) {
        double v1 = lo, v2 = lo;
        if (k1 >= base) /* both among the copied items */
            select_pair(pick, inside, k1 - base, k2 != k1, &v1, &v2);
        else if (k2 >= base) /* k1 at lo, k2 the smallest copied item */
            v2 = select_kth(pick, inside, 0);
        *result = k1 == k2 ? v1 : (v1 + v2) / 2.0; /* numpy's arithmetic, overflow included */
    }
    free(pick);
    return found;
}

/* The median of the alive items of x by the range and narrowing histograms (middle_ranks): NaN when an alive
 * item is NaN or none is alive; 0 (not handled) when one is infinite or memory ran out. */
static int general_median(const double *x, const uint8_t *a, Py_ssize_t n, double *result) {
    double lo = INFINITY, hi = -INFINITY;
    Py_ssize_t count = 0;
    int nan = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!a[i]) continue;
        double v = x[i];
        if (v != v) nan = 1;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        count++;
    }
    if (nan || count == 0) {
        *result = NAN;
        return 1;
    }
    if (isinf(lo) || isinf(hi)) return 0;
    Py_ssize_t k1 = (count - 1) / 2, k2 = count / 2; /* the middle ranks (equal when count is odd) */
    double v1, v2;
    if (!middle_ranks(x, a, n, lo, hi, 0, count, k1, k2, &v1, &v2)) return 0;
    *result = k1 == k2 ? v1 : (v1 + v2) / 2.0; /* numpy's arithmetic, overflow included */
    return 1;
}

/* x (float64) and alive (a byte per item) of one length, *n; else a Python error, both released, and 0. */
static int x_and_alive(Py_buffer *xb, Py_buffer *ab, Py_ssize_t *n) {
    Py_buffer *all[] = {xb, ab};
    *n = xb->len / 8;
    if (check(xb, "x", 8, *n) && check(ab, "alive", 1, *n)) return 1;
    release(all, 2);
    return 0;
}

static PyObject *median(PyObject *self, PyObject *args) {
    Py_buffer xb = {0}, ab = {0};
    Py_buffer *all[] = {&xb, &ab};
    if (!PyArg_ParseTuple(args, "y*y*", &xb, &ab)) {
        release(all, 2);
        return NULL;
    }
    Py_ssize_t n;
    if (!x_and_alive(&xb, &ab, &n)) return NULL;
    double result = NAN;
    int handled = 1;
    Py_BEGIN_ALLOW_THREADS
    if (!(n > MEDIAN_PICK && window_median(xb.buf, ab.buf, n, &result))) handled = general_median(xb.buf, ab.buf, n, &result);
    Py_END_ALLOW_THREADS
    release(all, 2);
    if (!handled) Py_RETURN_NONE;
    return PyFloat_FromDouble(result);
}

/* shortfall(x, alive, band_lo, band_hi) -> (below 1, inside the band, Σ (1 − x)² over x < 1) or None
 * Over the alive items of x, in one pass (persistence.statistics' counts and loss); None when an alive
 * item is NaN (the caller's numpy formula then says what NaN gives). The sum runs per fixed block of BLOCK
 * items in four interleaved chains, then over the blocks in order: the same bits on any number of threads. */
static PyObject *shortfall(PyObject *self, PyObject *args) {
    Py_buffer xb = {0}, ab = {0};
    Py_buffer *all[] = {&xb, &ab};
    double band_lo, band_hi;
    if (!PyArg_ParseTuple(args, "y*y*dd", &xb, &ab, &band_lo, &band_hi)) {
        release(all, 2);
        return NULL;
    }
    Py_ssize_t n;
    if (!x_and_alive(&xb, &ab, &n)) return NULL;
    const double *x = xb.buf;
    const uint8_t *a = ab.buf;
    Py_ssize_t nb = n_blocks(n), n_short = 0, in_band = 0, nan = 0;
    double *block_sq = malloc((nb > 0 ? nb : 1) * sizeof(double)), squares = 0.0;
    if (!block_sq) {
        release(all, 2);
        return PyErr_NoMemory();
    }
    int nt = team(n);
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 1) reduction(+ : n_short, in_band) \
    reduction(| : nan)
    for (Py_ssize_t blk = 0; blk < nb; blk++) {
        Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n, i = lo;
        double sq[4] = {0.0, 0.0, 0.0, 0.0};
/* item i into chain c: selects, no branches */
#define SHORTFALL_ITEM(i, c)                                       \
    do {                                                           \
        Py_ssize_t live = a[i] != 0;                               \
        double v = x[i], gap = 1.0 - v, g = gap > 0.0 ? gap : 0.0; \
        g = live ? g : 0.0;                                        \
        nan |= live & (v != v);                                    \
        n_short += live & (gap > 0.0);                             \
        in_band += live & (v >= band_lo) & (v <= band_hi);         \
        sq[c] += g * g;                                            \
    } while (0)
        for (; i + 4 <= hi; i += 4) {
            SHORTFALL_ITEM(i, 0);
            SHORTFALL_ITEM(i + 1, 1);
            SHORTFALL_ITEM(i + 2, 2);
            SHORTFALL_ITEM(i + 3, 3);
        }
        for (; i < hi; i++) SHORTFALL_ITEM(i, 0);
#undef SHORTFALL_ITEM
        block_sq[blk] = (sq[0] + sq[1]) + (sq[2] + sq[3]);
    }
    for (Py_ssize_t blk = 0; blk < nb; blk++) squares += block_sq[blk]; /* blocks in order: any thread count */
    Py_END_ALLOW_THREADS
    free(block_sq);
    release(all, 2);
    if (nan) Py_RETURN_NONE;
    return Py_BuildValue("nnd", n_short, in_band, squares);
}

/* same(a, b) -> whether two buffers hold the same bytes, compared in parallel chunks (no copy, no temporary). */
static PyObject *same(PyObject *self, PyObject *args) {
    Py_buffer ab = {0}, bb = {0};
    Py_buffer *all[] = {&ab, &bb};
    if (!PyArg_ParseTuple(args, "y*y*", &ab, &bb)) {
        release(all, 2);
        return NULL;
    }
    int differ = ab.len != bb.len;
    if (!differ) {
        const char *p = ab.buf, *q = bb.buf;
        Py_ssize_t len = ab.len, chunk = 8 * BLOCK * 8, nc = (len + chunk - 1) / chunk; /* 256 KiB chunks */
        int nt = team(len / 8);
        Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 1) reduction(| : differ)
        for (Py_ssize_t c = 0; c < nc; c++) {
            Py_ssize_t lo = c * chunk, size = lo + chunk < len ? chunk : len - lo;
            differ |= memcmp(p + lo, q + lo, size) != 0;
        }
        Py_END_ALLOW_THREADS
    }
    release(all, 2);
    return PyBool_FromLong(!differ);
}

/* set_simd(on) -> whether the four-lane path was on; it is turned on only where the CPU and build have it. */
static PyObject *set_simd(PyObject *self, PyObject *args) {
    int on, was = simd4;
    if (!PyArg_ParseTuple(args, "p", &on)) return NULL;
    simd4 = on && cpu_has_simd4();
    return PyBool_FromLong(was);
}

static PyObject *set_threads(PyObject *self, PyObject *args) {
    int n;
    if (!PyArg_ParseTuple(args, "i", &n)) return NULL;
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "threads must be at least 1, got %d", n);
        return NULL;
    }
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    Py_RETURN_NONE;
}

static PyObject *set_min_rows(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "n", &n)) return NULL;
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "rows per thread must be at least 1, got %zd", n);
        return NULL;
    }
    min_rows = n;
    Py_RETURN_NONE;
}

static PyObject *get_min_rows(PyObject *self, PyObject *noargs) { return PyLong_FromSsize_t(min_rows); }

static PyObject *threads_for(PyObject *self, PyObject *args) {
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "n", &rows)) return NULL;
    return PyLong_FromLong(team(rows));
}

static PyObject *get_threads(PyObject *self, PyObject *noargs) {
#ifdef _OPENMP
    return PyLong_FromLong(omp_get_max_threads());
#else
    return PyLong_FromLong(1);
#endif
}

static PyMethodDef methods[] = {
    {"prepare", prepare, METH_VARARGS, "Injection and packing of senders and power vector (SPEC 4.1)."},
    {"spread_decay_power", spread_decay_power, METH_VARARGS, "Spreading, decay and the first power step."},
    {"power_step", power_step, METH_VARARGS, "One further power step."},
    {"slow_weights", slow_weights, METH_VARARGS, "Weight decay, Hebbian step, clips and budget (SPEC 5.1, 5.2)."},
    {"observe", observe, METH_VARARGS, "The observed reality q of every node (SPEC 5.4)."},
    {"persist", persist, METH_VARARGS, "Income, baseline, D_KL, R, pressure and the step of theta (SPEC 5.4)."},
    {"coherence", coherence, METH_VARARGS, "Coherence forward, adjoint and the step of gamma (SPEC 5.3)."},
    {"level_sums", level_sums, METH_VARARGS, "Alive count and sums per depth."},
    {"median", median, METH_VARARGS, "The median over alive entries, as np.median (None: use np.median)."},
    {"same", same, METH_VARARGS, "Whether two buffers hold the same bytes."},
    {"shortfall", shortfall, METH_VARARGS, "Items below 1, inside a band, and the sum of squared shortfalls."},
    {"set_simd", set_simd, METH_VARARGS, "Use the four-lane (AVX2, libmvec) path where there is one."},
    {"set_threads", set_threads, METH_VARARGS, "Number of threads of the parallel passes."},
    {"get_threads", get_threads, METH_NOARGS, "Number of threads of the parallel passes."},
    {"set_min_rows", set_min_rows, METH_VARARGS, "Rows per thread below which a pass runs serially."},
    {"get_min_rows", get_min_rows, METH_NOARGS, "Rows per thread below which a pass runs serially."},
    {"threads_for", threads_for, METH_VARARGS, "Threads a pass over this many rows runs on."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastcore", "Fused parallel passes of the fast tick.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__fastcore(void) {
    simd4 = cpu_has_simd4();
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "BLOCK", BLOCK) < 0 || PyModule_AddIntConstant(m, "RET_TYPES", RET_TYPES) < 0 ||
              PyModule_AddIntConstant(m, "API_VERSION", API_VERSION) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
