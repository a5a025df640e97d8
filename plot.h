/*
 * plot.h: DIR/loss.svg, the training run's loss curves as a picture any
 * browser shows, written from log.csv's rows (rundir.h's History), and
 * DIR/updates.svg from updates.csv's (updates.h).
 */
#ifndef GPT2C_PLOT_H
#define GPT2C_PLOT_H

#include "rundir.h"
#include "updates.h"

/* Train loss faint with its moving average over it, validation loss as a
 * line with dots, against the step; under it the gradient norm. Round 1-2-5
 * ticks, labelled axes; written atomically. */
void write_loss_svg(const History *h, const char *dir);
/* DIR/updates.svg: the update-to-weight ratios against the step, one colour
 * per tensor kind, layers shaded from light (first) to dark (last), over the
 * rule-of-thumb band around -3; written atomically. */
void write_updates_svg(const UpdateLog *log, int L, const char *dir);

#endif
