/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.json parser: runc's default spec, a maximal config with every Linux field, one bad case
 * per validation rule (asserting the exact message and JSON path), unknown keys and warnings.
 * JSON in this file is written with single quotes, turned into double quotes before parsing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/config.h"
#include "tests/tap.h"

static char *dq(const char *s)
{
	char *r = sm_xstrdup(s);
	for (char *p = r; *p; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

/* A fragment (not starting with '{') is wrapped in a minimal valid config. */
static int parse_doc(const char *doc, unsigned flags, struct sm_oci_config **cfg, sm_error_t *err)
{
	cleanup_free char *json = NULL;
	if (doc[0] == '{' || doc[0] == '[')
		json = dq(doc);
	else {
		cleanup_free char *tmp = sm_xasprintf("{'ociVersion':'1.2.0','root':{'path':'rootfs'}%s%s}",
						      doc[0] ? "," : "", doc);
		json = dq(tmp);
	}
	return sm_oci_config_parse(json, strlen(json), "config.json", flags, cfg, err);
}

/* runc 1.1 `runc spec` output, verbatim. */
static const char runc_default[] =
    "{'ociVersion':'1.0.2-dev','process':{'terminal':true,'user':{'uid':0,'gid':0},'args':['sh'],"
    "'env':['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin','TERM=xterm'],'cwd':'/',"
    "'capabilities':{'bounding':['CAP_AUDIT_WRITE','CAP_KILL','CAP_NET_BIND_SERVICE'],"
    "'effective':['CAP_AUDIT_WRITE','CAP_KILL','CAP_NET_BIND_SERVICE'],"
    "'permitted':['CAP_AUDIT_WRITE','CAP_KILL','CAP_NET_BIND_SERVICE'],"
    "'ambient':['CAP_AUDIT_WRITE','CAP_KILL','CAP_NET_BIND_SERVICE']},"
    "'rlimits':[{'type':'RLIMIT_NOFILE','hard':1024,'soft':1024}],'noNewPrivileges':true},"
    "'root':{'path':'rootfs','readonly':true},'hostname':'runc','mounts':["
    "{'destination':'/proc','type':'proc','source':'proc'},"
    "{'destination':'/"
    "dev','type':'tmpfs','source':'tmpfs','options':['nosuid','strictatime','mode=755','size=65536k']},"
    "{'destination':'/dev/pts','type':'devpts','source':'devpts','options':['nosuid','noexec','newinstance',"
    "'ptmxmode=0666','mode=0620','gid=5']},"
    "{'destination':'/dev/"
    "shm','type':'tmpfs','source':'shm','options':['nosuid','noexec','nodev','mode=1777',"
    "'size=65536k']},"
    "{'destination':'/dev/mqueue','type':'mqueue','source':'mqueue','options':['nosuid','noexec','nodev']},"
    "{'destination':'/sys','type':'sysfs','source':'sysfs','options':['nosuid','noexec','nodev','ro']},"
    "{'destination':'/sys/fs/cgroup','type':'cgroup','source':'cgroup','options':['nosuid','noexec','nodev',"
    "'relatime','ro']}],"
    "'linux':{'resources':{'devices':[{'allow':false,'access':'rwm'}]},'namespaces':[{'type':'pid'},"
    "{'type':'network'},{'type':'ipc'},{'type':'uts'},{'type':'mount'}],"
    "'maskedPaths':['/proc/acpi','/proc/asound','/proc/kcore','/proc/keys','/proc/latency_stats',"
    "'/proc/timer_list','/proc/timer_stats','/proc/sched_debug','/sys/firmware','/proc/scsi'],"
    "'readonlyPaths':['/proc/bus','/proc/fs','/proc/irq','/proc/sys','/proc/sysrq-trigger']}}";

static void check_runc_default(const struct sm_oci_config *cfg, const char *what)
{
	const struct sm_oci_process *p = cfg->process;
	ok(p != NULL && p->terminal && p->args.n == 1 && strcmp(p->args.v[0], "sh") == 0 &&
	       strcmp(p->cwd, "/") == 0 && p->env.n == 2,
	   "%s: process", what);
	ok(p != NULL && p->capabilities != NULL &&
	       p->capabilities->mask[SM_OCI_CAP_BOUNDING] == ((1ull << 29) | (1ull << 5) | (1ull << 10)),
	   "%s: capability mask", what);
	ok(p != NULL && p->n_rlimits == 1 && p->rlimits[0].resource == RLIMIT_NOFILE &&
	       p->rlimits[0].soft == 1024,
	   "%s: rlimits", what);
	ok(cfg->root != NULL && cfg->root->readonly && strcmp(cfg->root->path, "rootfs") == 0, "%s: root",
	   what);
	ok(cfg->n_mounts == 7 && strcmp(cfg->mounts[2].destination, "/dev/pts") == 0 &&
	       cfg->mounts[2].options.n == 6 && cfg->mounts[0].options.n == 0,
	   "%s: mounts", what);
	ok(cfg->linux_cfg != NULL && cfg->linux_cfg->n_namespaces >= 5 &&
	       cfg->linux_cfg->namespaces[0].type == SM_OCI_NS_PID && cfg->linux_cfg->masked_paths.n >= 10,
	   "%s: linux", what);
	ok(cfg->linux_cfg != NULL && cfg->linux_cfg->resources != NULL &&
	       cfg->linux_cfg->resources->n_devices == 1 && !cfg->linux_cfg->resources->devices[0].allow &&
	       cfg->linux_cfg->resources->devices[0].type == 'a',
	   "%s: device cgroup rule", what);
	ok(cfg->unknown.n == 0 && cfg->warnings.n == 0, "%s: no unknown keys (%zu) or warnings (%zu)", what,
	   cfg->unknown.n, cfg->warnings.n);
}

static void test_runc_default(void)
{
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;

	ok(parse_doc(runc_default, SM_OCI_PARSE_REQUIRE_PROCESS, &cfg, &err) == 0,
	   "runc default spec parses: %s", err.msg);
	if (cfg != NULL)
		check_runc_default(cfg, "runc 1.1 spec");
	sm_oci_config_free(cfg);
}

/* The real `runc spec` of this machine, when runc is installed. */
static void test_runc_spec_command(void)
{
	char dir[] = "/tmp/sm-oci-runc-XXXXXX";
	cleanup_free char *cmd = NULL, *path = NULL;
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	int status;

	if (access("/usr/sbin/runc", X_OK) != 0 && access("/usr/bin/runc", X_OK) != 0) {
		tap_skip("runc is not installed: cannot compare with a live `runc spec`");
		return;
	}
	ok(mkdtemp(dir) != NULL, "mkdtemp");
	cmd = sm_xasprintf("cd %s && runc spec >/dev/null 2>&1", dir);
	status = system(cmd);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "runc spec runs");
	path = sm_xasprintf("%s/config.json", dir);
	ok(sm_oci_config_load(path, SM_OCI_PARSE_REQUIRE_PROCESS, &cfg, &err) == 0,
	   "live runc spec parses: %s", err.msg);
	if (cfg != NULL)
		check_runc_default(cfg, "live runc spec");
	sm_oci_config_free(cfg);
	unlink(path);
	rmdir(dir);
}

static const char maximal[] =
    "{'ociVersion':'1.2.0',"
    "'root':{'path':'/b/rootfs','readonly':false},"
    "'mounts':[{'destination':'/data','type':'bind','source':'/v','options':['rbind','rw','idmap'],"
    "'uidMappings':[{'containerID':0,'hostID':100000,'size':65536}],"
    "'gidMappings':[{'containerID':0,'hostID':100000,'size':65536}]},"
    "{'destination':'/tmp'}],"
    "'process':{'terminal':true,'consoleSize':{'height':25,'width':80},"
    "'user':{'uid':1000,'gid':1001,'umask':18,'additionalGids':[5,6],'username':'u'},"
    "'args':['/bin/app','-v'],'commandLine':'app.exe -v','env':['A=1','B='],'cwd':'/home',"
    "'capabilities':{'bounding':['CAP_CHOWN','CAP_SYS_ADMIN'],'effective':['CAP_CHOWN'],"
    "'inheritable':[],'permitted':['CAP_CHOWN','CAP_CHECKPOINT_RESTORE'],'ambient':['CAP_CHOWN']},"
    "'rlimits':[{'type':'RLIMIT_NOFILE','soft':1024,'hard':4096},"
    "{'type':'RLIMIT_CORE','soft':0,'hard':18446744073709551615}],"
    "'noNewPrivileges':true,'apparmorProfile':'prof','oomScoreAdj':-500,'selinuxLabel':'lbl',"
    "'ioPriority':{'class':'IOPRIO_CLASS_BE','priority':4},"
    "'scheduler':{'policy':'SCHED_DEADLINE','nice':-5,'priority':0,"
    "'flags':['SCHED_FLAG_RESET_ON_FORK','SCHED_FLAG_RECLAIM'],'runtime':1000,'deadline':2000,'period':3000},"
    "'execCPUAffinity':{'initial':'0-1, 3','final':'2'}},"
    "'hostname':'h','domainname':'d',"
    "'hooks':{'prestart':[{'path':'/p'}],'createRuntime':[{'path':'/cr','args':['cr','x'],'env':['E=1'],"
    "'timeout':5}],'createContainer':[{'path':'/cc'}],'startContainer':[{'path':'/sc'}],"
    "'poststart':[{'path':'/ps'}],'poststop':[{'path':'/pst1'},{'path':'/pst2'}]},"
    "'annotations':{'org.example.key':'value','k2':''},"
    "'linux':{'namespaces':[{'type':'pid'},{'type':'network','path':'/var/run/netns/x'},{'type':'mount'},"
    "{'type':'ipc'},{'type':'uts'},{'type':'user'},{'type':'cgroup'},{'type':'time'}],"
    "'uidMappings':[{'containerID':0,'hostID':1000,'size':1},{'containerID':1,'hostID':100000,'size':65535}],"
    "'gidMappings':[{'containerID':0,'hostID':1000,'size':32000}],"
    "'timeOffsets':{'monotonic':{'secs':-10,'nanosecs':5},'boottime':{'secs':172800}},"
    "'devices':[{'type':'c','path':'/dev/fuse','major':10,'minor':229,'fileMode':438,'uid':0,'gid':0},"
    "{'type':'p','path':'/dev/fifo'}],"
    "'cgroupsPath':'/sm/c1',"
    "'resources':{'devices':[{'allow':false,'access':'rwm'},{'allow':true,'type':'c','major':10,'minor':-1,"
    "'access':'rw'}],"
    "'memory':{'limit':536870912,'reservation':-1,'swap':1073741824,'kernel':-1,'kernelTCP':0,"
    "'swappiness':60,'disableOOMKiller':false,'useHierarchy':true,'checkBeforeUpdate':true},"
    "'cpu':{'shares':1024,'quota':100000,'burst':50000,'period':100000,'realtimeRuntime':950000,"
    "'realtimePeriod':1000000,'cpus':'0-3','mems':'0','idle':1},"
    "'blockIO':{'weight':500,'leafWeight':300,'weightDevice':[{'major':8,'minor':0,'weight':500,"
    "'leafWeight':300},{'major':8,'minor':16,'weight':10}],"
    "'throttleReadBpsDevice':[{'major':8,'minor':0,'rate':600}],"
    "'throttleWriteBpsDevice':[{'major':8,'minor':0,'rate':700}],"
    "'throttleReadIOPSDevice':[{'major':8,'minor':0,'rate':800}],"
    "'throttleWriteIOPSDevice':[{'major':8,'minor':16,'rate':300}]},"
    "'hugepageLimits':[{'pageSize':'2MB','limit':209715200},{'pageSize':'1GB','limit':0}],"
    "'network':{'classID':1048577,'priorities':[{'name':'eth0','priority':500}]},"
    "'pids':{'limit':32771},"
    "'rdma':{'mlx5_1':{'hcaHandles':3,'hcaObjects':10000},'mlx4_0':{'hcaObjects':1000}},"
    "'unified':{'io.max':'259:0 rbps=2097152','memory.high':'max'}},"
    "'intelRdt':{'closID':'guaranteed','l3CacheSchema':'L3:0=7f0;1=1f','memBwSchema':'MB:0=20;1=70',"
    "'enableCMT':true,'enableMBM':true},"
    "'sysctl':{'net.ipv4.ip_forward':'1'},"
    "'seccomp':{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':38,"
    "'architectures':['SCMP_ARCH_X86_64','SCMP_ARCH_X86'],"
    "'flags':['SECCOMP_FILTER_FLAG_LOG','SECCOMP_FILTER_FLAG_SPEC_ALLOW'],"
    "'listenerPath':'/run/agent.sock','listenerMetadata':'meta',"
    "'syscalls':[{'names':['read','write'],'action':'SCMP_ACT_ALLOW'},"
    "{'names':['personality'],'action':'SCMP_ACT_ALLOW','args':[{'index':0,'value':8,'op':'SCMP_CMP_EQ'},"
    "{'index':5,'value':18446744073709551615,'valueTwo':1,'op':'SCMP_CMP_MASKED_EQ'}]},"
    "{'names':['mkdir'],'action':'SCMP_ACT_ERRNO','errnoRet':1},{'names':['open'],'action':'SCMP_ACT_NOTIFY'}"
    "]},"
    "'rootfsPropagation':'rslave','maskedPaths':['/proc/kcore'],'readonlyPaths':['/proc/sys'],"
    "'mountLabel':'system_u:object_r:svirt_sandbox_file_t:s0','personality':{'domain':'LINUX32','flags':[]}}"
    "}";

static void check_max_process(const struct sm_oci_process *p)
{
	ok(p->has_console_size && p->console_height == 25 && p->console_width == 80, "consoleSize");
	ok(p->user.uid == 1000 && p->user.gid == 1001 && p->user.umask.set && p->user.umask.val == 18 &&
	       p->user.n_additional_gids == 2 && p->user.additional_gids[1] == 6 &&
	       strcmp(p->user.username, "u") == 0,
	   "user");
	ok(p->args.n == 2 && strcmp(p->args.v[1], "-v") == 0 && strcmp(p->command_line, "app.exe -v") == 0 &&
	       p->env.n == 2 && strcmp(p->env.v[1], "B=") == 0 && strcmp(p->cwd, "/home") == 0,
	   "args, commandLine, env, cwd");
	ok(p->capabilities->present[SM_OCI_CAP_INHERITABLE] &&
	       p->capabilities->names[SM_OCI_CAP_INHERITABLE].n == 0 &&
	       p->capabilities->mask[SM_OCI_CAP_BOUNDING] == ((1ull << 0) | (1ull << 21)) &&
	       p->capabilities->mask[SM_OCI_CAP_PERMITTED] == ((1ull << 0) | (1ull << 40)),
	   "capabilities sets and masks");
	ok(p->n_rlimits == 2 && p->rlimits[1].resource == RLIMIT_CORE && p->rlimits[1].hard == UINT64_MAX,
	   "rlimits with a uint64 max hard limit");
	ok(p->no_new_privileges && strcmp(p->apparmor_profile, "prof") == 0 && p->oom_score_adj.set &&
	       p->oom_score_adj.val == -500 && strcmp(p->selinux_label, "lbl") == 0,
	   "security fields");
	ok(p->io_priority->class_ == SM_OCI_IOPRIO_CLASS_BE && p->io_priority->priority == 4, "ioPriority");
	ok(p->scheduler->policy == SM_OCI_SCHED_DEADLINE && p->scheduler->nice.val == -5 &&
	       p->scheduler->flags == 3 && p->scheduler->runtime.val == 1000 &&
	       p->scheduler->period.val == 3000,
	   "scheduler");
	ok(strcmp(p->exec_cpu_affinity->initial, "0-1, 3") == 0 &&
	       strcmp(p->exec_cpu_affinity->final, "2") == 0,
	   "execCPUAffinity");
}

static void check_max_linux(const struct sm_oci_linux *l)
{
	const struct sm_oci_resources *r = l->resources;
	const struct sm_oci_seccomp *s = l->seccomp;

	ok(l->n_namespaces == 8 && l->namespaces[7].type == SM_OCI_NS_TIME &&
	       strcmp(l->namespaces[1].path, "/var/run/netns/x") == 0 && l->namespaces[0].path == NULL,
	   "namespaces");
	ok(l->uid_mappings.n == 2 && l->uid_mappings.v[1].host_id == 100000 &&
	       l->gid_mappings.v[0].size == 32000,
	   "uid/gid mappings");
	ok(l->n_time_offsets == 2 && strcmp(l->time_offsets[0].clock, "monotonic") == 0 &&
	       l->time_offsets[0].secs == -10 && l->time_offsets[0].nanosecs == 5 &&
	       l->time_offsets[1].secs == 172800,
	   "timeOffsets");
	ok(l->n_devices == 2 && l->devices[0].type == 'c' && l->devices[0].minor == 229 &&
	       l->devices[0].file_mode.val == 438 && l->devices[1].type == 'p' && !l->devices[1].uid.set,
	   "devices");
	ok(strcmp(l->cgroups_path, "/sm/c1") == 0 && r->n_devices == 2 && r->devices[1].minor.val == -1 &&
	       strcmp(r->devices[1].access, "rw") == 0,
	   "cgroupsPath and device rules");
	ok(r->memory->limit.val == 536870912 && r->memory->reservation.val == -1 &&
	       r->memory->swappiness.val == 60 && r->memory->disable_oom_killer.set &&
	       !r->memory->disable_oom_killer.val && r->memory->check_before_update.val,
	   "memory");
	ok(r->cpu->quota.val == 100000 && r->cpu->burst.val == 50000 && strcmp(r->cpu->cpus, "0-3") == 0 &&
	       r->cpu->idle.val == 1 && r->cpu->realtime_runtime.val == 950000,
	   "cpu");
	ok(r->block_io->weight.val == 500 && r->block_io->n_weight_device == 2 &&
	       !r->block_io->weight_device[1].leaf_weight.set &&
	       r->block_io->throttle_write_iops.v[0].rate == 300 && r->block_io->throttle_read_iops.n == 1,
	   "blockIO");
	ok(r->n_hugepage_limits == 2 && r->hugepage_limits[0].page_bytes == 2u << 20 &&
	       r->hugepage_limits[1].page_bytes == 1u << 30,
	   "hugepageLimits");
	ok(r->network->class_id.val == 1048577 && r->network->priorities[0].priority == 500 &&
	       r->pids_limit.set && r->pids_limit.val == 32771,
	   "network and pids");
	ok(r->n_rdma == 2 && strcmp(r->rdma[1].device, "mlx4_0") == 0 && !r->rdma[1].hca_handles.set &&
	       strcmp(sm_oci_map_get(&r->unified, "memory.high"), "max") == 0,
	   "rdma and unified");
	ok(strcmp(l->intel_rdt->clos_id, "guaranteed") == 0 && l->intel_rdt->enable_mbm &&
	       strcmp(sm_oci_map_get(&l->sysctl, "net.ipv4.ip_forward"), "1") == 0,
	   "intelRdt and sysctl");
	ok(s->default_action == SM_OCI_SCMP_ACT_ERRNO && s->default_errno_ret.val == 38 &&
	       s->n_architectures == 2 && s->architectures[1] == SM_OCI_SCMP_ARCH_X86 && s->flags == 6 &&
	       strcmp(s->listener_metadata, "meta") == 0,
	   "seccomp header");
	ok(s->n_syscalls == 4 && s->syscalls[1].n_args == 2 && s->syscalls[1].args[1].value == UINT64_MAX &&
	       s->syscalls[1].args[1].op == SM_OCI_SCMP_CMP_MASKED_EQ &&
	       s->syscalls[1].args[1].value_two.val == 1 && s->syscalls[2].errno_ret.val == 1 &&
	       s->syscalls[3].action == SM_OCI_SCMP_ACT_NOTIFY,
	   "seccomp syscalls");
	ok(strcmp(l->rootfs_propagation, "rslave") == 0 && l->masked_paths.n == 1 &&
	       l->readonly_paths.n == 1 && strncmp(l->mount_label, "system_u", 8) == 0 &&
	       l->personality->domain == SM_OCI_PER_LINUX32,
	   "propagation, paths, label, personality");
}

static void test_maximal(void)
{
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;

	ok(parse_doc(maximal, SM_OCI_PARSE_REQUIRE_PROCESS, &cfg, &err) == 0, "maximal config parses: %s",
	   err.msg);
	if (cfg == NULL)
		return;
	ok(strcmp(cfg->oci_version, "1.2.0") == 0 && strcmp(cfg->root->path, "/b/rootfs") == 0,
	   "version and root");
	ok(cfg->n_mounts == 2 && cfg->mounts[0].uid_mappings.n == 1 &&
	       cfg->mounts[0].gid_mappings.v[0].size == 65536 && cfg->mounts[1].type == NULL &&
	       cfg->mounts[1].source == NULL,
	   "mounts with idmaps, optional type/source");
	check_max_process(cfg->process);
	ok(cfg->has_hooks && cfg->hooks[SM_OCI_HOOK_POSTSTOP].n == 2 &&
	       strcmp(cfg->hooks[SM_OCI_HOOK_CREATE_RUNTIME].v[0].args.v[1], "x") == 0 &&
	       cfg->hooks[SM_OCI_HOOK_CREATE_RUNTIME].v[0].timeout.val == 5 &&
	       !cfg->hooks[SM_OCI_HOOK_PRESTART].v[0].timeout.set,
	   "hooks");
	ok(strcmp(cfg->hostname, "h") == 0 && strcmp(cfg->domainname, "d") == 0 && cfg->annotations.n == 2 &&
	       strcmp(sm_oci_map_get(&cfg->annotations, "k2"), "") == 0,
	   "hostname, domainname, annotations");
	check_max_linux(cfg->linux_cfg);
	ok(cfg->unknown.n == 0 && cfg->warnings.n == 0, "maximal: nothing unknown (%zu), no warnings (%zu)",
	   cfg->unknown.n, cfg->warnings.n);
	sm_oci_config_free(cfg);
}

static void test_unknown_and_warnings(void)
{
	static const char doc[] =
	    "'vm':{'kernel':{'path':'/k'}},'x-extra':1,'mounts':[{'destination':'data','weird':true}],"
	    "'process':{'cwd':'/','args':['sh'],'fancy':{},'capabilities':{'bounding':['CAP_NEW_THING']}},"
	    "'linux':{'netDevices':{'eth0':{}},'resources':{'memory':{'swappiness':18446744073709551615},"
	    "'oomScoreAdj':5},'seccomp':{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['x'],"
	    "'action':'SCMP_ACT_LOG','comment':'old'}]}}";
	static const char *const want_unknown[] = {"mounts[0].weird",
						   "process.fancy",
						   "linux.netDevices",
						   "linux.resources.oomScoreAdj",
						   "linux.seccomp.syscalls[0].comment",
						   "vm",
						   "x-extra"};
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t found = 0;

	ok(parse_doc(doc, 0, &cfg, &err) == 0, "unknown keys are accepted: %s", err.msg);
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < SM_ARRAY_SIZE(want_unknown); i++)
		for (size_t j = 0; j < cfg->unknown.n; j++)
			found += strcmp(cfg->unknown.v[j], want_unknown[i]) == 0;
	ok(found == SM_ARRAY_SIZE(want_unknown) && cfg->unknown.n == SM_ARRAY_SIZE(want_unknown),
	   "unknown key paths listed (%zu of %zu, list has %zu)", found, SM_ARRAY_SIZE(want_unknown),
	   cfg->unknown.n);
	ok(strcmp(cfg->mounts[0].destination, "/data") == 0, "relative mount destination made absolute");
	ok(cfg->warnings.n == 2 &&
	       strcmp(cfg->warnings.v[0],
		      "mounts[0].destination: relative path \"data\" is deprecated, using "
		      "\"/data\"") == 0 &&
	       strcmp(cfg->warnings.v[1],
		      "process.capabilities.bounding[0]: unknown capability CAP_NEW_THING "
		      "ignored") == 0,
	   "warnings: %s | %s", cfg->warnings.n > 0 ? cfg->warnings.v[0] : "-",
	   cfg->warnings.n > 1 ? cfg->warnings.v[1] : "-");
	ok(cfg->process->capabilities->mask[SM_OCI_CAP_BOUNDING] == 0 &&
	       cfg->process->capabilities->names[SM_OCI_CAP_BOUNDING].n == 1,
	   "unknown capability kept by name, not in the mask");
	ok(!cfg->linux_cfg->resources->memory->swappiness.set,
	   "swappiness -1 (as uint64) means unset, as in runc");
	sm_oci_config_free(cfg);
}

