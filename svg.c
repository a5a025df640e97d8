/*
 * svg.c: see svg.h.
 */
#include "svg.h"

#include <math.h>
#include <string.h>

void xml_text(FILE *f, const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* XML 1.0 forbids C0 controls (even as &#N;) and a token may be
             * one, so show its Control Pictures glyph; DEL has one too */
            if (c < 0x20) fprintf(f, "&#x%X;", 0x2400 + c);
            else if (c == 0x7f) fputs("&#x2421;", f);
            else fputc(c, f);
        }
    }
}

void xml_str(FILE *f, const char *s) { xml_text(f, (const uint8_t *)s, strlen(s)); }

void svg_open(FILE *f, double w, double h) {
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", w, h, w, h);
}

void svg_close(FILE *f) { fputs("</svg>\n", f); }

int svg_nice_ticks(double lo, double hi, int max_ticks, double *ticks) {
    if (!(hi > lo) || max_ticks < 2) {
        ticks[0] = lo;
        return 1;
    }
    /* the smallest step 10^e * {1,2,5} whose ticks fit: start one decade
     * below range/max_ticks and walk up */
    double base = pow(10.0, floor(log10((hi - lo) / max_ticks)) - 1);
    static const double mult[3] = {1, 2, 5};
    for (int k = 0;; k++) {
        double step = base * mult[k % 3] * pow(10.0, k / 3);
        double first = ceil(lo / step - 1e-9) * step;
        int n = (int)floor((hi - first) / step + 1e-9) + 1;
        if (n <= max_ticks) {
            for (int i = 0; i < n; i++) {
                ticks[i] = first + i * step;
                if (fabs(ticks[i]) < 1e-12 * step) ticks[i] = 0; /* no "-0" or 1e-17 */
            }
            return n;
        }
    }
}

double svg_x(const SvgPanel *p, double x) { return p->left + p->width * (x - p->x0) / (p->x1 - p->x0); }
double svg_y(const SvgPanel *p, double y) { return p->top + p->height * (1.0 - (y - p->y0) / (p->y1 - p->y0)); }

void svg_axes(FILE *f, const SvgPanel *p, const char *xlabel, const char *ylabel) {
    double ticks[12];
    int n = svg_nice_ticks(p->y0, p->y1, p->height > 150 ? 8 : 4, ticks);
    for (int i = 0; i < n; i++) {
        double y = svg_y(p, ticks[i]);
        fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>", p->left, y,
                p->left + p->width, y);
        fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", p->left - 5, y + 4, ticks[i]);
    }
    n = svg_nice_ticks(p->x0, p->x1, 8, ticks);
    for (int i = 0; i < n; i++) {
        double x = svg_x(p, ticks[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#e4e4e4\"/>", x, p->top, x,
                p->top + p->height);
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%g</text>\n", x, p->top + p->height + 15,
                ticks[i]);
    }
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#888\"/>\n", p->left,
            p->top, p->width, p->height);
    if (xlabel && *xlabel) {
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">", p->left + p->width / 2, p->top + p->height + 32);
        xml_str(f, xlabel);
        fputs("</text>\n", f);
    }
    fprintf(f, "<text text-anchor=\"middle\" transform=\"translate(%g %g) rotate(-90)\">", p->left - 42,
            p->top + p->height / 2);
    xml_str(f, ylabel);
    fputs("</text>\n", f);
}

void svg_line(FILE *f, const SvgPanel *p, const double *xs, const double *ys, size_t n, const char *color,
              double width, double opacity) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%g\" stroke-opacity=\"%g\" points=\"", color,
            width, opacity);
    for (size_t i = 0; i < n; i++)
        if (!isnan(ys[i])) fprintf(f, "%.1f,%.1f ", svg_x(p, xs[i]), svg_y(p, ys[i]));
    fputs("\"/>\n", f);
}

#define SHADES 16

void svg_heatmap(FILE *f, const float *values, size_t stride, int rows, int cols, double x, double y, double cell,
                 const char *color) {
    fprintf(f, "<g transform=\"translate(%g %g) scale(%g)\" fill=\"%s\">", x, y, cell, color);
    for (int shade = 1; shade <= SHADES; shade++) {
        int opened = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float v = values[(size_t)r * stride + c];
                int s = (int)lrintf(fminf(fmaxf(v, 0.0f), 1.0f) * SHADES); /* 0..16; 0: below 1/32 */
                if (s != shade) continue;
                if (!opened) fprintf(f, "<path fill-opacity=\"%.4g\" d=\"", (double)shade / SHADES);
                opened = 1;
                fprintf(f, "M%d %dh1v1h-1z", c, r);
            }
        if (opened) fputs("\"/>", f);
    }
    fputs("</g>\n", f);
}
