/*
 * plot.c: loss.svg and updates.svg (see plot.h), drawn with svg.c's panels:
 * the losses against the step with the gradient norm under them, and the
 * update-to-weight ratios.
 */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "svg.h"

#define SMOOTHING 0.9 /* the exponential moving average's weight on the past */

/* The smallest and largest of the values that are not NAN, widened by 5%
 * each side (and to a unit range if they are all equal or there are none). */
static void data_range(const double *v, size_t n, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) { *lo = fmin(*lo, v[i]); *hi = fmax(*hi, v[i]); }
    if (!(*hi >= *lo)) { *lo = 0; *hi = 1; }
    if (*hi - *lo < 1e-6) { *lo -= 0.5; *hi += 0.5; }
    double pad = 0.05 * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
}

/* s_i = SMOOTHING s_{i-1} + (1 - SMOOTHING) x_i from s = 0, divided by
 * 1 - SMOOTHING^i so the first points are not pulled toward 0 (the
 * debiasing Adam uses for its moments). NAN entries are passed over. */
static void smooth(const double *x, double *s, size_t n) {
    double avg = 0, weight = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i])) { s[i] = NAN; continue; }
        avg = SMOOTHING * avg + (1 - SMOOTHING) * x[i];
        weight = SMOOTHING * weight + (1 - SMOOTHING);
        s[i] = avg / weight;
    }
}

void write_loss_svg(const History *h, const char *dir) {
    size_t n = h->n;
    double *step = xmalloc((n + 1) * 5 * sizeof(double), "loss plot");
    double *train = step + n + 1, *smoothed = train + n + 1, *val = smoothed + n + 1, *norm = val + n + 1;
    double xmax = 1;
    for (size_t i = 0; i < n; i++) {
        const HistoryRow *r = &h->rows[i];
        step[i] = r->step;
        train[i] = r->train;
        val[i] = r->val;
        norm[i] = r->grad_norm;
        xmax = fmax(xmax, r->step);
    }
    smooth(train, smoothed, n);
    double lo, hi, vlo, vhi, nlo, nhi;
    data_range(train, n, &lo, &hi);
    data_range(val, n, &vlo, &vhi);
    if (n && !isnan(vlo)) { lo = fmin(lo, vlo); hi = fmax(hi, vhi); }
    data_range(norm, n, &nlo, &nhi);
    SvgPanel loss = {.left = 70, .top = 40, .width = 670, .height = 300, .x0 = 0, .x1 = xmax, .y0 = lo, .y1 = hi};
    SvgPanel gn = {.left = 70, .top = 410, .width = 670, .height = 110, .x0 = 0, .x1 = xmax, .y0 = fmax(0, nlo), .y1 = nhi};

    char path[1200];
    snprintf(path, sizeof path, "%s/loss.svg", dir);
    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    svg_open(f, 760, 570);
    fputs("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", f);
    fprintf(f, "<text x=\"70\" y=\"16\">loss: <tspan fill=\"#1f77b4\">train</tspan> (faint: every step; line: "
               "moving average, s = %g s + %g x, debiased), <tspan fill=\"#d62728\">validation</tspan></text>\n",
            SMOOTHING, 1 - SMOOTHING);
    svg_axes(f, &loss, "step", "loss (nats per token)");
    svg_line(f, &loss, step, train, n, "#1f77b4", 1, 0.3);
    svg_line(f, &loss, step, smoothed, n, "#1f77b4", 2, 1);
    svg_line(f, &loss, step, val, n, "#d62728", 2, 1);
    for (size_t i = 0; i < n; i++)
        if (!isnan(val[i]))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n", svg_x(&loss, step[i]),
                    svg_y(&loss, val[i]));
    fputs("<text x=\"70\" y=\"400\">gradient norm before clipping</text>\n", f);
    svg_axes(f, &gn, "step", "norm");
    svg_line(f, &gn, step, norm, n, "#2ca02c", 1, 1);
    svg_close(f);
    atomic_commit(&af);
    free(step);
}

/* one colour per parameter tensor, in checkpoint order */
static const char *const TENSOR_COLORS[NUM_PARAM_TENSORS] = {
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
    "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#bcbd22"};

#define RULE_OF_THUMB (-3.0) /* log10 of an update about 1/1000 of the weights */

void write_updates_svg(const UpdateLog *log, int L, const char *dir) {
    size_t n = log->n;
    double *xs = xmalloc((n + 1) * 3 * sizeof(double), "update plot"), *ys = xs + n + 1, *all = ys + n + 1;
    double xmax = 1;
    for (size_t i = 0; i < n; i++) {
        all[i] = log->rows[i].ratio;
        xmax = fmax(xmax, log->rows[i].step);
    }
    double lo, hi;
    data_range(all, n, &lo, &hi);
    lo = fmin(lo, RULE_OF_THUMB - 1);
    hi = fmax(hi, RULE_OF_THUMB + 1);
    SvgPanel p = {.left = 70, .top = 40, .width = 670, .height = 360, .x0 = 0, .x1 = xmax, .y0 = lo, .y1 = hi};

    char path[1200];
    snprintf(path, sizeof path, "%s/updates.svg", dir);
    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    svg_open(f, 760, 520);
    fputs("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
          "<text x=\"70\" y=\"16\">update-to-weight ratio, log10(rms(update) / rms(weight)), at each eval step"
          "</text>\n", f);
    double band_top = svg_y(&p, RULE_OF_THUMB + 0.5), band_bottom = svg_y(&p, RULE_OF_THUMB - 0.5);
    fprintf(f, "<rect x=\"%g\" y=\"%.1f\" width=\"%g\" height=\"%.1f\" fill=\"#e5f5e0\"/>\n", p.left, band_top,
            p.width, band_bottom - band_top);
    fprintf(f, "<text x=\"%g\" y=\"%.1f\" fill=\"#31a354\">rule of thumb: about -3 (a heuristic, not a law)</text>\n",
            p.left + 6, band_top + 13);
    svg_axes(f, &p, "step", "log10 update ratio");
    for (int t = 0; t < NUM_PARAM_TENSORS; t++) {
        int layers = param_is_per_layer(t) ? L : 1;
        for (int l = 0; l < layers; l++) {
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (log->rows[i].tensor == t && log->rows[i].layer == (layers > 1 ? l : -1)) {
                    xs[m] = log->rows[i].step;
                    ys[m++] = log->rows[i].ratio;
                }
            /* the first layer light, the last one full colour */
            double shade = layers > 1 ? 0.3 + 0.7 * l / (layers - 1) : 1;
            if (m) svg_line(f, &p, xs, ys, m, TENSOR_COLORS[t], 1.5, shade);
        }
    }
    for (int t = 0; t < NUM_PARAM_TENSORS; t++) { /* the legend, two rows of eight */
        double x = 70 + 85 * (t % 8), y = 460 + 18 * (t / 8);
        fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"12\" height=\"4\" fill=\"%s\"/><text x=\"%g\" y=\"%g\">%s</text>\n",
                x, y - 4, TENSOR_COLORS[t], x + 16, y, PARAM_TENSOR_NAMES[t]);
    }
    fputs("<text x=\"70\" y=\"510\">per-layer tensors: one line per layer, lighter = earlier layer</text>\n", f);
    svg_close(f);
    atomic_commit(&af);
    free(xs);
}
