/* perfkit--0.6--0.7.sql: convert_to_partitioned() becomes a function */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION perfkit UPDATE TO '0.7'" to load this file. \quit

/*
 * convert_to_partitioned() was a procedure (CALL, INOUT rows_moved), since
 * it commits after every batch.  It is now a function returning the rows
 * moved, as in SELECT perfkit.convert_to_partitioned(...): the batches run
 * and commit in a background worker that the function waits for.  A
 * conversion left in progress by the procedure is resumed by the function.
 */
DROP PROCEDURE perfkit.convert_to_partitioned(regclass, name, interval, integer, integer, bigint);

CREATE FUNCTION perfkit.convert_to_partitioned(tbl regclass, "column" name, every interval,
	batch_rows integer DEFAULT 50000, max_batches integer DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_convert_to_partitioned';

COMMENT ON FUNCTION perfkit.convert_to_partitioned(regclass, name, interval, integer, integer) IS
'turn a plain table into a table partitioned by range on a time column, copying rows in batches (committed by a background worker) while writers go on; resumable; returns the rows moved';

/*
 * The capture trigger of a conversion also logs the partition key of the
 * row version it saw, so that the copy's rows from that tid are found in
 * one partition, by the key's index.  (Triggers of conversions begun
 * before 0.7 log no key; their rows are looked up by tid, as before.)
 */
ALTER TABLE perfkit.convert_log ADD COLUMN key bigint;
