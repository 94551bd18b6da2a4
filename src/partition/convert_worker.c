/*-------------------------------------------------------------------------
 *
 * convert_worker.c
 *	  perfkit.convert_to_partitioned(), a function that returns the rows
 *	  of the converted table while the conversion itself, which commits
 *	  after every batch, runs in a background worker.
 *
 * A function runs inside its caller's transaction and cannot commit, but a
 * conversion must: every batch of rows is a transaction of its own, so
 * that writers are never held up for long and an interrupted conversion
 * resumes where it stopped.  So the function starts a dynamic background
 * worker that runs the conversion (part_convert_run() in convert.c) in the
 * caller's database, and waits for it:
 *
 *   - The worker runs as the caller's current user, with the caller's
 *     security context (the conversion's SQL then runs as the table's
 *     owner, restricted: see convert.c), and joins the caller's lock group, the way a
 *     parallel worker does: pg_blocking_pids() of the caller lists what the
 *     conversion waits for, and a deadlock that goes through the caller is
 *     detected.  Members of a lock group do not conflict with each other,
 *     so the caller must not hold a lock on the table (its own query could
 *     be reading the table the worker drops): that is refused.  Lock
 *     groups do not nest, so the worker runs without parallel workers of
 *     its own (indexes are built serially).
 *   - The worker's notices and errors come back through a shared memory
 *     queue (pq_redirect_to_shm_mq) and are raised in the caller, with the
 *     worker's SQLSTATE, message, detail, hint and context; an error that
 *     ends the worker is raised as an ERROR, not as the worker's FATAL.
 *   - If the caller stops waiting (cancel, statement_timeout, end of the
 *     session), a callback on the shared memory segment terminates the
 *     worker: the batch in flight rolls back, the committed ones stay, and
 *     the next call resumes.
 *
 * A Citus table is not converted in a worker: part_convert_citus()
 * converts it in the caller's own transaction, with writes blocked (its
 * distributed transaction is the caller's; see convert.c).
 *
 * It is refused inside a transaction block (25001): the conversion commits
 * on its own, and could not be rolled back with the caller's transaction.
 * The worker takes one of max_worker_processes while it runs; at most
 * perfkit.max_conversion_workers conversions run at once (a slot is an
 * advisory lock the caller holds, see take_conversion_slot), a role at
 * most all but one of them, a call beyond is refused at once with 53400,
 * one call per table runs at a time (a session lock on the table, taken
 * without waiting: 55P03), the slots are freed only once the worker has
 * ended, and every lock wait of the
 * worker is bounded by perfkit.conversion_lock_timeout (55P03, the
 * committed batches kept), so that conversions stuck behind a lock
 * cannot take every worker.
 *
 * The shared memory segment holds a ConvShared (the arguments and the
 * caller's identity, written by the caller before the worker starts; the
 * result, written by the worker before it exits) and the message queue.
 * Nothing in it is locked: each field has one writer, and the result is
 * read only after the worker has detached from the queue.
 *
 * src/partition/convert_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/wait_event.h"

#include "perfkit/partition.h"
#include "perfkit/perfkit.h"
#include "perfkit/util.h"

#define QUEUE_SIZE	16384

/*
 * The caller's settings that the worker takes over: how values and
 * messages read (names are resolved by OID, but messages print them), and
 * the waits and memory the conversion is allowed.
 */
static const char *const conv_gucs[] = {
	"DateStyle", "IntervalStyle", "TimeZone", "extra_float_digits",
	"lc_messages", "search_path", "lock_timeout", "maintenance_work_mem",
	"work_mem", "perfkit.partition_lock_timeout", "perfkit.conversion_lock_timeout"
};

/*
 * The slots of running conversions: session-level advisory locks on
 * (database 0, CONV_SLOT_KEY, slot number), one per slot up to
 * perfkit.max_conversion_workers, cluster-wide like max_worker_processes.
 * A caller takes a free one without waiting, or is refused; the lock
 * manager frees the slot of a backend that exits.  pg_advisory_lock()
 * always names the current database, so SQL cannot take these.
 */
#define CONV_SLOT_KEY	0x706b6376	/* "pkcv" */

static void
conv_slot_tag(LOCKTAG *tag, int slot)
{
	SET_LOCKTAG_ADVISORY(*tag, InvalidOid, CONV_SLOT_KEY, (uint32) slot, 3);
}

