/*-------------------------------------------------------------------------
 *
 * schedule.h
 *	  pg_cron glue: where pg_cron stands for the current database.
 *
 * include/perfkit/schedule.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_SCHEDULE_H
#define PERFKIT_SCHEDULE_H

/* A short description of pg_cron's state, for perfkit.status(). */
extern char *perfkit_cron_status(void);
extern char *perfkit_cron_connection(void);

#endif							/* PERFKIT_SCHEDULE_H */
