/*-------------------------------------------------------------------------
 *
 * step.c
 *	  The time budget of one step of a shared job (a rollup's refresh
 *	  step, a table's maintenance), used by the rollups and partitions
 *	  jobs.
 *
 * A shared job runs one step per object, each as the object's owner, in a
 * subtransaction; the owner's code (triggers, measures, constraints) runs
 * inside it.  The budget is a timer of our own, not the statement
 * timeout (which stays the caller's): armed at the step's deadline and
 * firing again every 100 ms after it, each time asking for a cancel.  The
 * owner's code may catch a cancel (PL/pgSQL's EXCEPTION WHEN
 * query_canceled); it comes again, so a step cannot go on for long unless
 * its code catches every cancel in a loop (only ending the backend stops
 * that), and a step that still returns after its deadline is rolled back
 * by the caller anyway (pk_step_timed_out()).
 *
 * A query_canceled error may also be raised by the owner's code itself
 * (RAISE ... USING ERRCODE = 'query_canceled'); that is the object's
 * failure and must not stop the job, or one role could stop every other
 * role's steps at each run.  A real cancel (SIGINT: pg_cancel_backend, a
 * client's cancel request) or the caller's own statement timeout must
 * stop it.  The SIGINT handler is wrapped during the step to tell them
 * apart (pk_step_real_cancel()).
 *
 * One step at a time per backend: steps do not nest.
 *
 * src/util/step.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "libpq/pqsignal.h"
#include "storage/latch.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "perfkit/util.h"

static TimeoutId step_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t step_timed_out = false;
static volatile sig_atomic_t cancel_received = false;
static pqsigfunc prev_sigint_handler = NULL;

static void
step_timeout_handler(void)
{
	step_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

static void
step_sigint_handler(SIGNAL_ARGS)
{
	cancel_received = true;
	if (prev_sigint_handler != NULL && prev_sigint_handler != SIG_IGN &&
		prev_sigint_handler != SIG_DFL)
		prev_sigint_handler(postgres_signal_arg);
}

/*
 * Start a step with a budget of budget_ms (0: none).  Steps do not nest:
 * a second start while one runs (an owner's code reading perfkit's
 * metrics inside a job's step, say) is an error, which the outer step's
 * subtransaction catches like any other, rather than a SIGINT handler
 * saved over itself.
 */
void
pk_step_start(int budget_ms)
{
	if (prev_sigint_handler != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a perfkit step cannot start inside another one"),
				 errdetail("A job's step, or the read of a metric, ran another.")));
	if (step_timeout_id == MAX_TIMEOUTS)
		step_timeout_id = RegisterTimeout(USER_TIMEOUT, step_timeout_handler);
	step_timed_out = false;
	cancel_received = false;
	prev_sigint_handler = pqsignal(SIGINT, step_sigint_handler);
	if (budget_ms > 0)
		enable_timeout_every(step_timeout_id,
							 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), budget_ms),
							 100);
}

/* End the step: the timer off, the SIGINT handler back.  Idempotent. */
void
pk_step_stop(void)
{
	if (step_timeout_id != MAX_TIMEOUTS)
		disable_timeout(step_timeout_id, false);
	if (prev_sigint_handler != NULL)
		(void) pqsignal(SIGINT, prev_sigint_handler);
	prev_sigint_handler = NULL;
}

/* Whether the step's budget ran out. */
bool
pk_step_timed_out(void)
{
	return step_timed_out;
}

/* Whether a real cancel or the caller's statement timeout came during it. */
bool
pk_step_real_cancel(void)
{
	return cancel_received || get_timeout_indicator(STATEMENT_TIMEOUT, false);
}

/*
 * After a step over budget was rolled back: forget its cancel requests,
 * which were ours, so the job goes on.
 */
void
pk_step_forget_cancel(void)
{
	step_timed_out = false;
	QueryCancelPending = false;
}