/*
 * A role's share of the slots: (database 0, role, k, 4) for k below
 * role_slots(), so that one role cannot hold every slot (with more than
 * one slot, a role gets at most all but one).
 */
#define CONV_ROLE_FIELD4	4

static void
conv_role_tag(LOCKTAG *tag, Oid role, int k)
{
	SET_LOCKTAG_ADVISORY(*tag, InvalidOid, (uint32) role, (uint32) k, CONV_ROLE_FIELD4);
}

static int
role_slots(void)
{
	return perfkit_max_conversion_workers > 1 ? perfkit_max_conversion_workers - 1 :
		perfkit_max_conversion_workers;
}

/*
 * One conversion of a table at a time: a session lock on (database,
 * table, 0, 5), taken without waiting by the caller of
 * convert_to_partitioned() and by convert_to_partitioned_abort().  SQL
 * cannot take it (pg_advisory_lock uses field4 1 and 2).
 */
#define CONV_TABLE_FIELD4	5

static void
conv_table_tag(LOCKTAG *tag, Oid relid)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) relid, 0, CONV_TABLE_FIELD4);
}

/*
 * Take the table's conversion lock, without waiting (55P03 when another
 * session converts or aborts it); session-level when session, else until
 * the end of the transaction.
 */
void
part_conversion_lock(Oid relid, bool session)
{
	LOCKTAG		tag;

	conv_table_tag(&tag, relid);
	if (LockAcquire(&tag, ExclusiveLock, session, true) != LOCKACQUIRE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("the conversion of table \"%s\" is running in another session",
						get_rel_name(relid)),
				 errhint("Wait for that call of perfkit.convert_to_partitioned() to end, then call it again to resume.")));
}

static void
conversion_unlock(Oid relid)
{
	LOCKTAG		tag;

	conv_table_tag(&tag, relid);
	LockRelease(&tag, ExclusiveLock, true);
}

/* Take one of the calling role's slots, or refuse with 53400. */
static int
take_role_slot(const char *name)
{
	LOCKTAG		tag;
	Oid			role = GetUserId();
	int			k;

	for (k = 0; k < role_slots(); k++)
	{
		conv_role_tag(&tag, role, k);
		if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_OK)
			return k;
	}
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("cannot convert table \"%s\": role \"%s\" runs %d conversions already",
					name, GetUserNameFromId(role, false), role_slots()),
			 errdetail("A role may run at most %d of the perfkit.max_conversion_workers (%d) conversions at once.",
					   role_slots(), perfkit_max_conversion_workers),
			 errhint("Wait for one of them to finish and call perfkit.convert_to_partitioned() again.")));
	return -1;					/* keep compiler quiet */
}

static void
release_role_slot(Oid role, int k)
{
	LOCKTAG		tag;

	conv_role_tag(&tag, role, k);
	LockRelease(&tag, ExclusiveLock, true);
}

/* Take a free conversion slot, or refuse with 53400. */
pg_noinline static int
take_conversion_slot(const char *name)
{
	LOCKTAG		tag;
	int			slot;

	for (slot = 0; slot < perfkit_max_conversion_workers; slot++)
	{
		conv_slot_tag(&tag, slot);
		if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_OK)
			return slot;
	}
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("cannot convert table \"%s\": %d conversions are running already",
					name, perfkit_max_conversion_workers),
			 errdetail("perfkit.max_conversion_workers is %d.", perfkit_max_conversion_workers),
			 errhint("Wait for one of them to finish and call perfkit.convert_to_partitioned() again, or raise perfkit.max_conversion_workers.")));
	return -1;					/* keep compiler quiet */
}

static void
release_conversion_slot(int slot)
{
	LOCKTAG		tag;

	conv_slot_tag(&tag, slot);
	LockRelease(&tag, ExclusiveLock, true);
}

typedef struct ConvShared
{
	/* written by the caller */
	Oid			database;
	Oid			auth_user;		/* who logged in */
	Oid			outer_user;		/* SET ROLE, or InvalidOid */
	bool		outer_is_superuser;
	Oid			current_user;	/* inside SECURITY DEFINER functions too */
	int			sec_context;
	PGPROC	   *leader;
	int			leader_pid;
	Oid			relid;
	NameData	column;
	Interval	every;
	int			batch_rows;
	int			max_batches;
	char		unique_keys;	/* 'r' refuse, 'e' extend, '\0' as set up */
	Size		gucs_len;		/* the values of conv_gucs, each ending in \0 */
	/* written by the worker, when it has finished */
	bool		done;
	int64		rows;
	/* then the GUC values, then the queue */
} ConvShared;

