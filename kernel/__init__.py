"""What every layer may import and which imports nothing of the project: the errors a request
is refused with (errors.py) and how a client's value is made safe for a log line (text.py)."""
