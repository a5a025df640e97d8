/*
 * svg.h: the pieces of SVG (and XML) text that every picture of the project
 * writes: loss.svg (plot.c) and inspect's page (tools/inspect.c), which is
 * XHTML with inline SVG. One writer, so every picture is well-formed XML the
 * same way.
 */
#ifndef GPT2C_SVG_H
#define GPT2C_SVG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes s[0..n) (UTF-8) as XML character data or attribute text: & < > " '
 * become entities, and the control characters XML may not hold at all
 * become their visible pictures (U+2400 + c: a newline shows as U+240A). */
void xml_text(FILE *f, const uint8_t *s, size_t n);
/* The same for a NUL-terminated string. */
void xml_str(FILE *f, const char *s);

/* <svg ...> of w x h pixels with the project's font, and its end. */
void svg_open(FILE *f, double w, double h);
void svg_close(FILE *f);

/* Round axis ticks: multiples of 1, 2 or 5 times a power of ten, the finest
 * such step that gives at most max_ticks ticks in [lo, hi]. Writes them to
 * ticks[] (room for max_ticks) and returns how many. */
int svg_nice_ticks(double lo, double hi, int max_ticks, double *ticks);

/* A chart's plotting area: where it sits on the page (pixels) and the data
 * ranges it shows, so svg_x/svg_y map data to pixels. */
typedef struct {
    double left, top, width, height; /* pixels */
    double x0, x1, y0, y1;           /* data: x0 at the left edge, y0 at the bottom */
} SvgPanel;
double svg_x(const SvgPanel *p, double x);
double svg_y(const SvgPanel *p, double y);
/* Grid lines and tick labels at round 1-2-5 values on both axes, the axis
 * labels (UTF-8 text) under and beside the area, and a frame. */
void svg_axes(FILE *f, const SvgPanel *p, const char *xlabel, const char *ylabel);
/* A polyline through the points (xs[i], ys[i]) that are not NAN. */
void svg_line(FILE *f, const SvgPanel *p, const double *xs, const double *ys, size_t n, const char *color,
              double width, double opacity);

/* A heat map of rows x cols values in [0, 1] (row-major, `stride` floats a
 * row) with its top-left corner at (x, y), `cell` pixels a cell: each value
 * is shaded in `color` at one of 16 opacities, and all cells of one shade
 * are one <path>, so a map costs ~12 bytes a visible cell. Values below
 * 1/32 are not drawn. */
void svg_heatmap(FILE *f, const float *values, size_t stride, int rows, int cols, double x, double y, double cell,
                 const char *color);

#endif
