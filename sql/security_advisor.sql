--
-- security_advisor: attacks on advisor by a plain role (issue 12).
--
SELECT 1 AS placeholder;