static void test_nulls_and_process_json(void)
{
	static const char proc[] = "{'cwd':'/w','args':['ls'],'user':null,'extra':1,"
				   "'capabilities':{'ambient':['CAP_FOO']}}";
	cleanup_free char *json = dq(proc);
	struct sm_oci_strv unknown = {0}, warnings = {0};
	struct sm_oci_process *p = NULL;
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;

	ok(parse_doc("'hostname':null,'process':{'cwd':'/','args':['sh'],'oomScoreAdj':null},'linux':null", 0,
		     &cfg, &err) == 0,
	   "JSON null means absent: %s", err.msg);
	ok(cfg != NULL && cfg->hostname == NULL && !cfg->process->oom_score_adj.set && cfg->linux_cfg == NULL,
	   "null fields are unset");
	sm_oci_config_free(cfg);
	ok(sm_oci_process_parse(json, strlen(json), "process.json", &p, &unknown, &warnings, &err) == 0,
	   "standalone process.json parses: %s", err.msg);
	ok(p != NULL && strcmp(p->cwd, "/w") == 0 && unknown.n == 1 && strcmp(unknown.v[0], "extra") == 0 &&
	       warnings.n == 1,
	   "process.json unknown keys (%zu) and warnings (%zu)", unknown.n, warnings.n);
	sm_oci_process_free(p);
	sm_oci_strv_free(&unknown);
	sm_oci_strv_free(&warnings);
	p = NULL;
	free(json);
	json = dq("{'args':['ls']}");
	ok(sm_oci_process_parse(json, strlen(json), "process.json", &p, NULL, NULL, &err) < 0 &&
	       strcmp(err.msg, "process.json: cwd: required but missing") == 0,
	   "process.json errors name that file: %s", err.msg);
}

