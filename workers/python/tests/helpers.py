"""Paths shared by the tests: the repository's protocol folder and the package's source."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)  # workers/python
REPO_ROOT = os.path.dirname(os.path.dirname(PACKAGE_ROOT))
PROTOCOL_DIR = os.path.join(REPO_ROOT, "libs", "protocol")

# The tests run from the source tree, without pip install.
if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)
