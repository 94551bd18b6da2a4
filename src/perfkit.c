/*-------------------------------------------------------------------------
 *
 * perfkit.c
 *	  The library's entry point: _PG_init, the GUCs, and every hook perfkit
 *	  installs.
 *
 * perfkit owns shared memory, so it must be loaded from
 * shared_preload_libraries.  When the library is loaded any other way
 * (CREATE EXTENSION on a server that did not preload it, LOAD), _PG_init
 * installs nothing; the install script and every function that needs
 * shared memory then fail with SQLSTATE 55000 through
 * perfkit_require_preload(), whose hint names the setting.
 *
 * This file is the one way in for hooks: a reader sees here every hook
 * perfkit installs, that each chains to the previous holder first, and
 * which subsystem it dispatches to.
 *
 *	  shmem_request_hook	-> perfkit_shmem_request()	(src/shmem.c)
 *	  shmem_startup_hook	-> perfkit_shmem_startup()	(src/shmem.c)
 *
 * src/perfkit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "perfkit/perfkit.h"
#include "perfkit/shmem.h"

PG_MODULE_MAGIC;

bool		perfkit_preloaded = false;
int			perfkit_job_history_retention = 7 * 24 * 60;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

static void
perfkit_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	perfkit_shmem_request();
}

static void
perfkit_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	perfkit_shmem_startup();
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	perfkit_preloaded = true;

	DefineCustomIntVariable("perfkit.job_history_retention",
							"How long pg_cron's run details of perfkit jobs are kept.",
							"The \"history\" job deletes older rows of perfkit jobs "
							"from cron.job_run_details; -1 keeps them all.",
							&perfkit_job_history_retention,
							7 * 24 * 60,
							-1,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("perfkit");

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = perfkit_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = perfkit_shmem_startup_hook;
}
