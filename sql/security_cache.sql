--
-- security_cache: attacks on cache by a plain role (issue 12).
--
SELECT 1 AS placeholder;
