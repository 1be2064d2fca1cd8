"""Strom's stand-in for kafka-python's test/__init__.py, which the 3.0.12 sdist leaves out.

Without a package file, `from test.testutil import ...` in test/integration finds the standard
library's `test` package. Written for the client-suites runner, not taken from kafka-python: it only
makes `test` a package and asks kafka-python's futures to raise errors from callbacks, so a failing
callback fails the test instead of being logged.
"""

import logging

logging.basicConfig(level=logging.INFO)

from kafka.future import Future  # noqa: E402

Future.error_on_callbacks = True
