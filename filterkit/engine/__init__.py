"""The run engine: the driver (plan, map, reduce, decide, report), the picklable tasks it hands an executor, the
executors (local and Ray), typed per-task stats, the report, and calibration of thresholds on trusted text."""
