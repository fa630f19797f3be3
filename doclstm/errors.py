"""The one error type for problems a user can cause and fix.

Bad paths, bad params and bad data raise `DoclstmError` with a message that
names the file, row or key and says what to do. The CLI prints it without a
traceback; anything else is a bug and keeps its traceback.
"""


class DoclstmError(Exception):
    """A user-fixable problem; the message says what and where."""
