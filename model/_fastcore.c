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
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BLOCK 4096
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
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for schedule(static, 1)
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

/* spread_decay_power(indptr, indices, data, ev, inv_norm, E, alive, ret, node_type, n_types,
 *                    alpha, floor, E_max, active_threshold, av_out, received_sum, E_sum, partials) */
static PyObject *spread_decay_power(PyObject *self, PyObject *args) {
    Py_buffer ptr = {0}, idx = {0}, dat = {0}, ev = {0}, E = {0}, alive = {0}, ret = {0}, typ = {0}, avo = {0},
              rec = {0}, esum = {0}, part = {0};
    Py_buffer *all[] = {&ptr, &idx, &dat, &ev, &E, &alive, &ret, &typ, &avo, &rec, &esum, &part};
    double inv_norm, alpha, floor_, E_max, thr;
    int n_types;
    if (!PyArg_ParseTuple(args, "y*y*y*y*dw*y*y*y*iddddw*w*w*w*", &ptr, &idx, &dat, &ev, &inv_norm, &E, &alive, &ret,
                          &typ, &n_types, &alpha, &floor_, &E_max, &thr, &avo, &rec, &esum, &part)) {
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
          check(&ret, "ret", 8, n) && check(&typ, "node_type", 1, n) && check(&avo, "av_out", 8, n) &&
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
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for schedule(static, 1)
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
            ei *= rt[i];
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
            double o = a[i] ? (w * inv_norm * alpha + x[2 * i + 1] * inv_norm) * rt[i] : 0.0;
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

/* power_step(indptr, indices, data, av, inv_norm, alive, ret, alpha, av_out, partials) */
static PyObject *power_step(PyObject *self, PyObject *args) {
    Py_buffer ptr = {0}, idx = {0}, dat = {0}, avb = {0}, alive = {0}, ret = {0}, avo = {0}, part = {0};
    Py_buffer *all[] = {&ptr, &idx, &dat, &avb, &alive, &ret, &avo, &part};
    double inv_norm, alpha;
    if (!PyArg_ParseTuple(args, "y*y*y*y*dy*y*dw*w*", &ptr, &idx, &dat, &avb, &inv_norm, &alive, &ret, &alpha, &avo,
                          &part)) {
        release(all, 8);
        return NULL;
    }
    Py_ssize_t n = avb.len / 8, nb = n_blocks(n), nnz = idx.len / 4;
    if (!(check(&ptr, "indptr", 4, n + 1) && check(&idx, "indices", 4, nnz) && check(&dat, "data", 8, nnz) &&
          check(&alive, "alive", 1, n) && check(&ret, "ret", 8, n) && check(&avo, "av_out", 8, n) &&
          check(&part, "partials", 8, nb))) {
        release(all, 8);
        return NULL;
    }
    if (avb.buf == avo.buf) {
        release(all, 8);
        PyErr_SetString(PyExc_ValueError, "av and av_out must be different arrays");
        return NULL;
    }
    const int32_t *restrict ip = ptr.buf, *restrict ix = idx.buf;
    const double *restrict d = dat.buf, *restrict v = avb.buf, *restrict rt = ret.buf;
    const uint8_t *restrict a = alive.buf;
    double *restrict out = avo.buf, *restrict p = part.buf;
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for schedule(static, 1)
    for (Py_ssize_t blk = 0; blk < nb; blk++) {
        Py_ssize_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
        double sq = 0.0;
        for (Py_ssize_t i = lo; i < hi; i++) {
            double w = 0.0;
            for (int32_t k = ip[i]; k < ip[i + 1]; k++) {
                if (k + AHEAD < nnz) __builtin_prefetch(v + ix[k + AHEAD]);
                w += d[k] * v[ix[k]];
            }
            double o = a[i] ? (w * inv_norm * alpha + v[i] * inv_norm) * rt[i] : 0.0;
            out[i] = o;
            sq += o * o;
        }
        p[blk] = sq;
    }
    Py_END_ALLOW_THREADS
    release(all, 8);
    Py_RETURN_NONE;
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
    {"set_threads", set_threads, METH_VARARGS, "Number of threads of the parallel passes."},
    {"get_threads", get_threads, METH_NOARGS, "Number of threads of the parallel passes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastcore", "Fused parallel passes of the fast tick.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__fastcore(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "BLOCK", BLOCK) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
