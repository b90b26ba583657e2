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
#define API_VERSION 2

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
/* Passes that compute much per node (persist: exponentials, a log and roots, about 100 ns a node on
 * one thread, against a few ns for the memory-bound passes) count each node this many times when
 * choosing threads: measured at 10^5 nodes, two threads halve persist's time. */
#define COMPUTE_BOUND 8

/* Prefetch the gather this many stored entries ahead: the lateral links make it a scattered
 * read, and the hardware prefetcher cannot guess it (measured: about 1.5x on the products). */
#define AHEAD 64

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
 * serial scatter (np.bincount's: ascending position); empty: the serial scatter. */
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
    int nt = team(n);
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#pragma omp for schedule(dynamic, 1)
        for (Py_ssize_t blk = 0; blk < nb; blk++) {  /* Ē/E_ref per node (0 before any fast tick) */
            Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
            for (Py_ssize_t i = lo; i < hi; i++) x[i] = wt ? es[i] / (double)wt / E_ref : 0.0;
        }
#pragma omp for schedule(dynamic, 1)
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
                }
            }
            p[4 * blk] = Wb;
            p[4 * blk + 1] = wb;
            p[4 * blk + 2] = Wa;
            p[4 * blk + 3] = wa;
        }
        if (learn && scaling && rev) {  /* each source's outgoing sum, gathered from its reverse edges */
#pragma omp for schedule(dynamic, 1)
            for (Py_ssize_t blk = 0; blk < nb; blk++) {
                Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
                for (Py_ssize_t j = lo; j < hi; j++) {
                    double o = 0.0;
                    for (int32_t k = ip[j]; k < ip[j + 1]; k++) {
                        if (k + AHEAD < nnz) __builtin_prefetch(W + rev[k + AHEAD]);
                        o += W[rev[k]];
                    }
                    out[j] = o;
                }
            }
        } else if (learn && scaling) {
#pragma omp single
            {  /* each source's outgoing sum, in stored order like np.bincount */
                memset(out, 0, n * sizeof(double));
                for (Py_ssize_t k = 0; k < nnz; k++) out[ix[k]] += W[k];
            }
        }
        if (learn && scaling) {
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
    Py_RETURN_NONE;
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
static inline double neg_entropy(const double *q, Py_ssize_t M) {
    double neg = 0.0;
    for (Py_ssize_t m = 0; m < M; m++)
        if (q[m] > 0.0) neg += q[m] * log(q[m]);
    return neg;
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
 * node whose q this call set (leaves 1 or 2) and of every alive internal node, for D_KL in persist. */
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
    int nt = team(n);
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        if (leaves) {
#pragma omp for schedule(dynamic, 1)
            for (Py_ssize_t blk = 0; blk < nb; blk++) {
                Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
                for (Py_ssize_t i = lo; i < hi; i++)
                    if (nc[i] == 0 && a[i])
                        ne[i] = leaves == 1 ? softmax_row(z + i * M, q + i * M, M, tau) : neg_entropy(q + i * M, M);
            }
        }
        for (Py_ssize_t d = L - 2; d >= 0; d--) {
            Py_ssize_t lo = ls[d], hi = ls[d + 1];
#pragma omp for schedule(dynamic, 256)
            for (Py_ssize_t i = lo; i < hi; i++) {
                if (nc[i] == 0 || !a[i]) continue;
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
            }
        }
    }
    Py_END_ALLOW_THREADS
    bufs_release(&B);
    Py_RETURN_NONE;
}