static char *
conv_gucs_area(ConvShared *sh)
{
	return (char *) sh + MAXALIGN(sizeof(ConvShared));
}

static shm_mq *
conv_queue(ConvShared *sh)
{
	return (shm_mq *) (conv_gucs_area(sh) + MAXALIGN(sh->gucs_len));
}

/* on_dsm_detach callback of the caller: the worker stops with it. */
static void
stop_worker(dsm_segment *seg, Datum arg)
{
	BackgroundWorkerHandle *handle = (BackgroundWorkerHandle *) DatumGetPointer(arg);

	TerminateBackgroundWorker(handle);
	pfree(handle);
}

/* Raise a notice or error that the worker sent. */
static void
relay_message(const char *data, Size nbytes)
{
	StringInfoData msg;
	char		msgtype;

	initStringInfo(&msg);
	appendBinaryStringInfo(&msg, data, nbytes);
	msgtype = pq_getmsgbyte(&msg);
	if (msgtype == 'E' || msgtype == 'N')
	{
		ErrorData	edata;

		pq_parse_errornotice(&msg, &edata);
		/* the worker's end is the caller's error, not its end */
		edata.elevel = Min(edata.elevel, ERROR);
		ThrowErrorData(&edata);
	}
	pfree(msg.data);
}

PG_FUNCTION_INFO_V1(perfkit_convert_to_partitioned);

/*
 * perfkit.convert_to_partitioned(tbl regclass, column name, every interval,
 *     batch_rows int DEFAULT 50000, max_batches int DEFAULT NULL,
 *     unique_keys text DEFAULT NULL)
 *     RETURNS bigint
 *
 * Starts or resumes the conversion of tbl in a background worker and
 * waits for it.  Returns the rows of the partitioned table once swapped,
 * else (paused after max_batches batches) the rows copied so far.
 */
static int64 run_in_worker(Oid relid, const char *name, int batch_rows,
						   FunctionCallInfo fcinfo);

/* The worker of the call in progress, once started. */
static BackgroundWorkerHandle *current_handle = NULL;

/*
 * The table's lock first (a second call for the same table fails at
 * once), then a share of the calling role, then a slot: all session
 * locks, given back by release_all_locks only once the worker is gone.
 * Returns the slot, and the role's share in *role_slot.
 */
pg_noinline static int
take_all_locks(Oid relid, const char *name, Oid role, int *role_slot)
{
	volatile int k = -1;
	int			slot = -1;

	part_conversion_lock(relid, true);
	PG_TRY();
	{
		k = take_role_slot(name);
		slot = take_conversion_slot(name);
	}
	PG_CATCH();
	{
		if (k >= 0)
			release_role_slot(role, k);
		conversion_unlock(relid);
		PG_RE_THROW();
	}
	PG_END_TRY();
	*role_slot = k;
	return slot;
}

/*
 * After the call: on an error (a cancel included) the worker may still
 * run, so stop it and wait until it has gone; then free the slot, the
 * role's share and the table.
 */
pg_noinline static void
release_all_locks(Oid relid, Oid role, int slot, int role_slot)
{
	if (current_handle != NULL)
	{
		pid_t		pid;

		HOLD_INTERRUPTS();
		if (GetBackgroundWorkerPid(current_handle, &pid) != BGWH_STOPPED)
		{
			TerminateBackgroundWorker(current_handle);
			(void) WaitForBackgroundWorkerShutdown(current_handle);
		}
		RESUME_INTERRUPTS();
		current_handle = NULL;
	}
	release_conversion_slot(slot);
	release_role_slot(role, role_slot);
	conversion_unlock(relid);
}

