"""Reading and writing: filesystems by URI, finding input files and validating their rows, planning and reading
shards of Parquet, JSON Lines and Arrow, atomic writes and completion markers, and where each file of a run lives."""