/* persist(level_start, parent, first_child, n_children, alive, q, theta, dkl, received_sum, income, baseline, R,
 *         pressure, M, window_ticks, first, income_ema, baseline_ema, scale_baseline, surplus, coupling, beta,
 *         eta, kappa, neg_entropy)
 * The persistence law after the observation (5.4), for the alive nodes: income EMA, baseline (peers at the
 * same depth, or self), D_KL(q‖softmax θ), then top-down R and pressure from the parent's new values and the
 * children's previous R, and the learning step of θ; one pass per depth, no temporaries.
 * neg_entropy: Σ q ln q of every alive node, as observe leaves it (so D_KL = Σ q ln q − Σ q ln p needs no
 * log of q). */
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
    int nt = team(n * COMPUTE_BOUND); /* a softmax, a log and roots per node: threads pay sooner */
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
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    for (Py_ssize_t d = 0; d < L; d++) {
#pragma omp for schedule(dynamic, 1024)
        for (Py_ssize_t i = ls[d]; i < ls[d + 1]; i++) {
            double p[MAX_M];
            const double *qi = q + i * M;
            double *ti = th + i * M;
            int live = a[i];
            if (live) {
                double meas = by_scale ? peer[d] : inc[i];
                base[i] = first ? meas : (1.0 - b_base) * base[i] + b_base * meas;
            }
            double energy_in = surplus * (base[i] > 0.0 ? inc[i] / base[i] : 1.0);
            /* p = softmax θ; ln p_m = θ_m − max − ln Σ (one log, not M), ε-floored like the reference */
            double mx = ti[0], sum = 0.0;
            for (Py_ssize_t m = 1; m < M; m++) mx = ti[m] > mx ? ti[m] : mx;
            for (Py_ssize_t m = 0; m < M; m++) sum += p[m] = exp(ti[m] - mx);
            double log_sum = log(sum);
            for (Py_ssize_t m = 0; m < M; m++) p[m] /= sum;
            if (live) {
                double cross = 0.0; /* Σ q ln p, p ε-floored like the reference */
                for (Py_ssize_t m = 0; m < M; m++)
                    if (qi[m] > 0.0) cross += qi[m] * (p[m] > 1e-12 ? ti[m] - mx - log_sum : LOG_EPS);
                double kl = ne[i] - cross;
                dkl[i] = kl > 0.0 ? kl : 0.0;
            }
            double r_sum = 0.0, r_cnt = 0.0;
            for (int64_t c = fc[i]; c < fc[i] + nc[i]; c++)
                if (a[c]) {
                    r_sum += R[c];
                    r_cnt += 1.0;
                }
            double r_children = r_cnt > 0.0 ? r_sum / r_cnt : 1.0, r_parent = 1.0, p_parent = 0.0;
            if (d > 0 && a[par[i]]) {
                r_parent = R[par[i]];
                p_parent = pr[par[i]];
            }
            if (!live) continue;
            double x = r_parent * r_children;  /* x^(ν/2); ν = 0.5 (the default) by two square roots */
            double r_new = energy_in * (half_nu == 0.25 ? sqrt(sqrt(x)) : pow(x, half_nu)) / (1.0 + dkl[i]);
            R[i] = r_new;
            pr[i] = (1.0 - r_new > 0.0 ? 1.0 - r_new : 0.0) + beta * p_parent;
            double rate = eta * (1.0 + kappa * pr[i]);
            for (Py_ssize_t m = 0; m < M; m++) ti[m] -= rate * (p[m] - qi[m]);
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(peer);
    bufs_release(&B);
    Py_RETURN_NONE;
}

/* coherence(level_start, parent, first_child, n_children, alive, w, x, gamma, C, g, lam, child_weight, target, eta)
 * Coherence backpropagation (5.3) after the inputs x: forward bottom-up (g, C and Σ w over alive children),
 * the adjoint λ top-down from the current γ, then the γ step of internal nodes; one pass per depth. */
static PyObject *coherence(PyObject *self, PyObject *args) {
    Bufs B = {.n = 0};
    if (!arg_count(args, 14, "coherence")) return NULL;
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
    if (!cw || PyErr_Occurred() || !ends_at(ls, L, n)) {
        bufs_release(&B);
        return NULL;
    }
    int nt = team(n);
    Py_ssize_t nb = n_blocks(n);
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        for (Py_ssize_t d = L - 1; d >= 0; d--) { /* forward, bottom-up */
#pragma omp for schedule(dynamic, 1024)
            for (Py_ssize_t i = ls[d]; i < ls[d + 1]; i++) {
                double num = 0.0, den = 0.0;
                for (int64_t c = fc[i]; c < fc[i] + nc[i]; c++) {
                    double lw = a[c] ? w[c] : 0.0;
                    num += lw * C[c];
                    den += lw;
                }
                den = a[i] ? den : 0.0;
                g[i] = den > 0.0 ? num / den : 0.0;
                C[i] = den > 0.0 ? tanh(gam[i] * g[i]) : a[i] ? x[i] : 0.0;
                cw[i] = den;
            }
        }
#pragma omp single
        lam[0] = a[0] ? 2.0 * (C[0] - target) : 0.0;
        for (Py_ssize_t d = 1; d < L; d++) { /* adjoint, top-down, from the current γ */
#pragma omp for schedule(dynamic, 1024)
            for (Py_ssize_t i = ls[d]; i < ls[d + 1]; i++) {
                int64_t p = par[i];
                double sent = lam[p] * gam[p] * (1.0 - C[p] * C[p]), den = cw[p];
                lam[i] = a[0] ? sent * (den > 0.0 ? (a[i] ? w[i] : 0.0) / den : 0.0) : 0.0;
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (Py_ssize_t blk = 0; blk < nb; blk++) { /* learning: internal nodes with alive children */
            Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
            for (Py_ssize_t i = lo; i < hi; i++) {
                if (!(cw[i] > 0.0)) continue;
                double v = gam[i] - eta * lam[i] * (1.0 - C[i] * C[i]) * g[i];
                gam[i] = v < 0.0 ? 0.0 : v > 10.0 ? 10.0 : v;
            }
        }
    }
    Py_END_ALLOW_THREADS
    bufs_release(&B);
    Py_RETURN_NONE;
}

/* level_sums(level_start, alive, out, x_0, x_1, ...)
 * out[d, 0] = alive nodes at depth d, out[d, 1 + k] = Σ x_k over them, summed in node order (the order of
 * np.bincount, so the same bits as the numpy per-scale means). One pass per array, no temporaries. */
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
    int nt = team(n * K / 4);
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 1) collapse(2)
    for (Py_ssize_t k = -1; k < K; k++)
        for (Py_ssize_t d = 0; d < L; d++) {
            double s = 0.0;
            for (Py_ssize_t i = ls[d]; i < ls[d + 1]; i++)
                if (a[i]) s += k < 0 ? 1.0 : x[k][i];
            out[d * (K + 1) + k + 1] = s;
        }
    Py_END_ALLOW_THREADS
    bufs_release(&B);
    Py_RETURN_NONE;
}