Datum
perfkit_convert_to_partitioned(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *name;
	int			batch_rows;
	LOCKTAG		tag;
	LOCKMODE	mode;
	volatile int64 rows = 0;
	int			slot;
	int			role_slot;
	Oid			role;

	/* the 0.5 and 0.6 scripts declared it as a procedure with a row result */
	if (fcinfo->context != NULL && IsA(fcinfo->context, CallContext))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the SQL definitions of extension \"perfkit\" are older than its library"),
				 errhint("Run ALTER EXTENSION perfkit UPDATE, then SELECT perfkit.convert_to_partitioned(...).")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table, column and interval must not be null")));
	relid = PG_GETARG_OID(0);
	batch_rows = PG_ARGISNULL(3) ? 50000 : PG_GETARG_INT32(3);
	if (batch_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_rows must be positive")));
	if (!PG_ARGISNULL(5))
	{
		char	   *uk = text_to_cstring(PG_GETARG_TEXT_PP(5));

		if (strcmp(uk, "refuse") != 0 && strcmp(uk, "extend") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unique_keys must be \"refuse\" or \"extend\", not \"%s\"", uk)));
	}
	/*
	 * A Citus table is converted with writes blocked, in this transaction
	 * (convert.c, part_convert_citus): no worker, no batches.
	 */
	if (pk_citus_table(relid))
	{
		part_check_owner(relid);
		PG_RETURN_INT64(part_convert_citus(relid, NameStr(*PG_GETARG_NAME(1)),
										   PG_GETARG_INTERVAL_P(2),
										   PG_ARGISNULL(5) ? 'r' :
										   text_to_cstring(PG_GETARG_TEXT_PP(5))[0]));
	}
	if (IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("convert_to_partitioned() cannot run inside a transaction block"),
				 errdetail("It commits after each batch of rows, on its own.")));
	name = get_rel_name(relid);
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	part_check_owner(relid);
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("temporary table \"%s\" cannot be converted", name),
				 errdetail("The conversion runs in a background worker, which cannot see the session's temporary tables.")));
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	for (mode = AccessShareLock; mode <= AccessExclusiveLock; mode++)
		if (LockHeldByMe(&tag, mode))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot convert table \"%s\" because the calling statement uses it", name),
					 errhint("Call perfkit.convert_to_partitioned() in a statement of its own.")));

	role = GetUserId();
	slot = take_all_locks(relid, name, role, &role_slot);
	current_handle = NULL;
	PG_TRY();
	{
		rows = run_in_worker(relid, name, batch_rows, fcinfo);
	}
	PG_FINALLY();
	{
		release_all_locks(relid, role, slot, role_slot);
	}
	PG_END_TRY();
	PG_RETURN_INT64(rows);
}

/* Start the worker, relay what it says, and return its result. */
static int64
run_in_worker(Oid relid, const char *name, int batch_rows, FunctionCallInfo fcinfo)
{
	dsm_segment *seg;
	ConvShared *sh;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext old;
	bool		started;
	StringInfoData gucs;
	Size		i;
	int64		rows;

	/* The worker joins this backend's lock group, as parallel workers do. */
	BecomeLockGroupLeader();

	initStringInfo(&gucs);
	for (i = 0; i < lengthof(conv_gucs); i++)
	{
		const char *v = GetConfigOption(conv_gucs[i], false, false);

		appendBinaryStringInfo(&gucs, v, strlen(v) + 1);
	}
	seg = dsm_create(MAXALIGN(sizeof(ConvShared)) + MAXALIGN(gucs.len) + QUEUE_SIZE, 0);
	sh = dsm_segment_address(seg);
	memset(sh, 0, sizeof(ConvShared));
	sh->gucs_len = gucs.len;
	memcpy(conv_gucs_area(sh), gucs.data, gucs.len);
	sh->database = MyDatabaseId;
	sh->auth_user = GetAuthenticatedUserId();
	sh->outer_user = GetCurrentRoleId();
	sh->outer_is_superuser = superuser_arg(GetOuterUserId());
	GetUserIdAndSecContext(&sh->current_user, &sh->sec_context);
	sh->leader = MyProc;
	sh->leader_pid = MyProcPid;
	sh->relid = relid;
	namestrcpy(&sh->column, NameStr(*PG_GETARG_NAME(1)));
	sh->every = *PG_GETARG_INTERVAL_P(2);
	sh->batch_rows = batch_rows;
	sh->max_batches = PG_ARGISNULL(4) ? -1 : PG_GETARG_INT32(4);
	if (!PG_ARGISNULL(5))
		sh->unique_keys = text_to_cstring(PG_GETARG_TEXT_PP(5))[0];
	mq = shm_mq_create(conv_queue(sh), QUEUE_SIZE);
	shm_mq_set_receiver(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "perfkit");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "perfkit_convert_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "perfkit conversion for PID %d", MyProcPid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "perfkit conversion");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	started = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(old);
	if (!started)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a background worker to convert table \"%s\"", name),
				 errhint("The conversion needs one free slot of max_worker_processes.")));
	current_handle = handle;
	on_dsm_detach(seg, stop_worker, PointerGetDatum(handle));
	shm_mq_set_handle(mqh, handle);

	/* Relay what the worker says until it is gone. */
	for (;;)
	{
		Size		nbytes;
		void	   *data;
		shm_mq_result res;

		CHECK_FOR_INTERRUPTS();
		res = shm_mq_receive(mqh, &nbytes, &data, true);
		if (res == SHM_MQ_SUCCESS)
		{
			relay_message(data, nbytes);
			continue;
		}
		if (res == SHM_MQ_DETACHED)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	(void) WaitForBackgroundWorkerShutdown(handle);
	current_handle = NULL;		/* gone; dsm_detach frees the handle */
	pg_read_barrier();
	if (!sh->done)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the conversion of table \"%s\" stopped before it finished", name),
				 errhint("Call perfkit.convert_to_partitioned() again to resume it.")));
	rows = sh->rows;
	dsm_detach(seg);
	return rows;
}

