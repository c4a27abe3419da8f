/* Temporary: replaced by the VMM work. */
#include "runtime/commands.h"
int cmd_vm_run(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	return sm_error_set(err, ENOSYS, "vm-run is not implemented yet");
}
