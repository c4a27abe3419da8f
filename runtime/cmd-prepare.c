/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime prepare: make sure the template VM for a VM shape exists (runtime/template.h), so the
 * next `create` of that shape restores instead of booting. `create` does the same on its own; this
 * is for doing it ahead of time (install scripts, CI warm-up).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/commands.h"
#include "runtime/guest-paths.h"
#include "runtime/template.h"

static void usage(void)
{
	printf("Usage: sm-runtime prepare [--mem MIB] [--cpus N] [--dax MIB] [--kernel FILE] [--initrd FILE]\n"
	       "Boot and save the template VM of this shape unless it exists (defaults: the shape `create`\n"
	       "uses without annotations: 256 MiB, 1 vCPU, no DAX window). Prints the template's folder.\n");
}

int cmd_prepare(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option longopts[] = {
	    {"mem", required_argument, NULL, 'm'},    {"cpus", required_argument, NULL, 'c'},
	    {"dax", required_argument, NULL, 'd'},    {"kernel", required_argument, NULL, 'k'},
	    {"initrd", required_argument, NULL, 'i'}, {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sm_sandbox_config cfg = {0};
	struct sm_bind_shares padded;
	cleanup_free char *kernel = NULL, *dir = NULL;
	uint64_t mem = 256, cpus = 1, dax = 0, t0 = sm_now_ns();
	const char *initrd = NULL;
	bool booted;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if ((r = sm_parse_u64(optarg, 16, 65536, "--mem", &mem, err)) < 0)
				return r;
			break;
		case 'c':
			if ((r = sm_parse_u64(optarg, 1, 64, "--cpus", &cpus, err)) < 0)
				return r;
			break;
		case 'd':
			if ((r = sm_parse_u64(optarg, 0, 1024, "--dax", &dax, err)) < 0)
				return r;
			break;
		case 'k':
			kernel = sm_xstrdup(optarg);
			break;
		case 'i':
			initrd = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime prepare --help)",
					    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return sm_error_set(err, 0, "unexpected argument `%s`", argv[optind]);
	if (kernel == NULL && (kernel = sm_guest_default_kernel()) == NULL)
		return sm_error_set(err, 0, "no guest kernel: pass --kernel FILE or run `make guest-kernel`");
	if (initrd == NULL && (initrd = sm_guest_default_initrd()) == NULL)
		return sm_error_set(err, 0, "no initramfs: pass --initrd FILE or run `make`");
	cfg.machine = (struct sm_machine_config){.kernel_path = kernel,
						 .initrd_path = initrd,
						 .mem_mib = mem,
						 .ncpus = (unsigned int)cpus,
						 .debug = g->debug,
						 .console_out_fd = -1,
						 .console_in_fd = -1};
	cfg.dax_mib = dax;
	if ((r = sm_template_complete_config(&cfg, NULL, &padded, err)) < 0)
		return r;
	if ((r = sm_template_get(&cfg, 900ll * 1000000000, &dir, &booted, err)) < 0)
		return r;
	printf("%s\n", dir);
	fprintf(stderr, "sm-runtime: template %s (%s in %.1f s)\n", dir, booted ? "booted and saved" : "cached",
		(double)(sm_now_ns() - t0) / 1e9);
	return 0;
}
