--
-- security_partitions: attacks on partitions by a plain role (issue 12).
--
SELECT 1 AS placeholder;