/* Wrappers for fragments: P = a valid process plus x, L = linux object, R = resources, S = seccomp. */
#define P(x) "'process':{'cwd':'/','args':['sh']" x "}"
#define L(x) "'linux':{" x "}"
#define R(x) L("'resources':{" x "}")
#define S(x) L("'seccomp':{" x "}")
#define SC(x) S("'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{" x "}]")
#define E "config.json: "

struct bad_case {
	const char *doc;
	unsigned flags;
	const char *want; /* exact message; a trailing '*' compares a prefix */
};

static const struct bad_case bad_cases[] = {
    /* document and top level */
    {"{", 0, E "invalid JSON: *"},
    {"[]", 0, E "expected an object"},
    {"{'root':{'path':'r'}}", 0, E "ociVersion: required but missing"},
    {"{'ociVersion':1,'root':{'path':'r'}}", 0, E "ociVersion: expected a string"},
    {"{'ociVersion':'1.0','root':{'path':'r'}}", 0, E "ociVersion: '1.0' is not a SemVer 2.0.0 version"},
    {"{'ociVersion':'01.0.0','root':{'path':'r'}}", 0,
     E "ociVersion: '01.0.0' is not a SemVer 2.0.0 version"},
    {"{'ociVersion':'2.0.0','root':{'path':'r'}}", 0,
     E "ociVersion: unsupported version 2.0.0: sm-runtime implements 1.x"},
    {"{'ociVersion':'1.2.0'}", 0, E "root: required but missing"},
    {"{'ociVersion':'1.2.0','root':{}}", 0, E "root.path: required but missing"},
    {"{'ociVersion':'1.2.0','root':{'path':''}}", 0, E "root.path: must not be empty"},
    {"{'ociVersion':'1.2.0','root':'rootfs'}", 0, E "root: expected an object"},
    {"'root':{'path':'r','readonly':'yes'}", 0, E "root: duplicate key"},
    {"{'ociVersion':'1.2.0','root':{'path':'r','readonly':'yes'}}", 0, E "root.readonly: expected a boolean"},
    {"'hostname':'a','hostname':'b'", 0, E "hostname: duplicate key"},
    {"'domainname':5", 0, E "domainname: expected a string"},
    /* mounts */
    {"'mounts':{}", 0, E "mounts: expected an array"},
    {"'mounts':[1]", 0, E "mounts[0]: expected an object"},
    {"'mounts':[{'destination':'/a'},{'type':'tmpfs'}]", 0, E "mounts[1].destination: required but missing"},
    {"'mounts':[{'destination':''}]", 0, E "mounts[0].destination: must not be empty"},
    {"'mounts':[{'destination':'/a','options':['ro',1]}]", 0, E "mounts[0].options[1]: expected a string"},
    {"'mounts':[{'destination':'/a','source':{}}]", 0, E "mounts[0].source: expected a string"},
    {"'mounts':[{'destination':'/a','uidMappings':[{'containerID':0,'hostID':1,'size':0}]}]", 0,
     E "mounts[0].uidMappings[0].size: must be at least 1"},
    {"'mounts':[{'destination':'/a','uidMappings':[{'containerID':0,'hostID':1,'size':1}]}]", 0,
     E "mounts[0].gidMappings: required with uidMappings"},
    {"'mounts':[{'destination':'/a','gidMappings':[{'containerID':0,'hostID':1}]}]", 0,
     E "mounts[0].gidMappings[0].size: required but missing"},
    /* id mappings */
    {L("'uidMappings':[{'containerID':-1,'hostID':0,'size':1}]"), 0,
     E "linux.uidMappings[0].containerID: value -1 out of range [0, 4294967295]"},
    {L("'gidMappings':[{'containerID':0,'hostID':4294967295,'size':2}]"), 0,
     E "linux.gidMappings[0]: hostID range 4294967295+2 wraps around 2^32"},
    {L("'uidMappings':[{'containerID':0,'hostID':1000,'size':10},{'containerID':5,'hostID':5000,'size':10}]"),
     0, E "linux.uidMappings[1]: containerID range overlaps entry [0]"},
    {L("'uidMappings':[{'containerID':0,'hostID':1000,'size':10},{'containerID':50,'hostID':1009,'size':1}]"),
     0, E "linux.uidMappings[1]: hostID range overlaps entry [0]"},
    /* process */
    {"", SM_OCI_PARSE_REQUIRE_PROCESS, E "process: required but missing"},
    {"'process':[]", 0, E "process: expected an object"},
    {"'process':{'cwd':'/'}", 0, E "process.args: required but missing"},
    {"'process':{'cwd':'/','args':[]}", 0, E "process.args: must have at least one entry"},
    {"'process':{'cwd':'/','args':['sh','-c',3]}", 0, E "process.args[2]: expected a string"},
    {"'process':{'args':['sh']}", 0, E "process.cwd: required but missing"},
    {"'process':{'args':['sh'],'cwd':'tmp'}", 0, E "process.cwd: must be an absolute path"},
    {P(",'env':['A=1','FOO']"), 0, E "process.env[1]: expected KEY=value, got 'FOO'"},
    {P(",'env':['=x']"), 0, E "process.env[0]: expected KEY=value, got '=x'"},
    {P(",'terminal':1"), 0, E "process.terminal: expected a boolean"},
    {P(",'consoleSize':{'height':1}"), 0, E "process.consoleSize.width: required but missing"},
    {P(",'consoleSize':{'height':70000,'width':1}"), 0,
     E "process.consoleSize.height: value 70000 out of range [0, 65535]"},
    {P(",'user':{'gid':0}"), 0, E "process.user.uid: required but missing"},
    {P(",'user':{'uid':'root'}"), 0, E "process.user.uid: expected an unsigned integer"},
    {P(",'user':{'uid':4294967295,'gid':0}"), 0,
     E "process.user.uid: value 4294967295 out of range [0, 4294967294]"},
    {P(",'user':{'uid':0,'gid':1.5}"), 0, E "process.user.gid: expected an unsigned integer, got 1.5"},
    {P(",'user':{'uid':0,'gid':1e3}"), 0, E "process.user.gid: expected an unsigned integer, got 1e3"},
    {P(",'user':{'uid':0,'gid':0,'umask':512}"), 0, E "process.user.umask: value 512 out of range [0, 511]"},
    {P(",'user':{'uid':0,'gid':0,'additionalGids':[-1]}"), 0,
     E "process.user.additionalGids[0]: value -1 out of range [0, 4294967294]"},
    {P(",'user':{'uid':0,'gid':0,'username':[]}"), 0, E "process.user.username: expected a string"},
    {P(",'capabilities':{'bounding':['chown']}"), 0,
     E "process.capabilities.bounding[0]: invalid capability name 'chown'"},
    {P(",'capabilities':{'effective':'CAP_KILL'}"), 0,
     E "process.capabilities.effective: expected an array of strings"},
    {P(",'capabilities':{'ambient':['CAP_KILL'],'ambient':[]}"), 0,
     E "process.capabilities.ambient: duplicate key"},
    {P(",'rlimits':[{'soft':1,'hard':1}]"), 0, E "process.rlimits[0].type: required but missing"},
    {P(",'rlimits':[{'type':'RLIMIT_FOO','soft':1,'hard':1}]"), 0,
     E "process.rlimits[0].type: unknown rlimit 'RLIMIT_FOO'"},
    {P(",'rlimits':[{'type':'RLIMIT_CORE','soft':10,'hard':5}]"), 0,
     E "process.rlimits[0].soft: soft limit 10 exceeds hard limit 5"},
    {P(",'rlimits':[{'type':'RLIMIT_CORE','soft':1}]"), 0, E "process.rlimits[0].hard: required but missing"},
    {P(",'rlimits':[{'type':'RLIMIT_NOFILE','soft':1,'hard':1},{'type':'RLIMIT_NOFILE','soft':1,'hard':1}]"),
     0, E "process.rlimits[1].type: duplicate rlimit RLIMIT_NOFILE (also in [0])"},
    {P(",'noNewPrivileges':'true'"), 0, E "process.noNewPrivileges: expected a boolean"},
    {P(",'apparmorProfile':1"), 0, E "process.apparmorProfile: expected a string"},
    {P(",'oomScoreAdj':1001"), 0, E "process.oomScoreAdj: value 1001 out of range [-1000, 1000]"},
    {P(",'oomScoreAdj':'1'"), 0, E "process.oomScoreAdj: expected an integer"},
    {P(",'ioPriority':{'priority':1}"), 0, E "process.ioPriority.class: required but missing"},
    {P(",'ioPriority':{'class':'IOPRIO_CLASS_X','priority':0}"), 0,
     E "process.ioPriority.class: unknown I/O priority class 'IOPRIO_CLASS_X'"},
    {P(",'ioPriority':{'class':'IOPRIO_CLASS_RT'}"), 0,
     E "process.ioPriority.priority: required but missing"},
    {P(",'ioPriority':{'class':'IOPRIO_CLASS_RT','priority':8}"), 0,
     E "process.ioPriority.priority: value 8 out of range [0, 7]"},
    {P(",'scheduler':{}"), 0, E "process.scheduler.policy: required but missing"},
    {P(",'scheduler':{'policy':'SCHED_X'}"), 0,
     E "process.scheduler.policy: unknown scheduler policy 'SCHED_X'"},
    {P(",'scheduler':{'policy':'SCHED_OTHER','nice':20}"), 0,
     E "process.scheduler.nice: value 20 out of range [-20, 19]"},
    {P(",'scheduler':{'policy':'SCHED_OTHER','flags':['X']}"), 0,
     E "process.scheduler.flags[0]: unknown scheduler flag 'X'"},
    {P(",'scheduler':{'policy':'SCHED_OTHER','runtime':-1}"), 0,
     E "process.scheduler.runtime: value -1 out of range [0, 18446744073709551615]"},
    {P(",'execCPUAffinity':{'initial':'0-'}"), 0, E "process.execCPUAffinity.initial: invalid CPU list '0-'"},
    {P(",'execCPUAffinity':{'final':'3-1'}"), 0, E "process.execCPUAffinity.final: invalid CPU list '3-1'"},
    {P(",'selinuxLabel':false"), 0, E "process.selinuxLabel: expected a string"},
    /* hooks */
    {"'hooks':[]", 0, E "hooks: expected an object"},
    {"'hooks':{'startContainer':{}}", 0, E "hooks.startContainer: expected an array"},
    {"'hooks':{'prestart':[{'args':[]}]}", 0, E "hooks.prestart[0].path: required but missing"},
    {"'hooks':{'poststop':[{'path':'/a'},{'path':'rel'}]}", 0,
     E "hooks.poststop[1].path: must be an absolute path"},
    {"'hooks':{'createRuntime':[{'path':'/a','timeout':0}]}", 0,
     E "hooks.createRuntime[0].timeout: value 0 out of range [1, 2147483647]"},
    {"'hooks':{'createContainer':[{'path':'/a','env':[1]}]}", 0,
     E "hooks.createContainer[0].env[0]: expected a string"},
    /* annotations */
    {"'annotations':{'a':1}", 0, E "annotations['a']: expected a string"},
    {"'annotations':{'':'x'}", 0, E "annotations: keys must not be empty"},
    {"'annotations':{'a':'1','b':'2','a':'3'}", 0, E "annotations['a']: duplicate key"},
    {"'annotations':[]", 0, E "annotations: expected an object of strings"},
    /* linux */
    {"'linux':[]", 0, E "linux: expected an object"},
    {L("'namespaces':[{'type':'pid'},{'type':'foo'}]"), 0,
     E "linux.namespaces[1].type: unknown namespace type 'foo'"},
    {L("'namespaces':[{'path':'/x'}]"), 0, E "linux.namespaces[0].type: required but missing"},
    {L("'namespaces':[{'type':'network','path':'netns/x'}]"), 0,
     E "linux.namespaces[0].path: must be an absolute path"},
    {L("'namespaces':[{'type':'pid'},{'type':'pid'}]"), 0,
     E "linux.namespaces[1].type: duplicate namespace type 'pid' (also in [0])"},
    {L("'timeOffsets':{'realtime':{'secs':1}}"), 0,
     E "linux.timeOffsets['realtime']: unknown clock (expected 'monotonic' or 'boottime')"},
    {L("'timeOffsets':{'monotonic':{'nanosecs':1000000000}}"), 0,
     E "linux.timeOffsets['monotonic'].nanosecs: value 1000000000 out of range [0, 999999999]"},
    {L("'timeOffsets':{'boottime':{},'boottime':{}}"), 0, E "linux.timeOffsets['boottime']: duplicate key"},
    {L("'devices':[{'type':'x','path':'/dev/x'}]"), 0,
     E "linux.devices[0].type: unknown device type 'x' (expected c, b, u or p)"},
    {L("'devices':[{'type':'c','path':'/dev/x','minor':1}]"), 0,
     E "linux.devices[0].major: required but missing"},
    {L("'devices':[{'type':'c','path':'dev/x','major':1,'minor':1}]"), 0,
     E "linux.devices[0].path: must be an absolute path"},
    {L("'devices':[{'type':'b','path':'/dev/x','major':1,'minor':1,'uid':-1}]"), 0,
     E "linux.devices[0].uid: value -1 out of range [0, 4294967294]"},
    {L("'cgroupsPath':1"), 0, E "linux.cgroupsPath: expected a string"},
    {L("'intelRdt':{'closID':'../x'}"), 0, E "linux.intelRdt.closID: invalid resctrl group name '../x'"},
    {L("'intelRdt':{'memBwSchema':'L3:0=1'}"), 0,
     E "linux.intelRdt.memBwSchema: must start with 'MB:' and be a single line"},
    {L("'sysctl':{'net.ipv4.ip_forward':1}"), 0, E "linux.sysctl['net.ipv4.ip_forward']: expected a string"},
    {L("'rootfsPropagation':'rslave2'"), 0, E "linux.rootfsPropagation: unknown propagation 'rslave2'"},
    {L("'maskedPaths':['proc/kcore']"), 0, E "linux.maskedPaths[0]: must be an absolute path"},
    {L("'readonlyPaths':[1]"), 0, E "linux.readonlyPaths[0]: expected a string"},
    {L("'mountLabel':1"), 0, E "linux.mountLabel: expected a string"},
    {L("'personality':{'domain':'LINUX64'}"), 0,
     E "linux.personality.domain: unknown personality domain 'LINUX64'"},
    {L("'personality':{'flags':[]}"), 0, E "linux.personality.domain: required but missing"},
    {L("'personality':{'domain':'LINUX','flags':['X']}"), 0,
     E "linux.personality.flags[0]: unknown personality flag 'X' (the spec defines none)"},
    /* seccomp */
    {S("'syscalls':[]"), 0, E "linux.seccomp.defaultAction: required but missing"},
    {S("'defaultAction':'SCMP_ACT_FOO'"), 0,
     E "linux.seccomp.defaultAction: unknown seccomp action 'SCMP_ACT_FOO'"},
    {S("'defaultAction':'SCMP_ACT_ALLOW','defaultErrnoRet':1"), 0,
     E "linux.seccomp.defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW"},
    {S("'defaultAction':'SCMP_ACT_ALLOW','architectures':['SCMP_ARCH_VAX']"), 0,
     E "linux.seccomp.architectures[0]: unknown seccomp architecture 'SCMP_ARCH_VAX'"},
    {S("'defaultAction':'SCMP_ACT_ALLOW','flags':['SECCOMP_FILTER_FLAG_X']"), 0,
     E "linux.seccomp.flags[0]: unknown seccomp flag 'SECCOMP_FILTER_FLAG_X'"},
    {S("'defaultAction':'SCMP_ACT_ALLOW','listenerMetadata':'m'"), 0,
     E "linux.seccomp.listenerMetadata: must not be set without listenerPath"},
    {SC("'action':'SCMP_ACT_ALLOW'"), 0, E "linux.seccomp.syscalls[0].names: required but missing"},
    {SC("'names':[],'action':'SCMP_ACT_ALLOW'"), 0,
     E "linux.seccomp.syscalls[0].names: must have at least one entry"},
    {SC("'names':['read','']"), 0, E "linux.seccomp.syscalls[0].names[1]: empty syscall name"},
    {SC("'names':['read']"), 0, E "linux.seccomp.syscalls[0].action: required but missing"},
    {SC("'names':['read'],'action':'SCMP_ACT_KILL','errnoRet':1"), 0,
     E "linux.seccomp.syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not "
       "SCMP_ACT_KILL"},
    {SC("'names':['read'],'action':'SCMP_ACT_ERRNO','errnoRet':5000"), 0,
     E "linux.seccomp.syscalls[0].errnoRet: value 5000 out of range [0, 4095]"},
    {SC("'names':['read'],'action':'SCMP_ACT_ALLOW','args':[{'index':6,'value':1,'op':'SCMP_CMP_EQ'}]"), 0,
     E "linux.seccomp.syscalls[0].args[0].index: value 6 out of range [0, 5]"},
    {SC("'names':['read'],'action':'SCMP_ACT_ALLOW','args':[{'index':0,'value':1,'op':'SCMP_CMP_FOO'}]"), 0,
     E "linux.seccomp.syscalls[0].args[0].op: unknown seccomp operator 'SCMP_CMP_FOO'"},
    {SC("'names':['read'],'action':'SCMP_ACT_ALLOW','args':[{'index':0,'op':'SCMP_CMP_EQ'}]"), 0,
     E "linux.seccomp.syscalls[0].args[0].value: required but missing"},
    {SC("'names':['read'],'action':'SCMP_ACT_ALLOW','args':[{'index':0,'value':-1,'op':'SCMP_CMP_EQ'}]"), 0,
     E "linux.seccomp.syscalls[0].args[0].value: value -1 out of range [0, 18446744073709551615]"},
    {SC("'names':['read'],'action':'SCMP_ACT_ALLOW','args':[{'index':0,'value':18446744073709551616,'op':'"
	"SCMP_CMP_EQ'}]"),
     0,
     E "linux.seccomp.syscalls[0].args[0].value: value 18446744073709551616 out of range [0, "
       "18446744073709551615]"},
    /* resources */
    {R("'devices':[{}]"), 0, E "linux.resources.devices[0].allow: required but missing"},
    {R("'devices':[{'allow':true,'type':'x'}]"), 0,
     E "linux.resources.devices[0].type: unknown device type 'x' (expected a, c or b)"},
    {R("'devices':[{'allow':true,'access':'rwx'}]"), 0,
     E "linux.resources.devices[0].access: 'rwx' is not made of r, w and m"},
    {R("'devices':[{'allow':true,'major':-2}]"), 0,
     E "linux.resources.devices[0].major: value -2 out of range [-1, 9223372036854775807]"},
    {R("'memory':{'limit':-2}"), 0,
     E "linux.resources.memory.limit: value -2 out of range [-1, 9223372036854775807]"},
    {R("'memory':{'swappiness':101}"), 0,
     E "linux.resources.memory.swappiness: value 101 out of range [0, 100]"},
    {R("'memory':{'disableOOMKiller':1}"), 0,
     E "linux.resources.memory.disableOOMKiller: expected a boolean"},
    {R("'cpu':{'shares':-1}"), 0,
     E "linux.resources.cpu.shares: value -1 out of range [0, 18446744073709551615]"},
    {R("'cpu':{'shares':18446744073709551616}"), 0,
     E "linux.resources.cpu.shares: value 18446744073709551616 out of range [0, 18446744073709551615]"},
    {R("'cpu':{'quota':9223372036854775808}"), 0,
     E "linux.resources.cpu.quota: value 9223372036854775808 out of range [-1, 9223372036854775807]"},
    {R("'cpu':{'idle':2}"), 0, E "linux.resources.cpu.idle: value 2 out of range [0, 1]"},
    {R("'cpu':{'quota':1000,'burst':2000}"), 0,
     E "linux.resources.cpu.burst: 2000 is larger than quota 1000"},
    {R("'cpu':{'cpus':1}"), 0, E "linux.resources.cpu.cpus: expected a string"},
    {R("'blockIO':{'weight':70000}"), 0,
     E "linux.resources.blockIO.weight: value 70000 out of range [0, 65535]"},
    {R("'blockIO':{'weightDevice':[{'major':8,'minor':0}]}"), 0,
     E "linux.resources.blockIO.weightDevice[0]: needs weight or leafWeight"},
    {R("'blockIO':{'throttleReadBpsDevice':[{'major':8,'minor':0}]}"), 0,
     E "linux.resources.blockIO.throttleReadBpsDevice[0].rate: required but missing"},
    {R("'blockIO':{'throttleWriteIOPSDevice':[{'minor':0,'rate':1}]}"), 0,
     E "linux.resources.blockIO.throttleWriteIOPSDevice[0].major: required but missing"},
    {R("'hugepageLimits':[{'pageSize':'2M','limit':1}]"), 0,
     E "linux.resources.hugepageLimits[0].pageSize: '2M' is not a size like 2MB or 1GB"},
    {R("'hugepageLimits':[{'pageSize':'2MB'}]"), 0,
     E "linux.resources.hugepageLimits[0].limit: required but missing"},
    {R("'network':{'classID':-1}"), 0,
     E "linux.resources.network.classID: value -1 out of range [0, 4294967295]"},
    {R("'network':{'priorities':[{'name':'eth0'}]}"), 0,
     E "linux.resources.network.priorities[0].priority: required but missing"},
    {R("'pids':{}"), 0, E "linux.resources.pids.limit: required but missing"},
    {R("'pids':{'limit':'max'}"), 0, E "linux.resources.pids.limit: expected an integer"},
    {R("'rdma':{'mlx':{}}"), 0, E "linux.resources.rdma['mlx']: needs hcaHandles or hcaObjects"},
    {R("'rdma':{'mlx':{'hcaHandles':-1}}"), 0,
     E "linux.resources.rdma['mlx'].hcaHandles: value -1 out of range [0, 4294967295]"},
    {R("'unified':{'memory.max':1}"), 0, E "linux.resources.unified['memory.max']: expected a string"},
};

