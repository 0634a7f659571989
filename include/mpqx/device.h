/* FPGA device capacities (devices/NAME.ini) and the family's estimator coefficients
 * (devices/FAMILY-cost.ini). */
#ifndef MPQX_DEVICE_H
#define MPQX_DEVICE_H

#include "mpqx/err.h"

struct mpqx_device {
	char name[64];
	char family[32];
	long lut, lutram, ff, bram18, dsp;
	double clock_mhz;
};

/* Loads a device by name (looked up as DIR/NAME.ini) or by a path ending in .ini. Errors name the file
 * and line. */
int device_load(const char *dir, const char *name_or_path, struct mpqx_device *d, struct mpqx_err *err);

/* Lists the device names of dir (NAME.ini files other than *-cost.ini), sorted, into names. Returns the
 * count (at most max). */
int device_list(const char *dir, char (*names)[64], int max);

#endif
