--
-- The demo's sample database: a telemetry app for a fleet of electric
-- vehicles, shaped like the apps perfkit serves.  psql variables:
--   vehicles  number of vehicles                       (default 100)
--   hours     hours of raw telemetry, one row per second per vehicle,
--             ending at the current hour               (default 3)
--   days      days of trips and charging sessions      (default 90)
-- 100 vehicles x 3 hours = 1.08 million telemetry rows, made in seconds.
--
\set ON_ERROR_STOP on
\if :{?vehicles} \else \set vehicles 100 \endif
\if :{?hours} \else \set hours 3 \endif
\if :{?days} \else \set days 90 \endif

SELECT setseed(0.42) \gset

CREATE TABLE vehicles (
	id integer PRIMARY KEY,
	vin text NOT NULL UNIQUE,
	model text NOT NULL,
	fleet text NOT NULL,
	battery_kwh numeric(5,1) NOT NULL,
	commissioned_on date NOT NULL
);

CREATE TABLE telemetry (
	vehicle_id integer NOT NULL REFERENCES vehicles,
	recorded_at timestamptz NOT NULL,
	speed_kmh real NOT NULL,
	soc_pct real NOT NULL,
	odometer_km double precision NOT NULL,
	latitude double precision NOT NULL,
	longitude double precision NOT NULL,
	engine_rpm integer NOT NULL,
	battery_temp_c real NOT NULL,
	status text NOT NULL
);

CREATE TABLE trips (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	vehicle_id integer NOT NULL REFERENCES vehicles,
	started_at timestamptz NOT NULL,
	ended_at timestamptz NOT NULL,
	distance_km real NOT NULL,
	energy_kwh real NOT NULL,
	avg_speed_kmh real NOT NULL,
	efficiency_km_per_kwh real NOT NULL,
	extreme_weather boolean NOT NULL
);

CREATE TABLE charging_sessions (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	vehicle_id integer NOT NULL REFERENCES vehicles,
	started_at timestamptz NOT NULL,
	ended_at timestamptz NOT NULL,
	energy_kwh real NOT NULL,
	charger_type text NOT NULL,
	cost_eur numeric(8,2) NOT NULL
);

INSERT INTO vehicles
SELECT i,
	   'VIN' || lpad(i::text, 14, '0'),
	   (ARRAY['Model 3', 'ID.4', 'Ioniq 5', 'e-Transit', 'Kona'])[1 + i % 5],
	   (ARRAY['north', 'south', 'east', 'west'])[1 + i % 4],
	   (ARRAY[60, 77, 72.6, 68, 64])[1 + i % 5],
	   date '2022-01-01' + (i * 7) % 900
FROM generate_series(1, :vehicles) i;

-- Raw telemetry: one row per second per vehicle.  Speed follows a slow
-- wave per vehicle, so that trips and idle periods show in the data.
INSERT INTO telemetry
SELECT v.id,
	   t.ts,
	   greatest(0, 45 + 45 * sin(t.n / 600.0 + v.id) + 5 * random()),
	   greatest(5, 95 - (t.n / 3600.0) * (8 + v.id % 5) - 5 * random()),
	   10000 + v.id * 137.5 + t.n * 0.0125,
	   52.0 + (v.id % 50) * 0.01 + 0.001 * sin(t.n / 300.0),
	   13.0 + (v.id % 40) * 0.01 + 0.001 * cos(t.n / 300.0),
	   CASE WHEN sin(t.n / 600.0 + v.id) < -0.8 THEN 0
			ELSE (1500 + 1500 * sin(t.n / 600.0 + v.id) + 200 * random())::integer END,
	   25 + 10 * sin(t.n / 1800.0) + 2 * random(),
	   CASE WHEN sin(t.n / 600.0 + v.id) < -0.8 THEN 'IDLE' ELSE 'ACTIVE' END
FROM vehicles v,
	 LATERAL (SELECT n, date_trunc('hour', now()) - make_interval(hours => :hours)
						+ make_interval(secs => n) AS ts
			  FROM generate_series(0, :hours * 3600 - 1) n) t;

INSERT INTO trips (vehicle_id, started_at, ended_at, distance_km, energy_kwh,
				   avg_speed_kmh, efficiency_km_per_kwh, extreme_weather)
SELECT v.id, s.start, s.start + s.duration, s.dist, s.dist / s.eff,
	   s.dist / (extract(epoch FROM s.duration) / 3600), s.eff, random() < 0.05
FROM vehicles v,
	 generate_series(1, :days * 4) k,
	 LATERAL (SELECT now() - make_interval(days => :days)
					   + make_interval(secs => (k * 21600 + random() * 14400)::integer) AS start,
					 make_interval(mins => (10 + random() * 80)::integer) AS duration,
					 (3 + random() * 60)::real AS dist,
					 (4 + random() * 4)::real AS eff) s
WHERE s.start < now();

INSERT INTO charging_sessions (vehicle_id, started_at, ended_at, energy_kwh,
							   charger_type, cost_eur)
SELECT v.id, s.start, s.start + make_interval(mins => s.mins), s.kwh, s.type,
	   round((s.kwh * CASE s.type WHEN 'DC' THEN 0.59 ELSE 0.35 END)::numeric, 2)
FROM vehicles v,
	 generate_series(1, :days) d,
	 LATERAL (SELECT now() - make_interval(days => d, hours => (random() * 12)::integer) AS start,
					 CASE WHEN random() < 0.3 THEN 'DC' ELSE 'AC' END AS type,
					 (10 + random() * 50)::real AS kwh,
					 (20 + random() * 300)::integer AS mins) s;

ANALYZE vehicles, telemetry, trips, charging_sessions;

SELECT relname AS "table", to_char(n_live_tup, 'FM9,999,999,999') AS rows,
	   pg_size_pretty(pg_total_relation_size(relid)) AS size
FROM pg_stat_user_tables
WHERE relname IN ('vehicles', 'telemetry', 'trips', 'charging_sessions')
ORDER BY pg_total_relation_size(relid) DESC;
