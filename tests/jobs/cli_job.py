"""Inside a torchrun job (tests/cli/test_torchrun.py): velora commands one after another on
every process, as ``velora`` runs them, each process noting its exit codes in codes-RANK.json.
Usage: cli_job.py COMMANDS.json, a list of {"args": [...], "break": RANK, "slow": SECONDS}:
"break" makes that process's run fail on its third chunk, "slow" makes every chunk take that
long (so that a signal finds the run under way)."""

import json
import os
import sys
import time
from pathlib import Path

import velora.inference as inference
from velora_cli.main import main_exit_code

rank = int(os.environ["RANK"])
original = inference._run_sequences
codes: list[int] = []
for command in json.loads(Path(sys.argv[1]).read_text()):
    calls = [0]

    def patched(*args, command=command, calls=calls, **kwargs):
        calls[0] += 1
        if command.get("break") == rank and calls[0] == 3:
            raise RuntimeError("broken on purpose")
        time.sleep(command.get("slow", 0))
        return original(*args, **kwargs)

    inference._run_sequences = patched
    codes.append(main_exit_code(command["args"]))
    Path(f"codes-{rank}.json").write_text(json.dumps(codes))
sys.exit(codes[-1])
