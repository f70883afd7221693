"""angofs test harness: one package the integration tests (tests/) and the
benchmark (bench/) share. Importable as `harness` because pytest.ini puts tests/
on the Python path (bench/run.sh sets PYTHONPATH the same way).

  harness.procs  Hub (real local angofs-hub) and Mount (real angofs mount), the
                 registries that tear every process and mount down, sanitizer
                 log checks, sanitized (RSS bounds do not apply); stop_process (SIGTERM, bounded wait, SIGKILL).
  harness.util   wait_for (bounded polling), read (a file's bytes), errno_of.
"""
from .procs import (ANGOFS_BIN, API_KEY, BUILD, HUB_BIN, ROOT, Hub, Mount,  # noqa: F401
                    check_sanitizer_log, cleanup_all, free_port, is_mounted, run_angofs,
                    sanitized, stop_process,
                    unmount)
from .util import errno_of, read, wait_for  # noqa: F401
