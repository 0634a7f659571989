/* Verilog export of an integer model (doc/hardware.md): RTL rendered from hdl_templates/, the ROM
 * contents, a self-checking testbench with input and expected-output vectors from the integer model, a
 * script that runs Icarus Verilog, a Yosys script and a manifest. The directory is written under a
 * temporary name and renamed into place; an existing directory is replaced only when it is an earlier
 * export (its manifest says so) or empty. */
#ifndef MPQX_EXPORT_H
#define MPQX_EXPORT_H

#include <stdbool.h>

#include "mpqx/config.h"
#include "mpqx/dataset.h"
#include "mpqx/device.h"
#include "mpqx/err.h"
#include "mpqx/quant.h"

#define MPQX_EXPORT_WINDOWS 32 /* test windows when not told */

struct mpqx_export_opts {
	const char *templates;   /* the hdl_templates directory; NULL: export_templates_dir() */
	int windows;             /* first test windows to simulate, at least 1; more than exist: all */
	const char *config_path; /* recorded in the manifest; NULL: the defaults */
	const char *prefix;      /* module name prefix, NULL: "mpqx_" */
	const struct mpqx_device *device; /* its family picks the storage rules, the RAM variants and the
					     synthesis script (synth_ice40 or synth_xilinx); NULL: xc7 */
};

struct mpqx_export_info {
	int windows;     /* written, after clipping to the test split */
	int files;       /* files written */
	long cycles;     /* cycles of one window (hw_cycles) */
	char top[128];   /* top module */
};

/* Writes the export of q (built from config c on the dataset d) into dir. */
int export_write(const char *dir, const struct mpqx_qmodel *q, const struct mpqx_config *c,
		 const struct mpqx_dataset *d, const struct mpqx_export_opts *o, struct mpqx_export_info *info,
		 struct mpqx_err *err);

/* The simulators an export runs its testbench in; Icarus is the reference. */
enum mpqx_simulator {
	MPQX_SIM_ICARUS,    /* run_sim.sh: iverilog and vvp */
	MPQX_SIM_VERILATOR, /* run_sim_verilator.sh: Verilator 5 builds the same testbench */
};

/* "icarus" or "verilator": a static string. */
const char *export_simulator_name(enum mpqx_simulator s);

/* Sets *s from its name; -1 for a name that is none of them. */
int export_simulator_parse(const char *name, enum mpqx_simulator *s);

struct mpqx_sim_result {
	enum mpqx_simulator simulator;
	bool have_result;     /* the testbench printed its RESULT line */
	int status;           /* exit status of the simulation script */
	int windows, mismatches;
	long cycles;          /* simulated, per window */
	long expected_cycles; /* hw_cycles, from the manifest */
	char result[160];     /* the RESULT line */
	char log[4200];       /* path of the simulation's log */
	/* Buffers against the integer model (sim/dump.txt against vec/layers.txt). */
	bool dump_complete;   /* every window of every buffer was dumped */
	bool diverged;        /* some buffer differs */
	char layer[64];       /* the earliest layer (graph order) that differs */
	int window;           /* its first window that differs */
	long index;           /* the first index that differs in that window */
	long got, want;       /* simulated and integer-model values */
	char got_text[24];    /* the simulated value as dumped ("x" when undefined) */
};

/* Runs dir/run_sim.sh (iverilog, vvp) with its output in dir/sim/sim.log, reads the RESULT line and
 * compares every dumped buffer with the integer model. Returns MPQX_OK when the simulation ran to its
 * RESULT line (whatever the result: see r), an error when it could not run. */
int export_simulate(const char *dir, struct mpqx_sim_result *r, struct mpqx_err *err);

/* export_simulate in the simulator sim: dir/run_sim.sh (Icarus) or dir/run_sim_verilator.sh (Verilator,
 * which builds the simulator into dir/sim/verilator first). The same RESULT line, dump and checks. */
int export_simulate_with(const char *dir, enum mpqx_simulator sim, struct mpqx_sim_result *r,
			 struct mpqx_err *err);

/* true when the simulation matched: no mismatch, no differing buffer, the cycles as computed. */
bool export_sim_ok(const struct mpqx_sim_result *r);

/* One line describing the first differing buffer (empty when none) into buf. */
void export_sim_divergence(const struct mpqx_sim_result *r, char *buf, size_t size);

/* Yosys commands of synth_ice40's coarse step without ice40_dsp, as the exported synth.ys runs them
 * between `synth_ice40 -dsp -run begin:coarse` and `-run map_ram:` (doc/hardware.md, "iCE40"). */
extern const char export_ice40_coarse[];

/* The templates directory: $MPQX_DATA_DIR/hdl_templates, the source tree's, or the installed one. */
const char *export_templates_dir(void);

struct mpqx_session;

/* ---- the explorer's export, in the background ---- */

struct mpqx_export_job;

enum mpqx_export_phase {
	MPQX_XP_WRITE,    /* building the integer model and writing the files */
	MPQX_XP_SIM,      /* iverilog and vvp run; done counts the simulated windows */
	MPQX_XP_DONE,     /* finished: rc says how */
};

/* A snapshot of a job. */
struct mpqx_export_progress {
	enum mpqx_export_phase phase;
	int done, total;   /* windows simulated and to simulate */
	double elapsed_s;  /* since the start */
	double left_s;     /* estimated time to the end of the simulation, < 0 while unknown */
	bool cancelled;    /* ended by export_job_cancel: nothing was left behind */
	int rc;            /* when DONE: MPQX_OK, or the error in msg */
	char result[256];  /* when DONE: the RESULT line, or a summary of a run without simulation */
	char msg[MPQX_ERR_LEN];
};

/* Starts exporting config c of session s into dir on a thread of its own: the integer model is built
 * from c (the session may change meanwhile; its model, data and float reference must outlive the job),
 * the files are written into a temporary sibling of dir, simulated there as a child process group when
 * sim, and renamed into place at the end, replacing only an earlier export or an empty directory. dir is
 * checked before the job starts. The caller owns *out (export_job_free). */
int export_job_start(const struct mpqx_session *s, const struct mpqx_config *c, const char *dir, int windows,
		     bool sim, struct mpqx_export_job **out, struct mpqx_err *err);

/* The job's state now (any thread). */
void export_job_progress(struct mpqx_export_job *j, struct mpqx_export_progress *p);

/* Asks the job to stop: the simulation's process group is killed and the temporary directory removed;
 * the destination is left as it was. Returns at once; the job reaches DONE shortly after. */
void export_job_cancel(struct mpqx_export_job *j);

/* Waits for the job to end. */
void export_job_wait(struct mpqx_export_job *j);

/* Cancels a running job, waits for it and frees it; NULL is a no-op. */
void export_job_free(struct mpqx_export_job *j);

#endif
