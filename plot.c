/*
 * plot.c: loss.svg (see plot.h). Plain SVG text: axes with five grid lines,
 * scaled to the steps and losses so far, then one polyline per curve.
 */
#include "plot.h"

#include <math.h>
#include <stdio.h>

#include "common.h"

void write_loss_svg(const History *h, const char *dir) {
    const double W = 720, H = 420, left = 60, right = 20, top = 30, bottom = 50;
    double xmax = 1, ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < h->n; i++) {
        const HistoryRow *r = &h->rows[i];
        if (r->step > xmax) xmax = r->step;
        float ys[2] = {r->train, r->val};
        for (int k = 0; k < 2; k++)
            if (!isnan(ys[k])) { ymin = fmin(ymin, ys[k]); ymax = fmax(ymax, ys[k]); }
    }
    if (!(ymax >= ymin)) { ymin = 0; ymax = 1; }
    if (ymax - ymin < 1e-3) { ymin -= 0.5; ymax += 0.5; }
    double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;
#define PX(s) (left + (W - left - right) * (double)(s) / xmax)
#define PY(y) (top + (H - top - bottom) * (1.0 - ((y) - ymin) / (ymax - ymin)))
    char path[1200];
    snprintf(path, sizeof path, "%s/loss.svg", dir);
    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    for (int k = 0; k <= 5; k++) { /* grid and axis labels */
        double y = ymin + (ymax - ymin) * k / 5, x = xmax * k / 5;
        fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, PY(y), W - right, PY(y));
        fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", left - 5, PY(y) + 4, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%.0f</text>\n", PX(x), H - bottom + 18, x);
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">step</text>\n", (left + W - right) / 2, H - 10);
    fprintf(f, "<text x=\"%g\" y=\"18\">loss: <tspan fill=\"#1f77b4\">train</tspan>, "
               "<tspan fill=\"#d62728\">validation</tspan></text>\n", left);
    const char *colors[2] = {"#1f77b4", "#d62728"};
    for (int k = 0; k < 2; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%d\" points=\"", colors[k], k ? 2 : 1);
        for (size_t i = 0; i < h->n; i++) {
            float y = k ? h->rows[i].val : h->rows[i].train;
            if (!isnan(y)) fprintf(f, "%.1f,%.1f ", PX(h->rows[i].step), PY(y));
        }
        fprintf(f, "\"/>\n");
    }
    for (size_t i = 0; i < h->n; i++)
        if (!isnan(h->rows[i].val))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(h->rows[i].step),
                    PY(h->rows[i].val), colors[1]);
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    atomic_commit(&af);
}
