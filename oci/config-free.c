/* SPDX-License-Identifier: Apache-2.0 */
/* Freeing a parsed config: every pointer may be NULL, since a failed parse frees a partial tree. */
#include <stdlib.h>
#include <string.h>

#include "oci/config-parse.h"

void sm_oci_strv_free(struct sm_oci_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

void sm_oci_map_free(struct sm_oci_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].value);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

const char *sm_oci_map_get(const struct sm_oci_map *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].key != NULL && strcmp(m->v[i].key, key) == 0)
			return m->v[i].value;
	return NULL;
}

void sm_oci_process_free(struct sm_oci_process *p)
{
	if (p == NULL)
		return;
	free(p->user.additional_gids);
	free(p->user.username);
	sm_oci_strv_free(&p->args);
	free(p->command_line);
	sm_oci_strv_free(&p->env);
	free(p->cwd);
	if (p->capabilities != NULL)
		for (int i = 0; i < SM_OCI_CAP_NSETS; i++)
			sm_oci_strv_free(&p->capabilities->names[i]);
	free(p->capabilities);
	for (size_t i = 0; i < p->n_rlimits; i++)
		free(p->rlimits[i].type);
	free(p->rlimits);
	free(p->apparmor_profile);
	free(p->selinux_label);
	free(p->io_priority);
	free(p->scheduler);
	if (p->exec_cpu_affinity != NULL) {
		free(p->exec_cpu_affinity->initial);
		free(p->exec_cpu_affinity->final);
	}
	free(p->exec_cpu_affinity);
	free(p);
}

void sm_oci_resources_free(struct sm_oci_resources *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_devices; i++)
		free(r->devices[i].access);
	free(r->devices);
	free(r->memory);
	if (r->cpu != NULL) {
		free(r->cpu->cpus);
		free(r->cpu->mems);
	}
	free(r->cpu);
	if (r->block_io != NULL) {
		free(r->block_io->weight_device);
		free(r->block_io->throttle_read_bps.v);
		free(r->block_io->throttle_write_bps.v);
		free(r->block_io->throttle_read_iops.v);
		free(r->block_io->throttle_write_iops.v);
	}
	free(r->block_io);
	for (size_t i = 0; i < r->n_hugepage_limits; i++)
		free(r->hugepage_limits[i].page_size);
	free(r->hugepage_limits);
	if (r->network != NULL) {
		for (size_t i = 0; i < r->network->n_priorities; i++)
			free(r->network->priorities[i].name);
		free(r->network->priorities);
	}
	free(r->network);
	for (size_t i = 0; i < r->n_rdma; i++)
		free(r->rdma[i].device);
	free(r->rdma);
	sm_oci_map_free(&r->unified);
	free(r);
}

static void seccomp_free(struct sm_oci_seccomp *s)
{
	if (s == NULL)
		return;
	free(s->architectures);
	free(s->listener_path);
	free(s->listener_metadata);
	for (size_t i = 0; i < s->n_syscalls; i++) {
		sm_oci_strv_free(&s->syscalls[i].names);
		free(s->syscalls[i].args);
	}
	free(s->syscalls);
	free(s);
}

void sm_oci_linux_free(struct sm_oci_linux *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n_namespaces; i++)
		free(l->namespaces[i].path);
	free(l->namespaces);
	free(l->uid_mappings.v);
	free(l->gid_mappings.v);
	for (size_t i = 0; i < l->n_time_offsets; i++)
		free(l->time_offsets[i].clock);
	free(l->time_offsets);
	for (size_t i = 0; i < l->n_devices; i++)
		free(l->devices[i].path);
	free(l->devices);
	free(l->cgroups_path);
	sm_oci_resources_free(l->resources);
	if (l->intel_rdt != NULL) {
		free(l->intel_rdt->clos_id);
		free(l->intel_rdt->l3_cache_schema);
		free(l->intel_rdt->mem_bw_schema);
	}
	free(l->intel_rdt);
	sm_oci_map_free(&l->sysctl);
	seccomp_free(l->seccomp);
	free(l->rootfs_propagation);
	sm_oci_strv_free(&l->masked_paths);
	sm_oci_strv_free(&l->readonly_paths);
	free(l->mount_label);
	if (l->personality != NULL)
		sm_oci_strv_free(&l->personality->flags);
	free(l->personality);
	free(l);
}

void sm_oci_config_free(struct sm_oci_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->oci_version);
	if (cfg->root != NULL)
		free(cfg->root->path);
	free(cfg->root);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		struct sm_oci_mount *m = &cfg->mounts[i];
		free(m->destination);
		free(m->type);
		free(m->source);
		sm_oci_strv_free(&m->options);
		free(m->uid_mappings.v);
		free(m->gid_mappings.v);
	}
	free(cfg->mounts);
	sm_oci_process_free(cfg->process);
	free(cfg->hostname);
	free(cfg->domainname);
	for (int k = 0; k < SM_OCI_HOOK_NKINDS; k++) {
		for (size_t i = 0; i < cfg->hooks[k].n; i++) {
			struct sm_oci_hook *h = &cfg->hooks[k].v[i];
			free(h->path);
			sm_oci_strv_free(&h->args);
			sm_oci_strv_free(&h->env);
		}
		free(cfg->hooks[k].v);
	}
	sm_oci_map_free(&cfg->annotations);
	sm_oci_linux_free(cfg->linux_cfg);
	sm_oci_strv_free(&cfg->unknown);
	sm_oci_strv_free(&cfg->warnings);
	free(cfg);
}
