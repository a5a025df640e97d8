/*
 * plot.h: DIR/loss.svg, the training run's loss curves as a picture any
 * browser shows, written from log.csv's rows (rundir.h's History).
 */
#ifndef GPT2C_PLOT_H
#define GPT2C_PLOT_H

#include "rundir.h"

/* Train loss as a thin line, validation loss as a thicker line with dots,
 * against the step; written atomically. */
void write_loss_svg(const History *h, const char *dir);

#endif