/* median(x, alive) -> float or None
 * The median of x over the alive entries, the value np.median gives (the middle item, or the mean of the
 * two middle items), NaN when an alive item is NaN or none is alive; None (the caller falls back to
 * np.median) when an item is infinite. No copy of x and no full selection: a pass for the range, then
 * histograms of the items inside a window of values that holds the middle ranks, each narrowing the
 * window to the bins holding them (bounded by those bins' smallest and largest items, so membership
 * is decided by comparing values, exactly), until it holds at most MEDIAN_PICK items; those are copied
 * and the middle ranks selected among them. */
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
    Py_ssize_t r1 = k1 - below;
    *v1 = *v2 = select_kth(pick, inside, r1);
    if (k2 != k1) { /* the next rank: the smallest item right of the r1-th */
        *v2 = pick[r1 + 1];
        for (Py_ssize_t r = r1 + 2; r < inside; r++) *v2 = pick[r] < *v2 ? pick[r] : *v2;
    }
    free(pick);
    return 1;
}

static PyObject *median(PyObject *self, PyObject *args) {
    Py_buffer xb = {0}, ab = {0};
    Py_buffer *all[] = {&xb, &ab};
    if (!PyArg_ParseTuple(args, "y*y*", &xb, &ab)) {
        release(all, 2);
        return NULL;
    }
    Py_ssize_t n = xb.len / 8;
    if (!(check(&xb, "x", 8, n) && check(&ab, "alive", 1, n))) {
        release(all, 2);
        return NULL;
    }
    const double *x = xb.buf;
    const uint8_t *a = ab.buf;
    double lo = INFINITY, hi = -INFINITY, result = NAN;
    Py_ssize_t count = 0;
    int handled = 1, nan = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!a[i]) continue;
        double v = x[i];
        if (v != v) nan = 1;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        count++;
    }
    if (nan || count == 0) {
        result = NAN;
    } else if (isinf(lo) || isinf(hi)) {
        handled = 0;
    } else {
        Py_ssize_t k1 = (count - 1) / 2, k2 = count / 2; /* the middle ranks (equal when count is odd) */
        double v1, v2;
        if (middle_ranks(x, a, n, lo, hi, 0, count, k1, k2, &v1, &v2))
            result = k1 == k2 ? v1 : (v1 + v2) / 2.0; /* numpy's arithmetic, overflow included */
        else
            handled = 0;
    }
    Py_END_ALLOW_THREADS
    release(all, 2);
    if (!handled) Py_RETURN_NONE;
    return PyFloat_FromDouble(result);
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
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "BLOCK", BLOCK) < 0 || PyModule_AddIntConstant(m, "RET_TYPES", RET_TYPES) < 0 ||
              PyModule_AddIntConstant(m, "API_VERSION", API_VERSION) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
