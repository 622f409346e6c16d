import sys
from pathlib import Path

# Shared helpers (Tests/support) for every suite under Tests/.
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))
