"""Files: bounded readers of what nlp-tasks saved (safe_files), JSON that keeps long integers
(json_data), atomic writes and the benchmark data folder (paths)."""
