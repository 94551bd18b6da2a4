--
-- health_partitions: the two partition checks of health() flip on a
-- maintained table that runs short of future partitions or collects rows
-- in its default partition.  Other tests' partition sets live in this
-- database too, so the assertions are about this table's name in the
-- checks' values.
--
SET client_min_messages = warning;
CREATE TABLE hcheck_events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
SELECT perfkit.partition_table('hcheck_events', 'ts', '1 day', premake => 3) > 0 AS partitioned;
SELECT check_name, position('hcheck_events' IN value) > 0 AS names_it
FROM perfkit.health() WHERE check_name LIKE 'partition%' ORDER BY check_name;

-- A row far ahead lands in the default partition.
INSERT INTO hcheck_events VALUES (now() + interval '30 days', 1);
SELECT check_name, status <> 'ok' AS flagged, position('hcheck_events' IN value) > 0 AS names_it
FROM perfkit.health() WHERE check_name = 'partition_default_rows';

-- The future partitions go missing (detached by hand).
DO $$
DECLARE
	p regclass;
BEGIN
	FOR p IN SELECT partition FROM perfkit.partitions
			 WHERE parent = 'hcheck_events'::regclass AND NOT is_default
			   AND range_start::timestamptz > now() - interval '1 day'
	LOOP
		EXECUTE format('ALTER TABLE hcheck_events DETACH PARTITION %s', p);
	END LOOP;
END
$$;
SELECT check_name, status AS status, position('hcheck_events' IN value) > 0 AS names_it
FROM perfkit.health() WHERE check_name = 'partition_premake';
-- metrics() exports the default partition's rows.
SELECT count(*) AS metric_exported FROM regexp_split_to_table(perfkit.metrics(), E'\n') AS l
WHERE l = 'perfkit_partition_default_rows{table="public.hcheck_events"} 1';
