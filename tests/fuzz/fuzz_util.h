/* Shared by the fuzz harnesses: the loaders read files, so each input is written to a scratch file first.
 * Both the libFuzzer build (tools/fuzz.sh) and the plain replay build (replay_main.c) include this. */
#ifndef MPQX_FUZZ_UTIL_H
#define MPQX_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A private scratch file name ending in suffix, made once per process (in /dev/shm when it exists: the
 * harnesses write every input). The file is removed at exit. */
static char fuzz_path_buf[4][256];

static inline void fuzz_cleanup(void)
{
	for (int i = 0; i < 4; i++)
		if (fuzz_path_buf[i][0])
			unlink(fuzz_path_buf[i]);
}

static inline const char *fuzz_scratch(int slot, const char *suffix)
{
	if (!fuzz_path_buf[slot][0]) {
		const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		snprintf(fuzz_path_buf[slot], sizeof fuzz_path_buf[slot], "%s/mpqx-fuzz-%ld-%d%s", dir, (long)getpid(), slot,
			 suffix);
		static int registered;
		if (!registered++)
			atexit(fuzz_cleanup);
	}
	return fuzz_path_buf[slot];
}

/* Writes data to the scratch file of slot; aborts when the system refuses (not an input problem). */
static inline const char *fuzz_write(int slot, const char *suffix, const uint8_t *data, size_t size)
{
	const char *p = fuzz_scratch(slot, suffix);
	FILE *f = fopen(p, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
		perror(p);
		abort();
	}
	return p;
}

/* An error message must name the file it is about (DESIGN.md, "File formats"). */
static inline void fuzz_check_msg(const char *msg, const char *file)
{
	if (!strstr(msg, file)) {
		fprintf(stderr, "error message does not name the file %s: %s\n", file, msg);
		abort();
	}
}

#endif
