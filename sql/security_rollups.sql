--
-- security_rollups: attacks on rollups by a plain role (issue 12).
--
SELECT 1 AS placeholder;