/*
 * The worker: attach to the caller's segment and queue, join its lock
 * group, connect as the caller, and run the conversion.
 */
void
perfkit_convert_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	ConvShared *sh;
	shm_mq_handle *mqh;
	int64		rows;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		return;					/* the caller is gone */
	sh = dsm_segment_address(seg);
	shm_mq_set_sender(conv_queue(sh), MyProc);
	mqh = shm_mq_attach(conv_queue(sh), seg, NULL);
	pq_redirect_to_shm_mq(seg, mqh);

	if (!BecomeLockGroupMember(sh->leader, sh->leader_pid))
		return;					/* the caller is gone */
	BackgroundWorkerInitializeConnectionByOid(sh->database, sh->auth_user, 0);
	/* messages go out in the database's encoding, as the caller expects */
	SetClientEncoding(GetDatabaseEncoding());
	SetCurrentRoleId(sh->outer_user, sh->outer_is_superuser);
	SetUserIdAndSecContext(sh->current_user, sh->sec_context);

	StartTransactionCommand();
	{
		const char *v = conv_gucs_area(sh);
		Size		i;

		/* the caller had these values: set them as a superuser could */
		for (i = 0; i < lengthof(conv_gucs); i++)
		{
			(void) set_config_option(conv_gucs[i], v, PGC_SUSET, PGC_S_SESSION,
									 GUC_ACTION_SET, true, 0, false);
			v += strlen(v) + 1;
		}

		/*
		 * No parallel workers: they would have to join this worker's lock
		 * group, and it is a member of the caller's already (lock groups
		 * do not nest).  Indexes are built, and queries run, serially.
		 */
		(void) set_config_option("max_parallel_workers_per_gather", "0", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SET, true, 0, false);
		(void) set_config_option("max_parallel_maintenance_workers", "0", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SET, true, 0, false);

		/*
		 * Every lock wait is bounded: the caller's lock_timeout, or
		 * perfkit.conversion_lock_timeout when that is shorter (or the
		 * caller has none), so that conversions waiting on a lock do not
		 * hold workers for ever.
		 */
		if (LockTimeout == 0 || LockTimeout > perfkit_conversion_lock_timeout)
			(void) set_config_option("lock_timeout",
									 psprintf("%d", perfkit_conversion_lock_timeout),
									 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SET,
									 true, 0, false);

		/*
		 * The copy reads the table as its owner, whom row-level security
		 * does not filter (forcing it is refused); should a policy apply
		 * anyway, the query fails instead of missing rows.
		 */
		(void) set_config_option("row_security", "off", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SET, true, 0, false);
	}
	{
		char	   *relname = get_rel_name(sh->relid);

		pgstat_report_activity(STATE_RUNNING,
							   psprintf("perfkit.convert_to_partitioned(%s)",
										relname ? quote_literal_cstr(relname) : "?"));
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		rows = part_convert_run(sh->relid, NameStr(sh->column), &sh->every,
								sh->batch_rows, sh->max_batches, sh->unique_keys);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* a lock not granted in time: say that the call can be retried */
		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		FlushErrorState();
		if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && edata->hint == NULL)
			edata->hint = psprintf("A lock was not granted within %dms (perfkit.conversion_lock_timeout or lock_timeout); "
								   "the batches copied so far are kept: call perfkit.convert_to_partitioned() again to resume.",
								   LockTimeout);
		ReThrowError(edata);
	}
	PG_END_TRY();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	sh->rows = rows;
	pg_write_barrier();
	sh->done = true;
}
