/* Fuzzes the device ini loader (devices/NAME.ini). */
#include "fuzz_util.h"
#include "mpqx/device.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write(0, ".ini", data, size);
	struct mpqx_device d;
	struct mpqx_err err = {0};
	int rc = device_load(NULL, path, &d, &err);
	if (rc) {
		if (rc != MPQX_EINPUT && rc != MPQX_ENOMEM)
			abort();
		fuzz_check_msg(err.msg, path);
		return 0;
	}
	if (!d.name[0] || !d.family[0] || d.lut < 0 || d.lutram > d.lut || d.ff < 0 || d.bram18 < 0 || d.dsp < 0 ||
	    !(d.clock_mhz > 0))
		abort();
	return 0;
}
