"""What every layer may import and which imports nothing of the project: the errors a request
is refused with (errors.py), the typed task definitions (tasks.py), how a client's value is made
safe for a log line (text.py), JSON as a type (json_types.py) and writing a file whole (files.py)."""