static void test_bad_cases(void)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(bad_cases); i++) {
		cleanup_free char *want = dq(bad_cases[i].want);
		struct sm_oci_config *cfg = NULL;
		sm_error_t err = SM_ERROR_INIT;
		size_t wlen = strlen(want);
		bool prefix = wlen > 0 && want[wlen - 1] == '*';
		int r = parse_doc(bad_cases[i].doc, bad_cases[i].flags, &cfg, &err);
		bool match = prefix ? strncmp(err.msg, want, wlen - 1) == 0 : strcmp(err.msg, want) == 0;

		ok(r < 0 && cfg == NULL && match, "bad %zu: %s", i, err.msg);
		if (!match)
			tap_diag("want: %s", want);
		sm_oci_config_free(cfg);
	}
}

/* Cases that cannot be written as a quoted literal: raw bytes, generated sizes. */
static void test_bad_generated(void)
{
	static const char nul_doc[] = "{\"ociVersion\":\"1.2.0\",\0\"root\":{\"path\":\"r\"}}";
	char deep[300], longname[200];
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t n = 0;

	ok(sm_oci_config_parse(nul_doc, sizeof(nul_doc) - 1, "config.json", 0, &cfg, &err) < 0 &&
	       strcmp(err.msg, "config.json: line 1: NUL byte in JSON text") == 0,
	   "NUL byte: %s", err.msg);
	ok(parse_doc("'hostname':'a\\u0000b'", 0, &cfg, &err) < 0 &&
	       strcmp(err.msg, "config.json: line 1: \\u0000 in a string is not supported") == 0,
	   "\\u0000 escape: %s", err.msg);
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, "'x':");
	for (int i = 0; i < 70; i++)
		deep[n++] = '[';
	for (int i = 0; i < 70; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	ok(parse_doc(deep, 0, &cfg, &err) < 0 &&
	       strcmp(err.msg, "config.json: line 1: JSON nested deeper than 64 "
			       "levels") == 0,
	   "depth limit: %s", err.msg);
	memset(longname, 'a', 65);
	longname[65] = '\0';
	{
		cleanup_free char *doc = sm_xasprintf("'hostname':'%s'", longname);
		ok(parse_doc(doc, 0, &cfg, &err) < 0 &&
		       strcmp(err.msg, "config.json: hostname: longer than 64 bytes") == 0,
		   "hostname length: %s", err.msg);
	}
	ok(parse_doc("'hostname':", 0, &cfg, &err) < 0 &&
	       strncmp(err.msg, "config.json: invalid JSON: ", 27) == 0 && strchr(err.msg, '\n') == NULL,
	   "yajl syntax error on one line: %s", err.msg);
	ok(sm_oci_config_load("/nonexistent/config.json", 0, &cfg, &err) == -ENOENT &&
	       strstr(err.msg, "/nonexistent/config.json") != NULL,
	   "missing file named: %s", err.msg);
	ok(cfg == NULL, "no config on failure");
}

int main(void)
{
	test_runc_default();
	test_runc_spec_command();
	test_maximal();
	test_unknown_and_warnings();
	test_nulls_and_process_json();
	test_bad_cases();
	test_bad_generated();
	return tap_done();
}
