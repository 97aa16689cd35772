"""Wall times of benchmark parts that keep their results in folders of a work directory."""
import json
import time
from pathlib import Path


class PartTimes:
    """Minutes per part.  A part whose folder existed when the benchmark started is read back
    from it, so its time is the one recorded (in ``work/timing.json``) when it was computed."""

    def __init__(self, work, folders):
        self.file = Path(work) / "timing.json"
        self.times = json.loads(self.file.read_text()) if self.file.exists() else {}
        self.fresh = {part: not (Path(work) / folder).exists() for part, folder in folders.items()}

    def minutes(self, part, t_start):
        """Minutes since ``t_start`` if the part was computed now (recorded), else the recorded ones."""
        if self.fresh[part] or part not in self.times:
            self.times[part] = (time.time() - t_start) / 60
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self.file.write_text(json.dumps(self.times))
        return self.times[part]
