import os
import sys

# The example's modules (cairn_stubs, kvstore_server, blake3_pure) live one directory up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
