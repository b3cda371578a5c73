"""Train one fastText model in a fresh process: ``python -m curate.classify._fasttext_child JOB.json``.

fastText (fasttext-numpy2-wheel 0.9.2) reads some memory before writing it. In a fresh process that
memory is zero and training is deterministic; later trainings in a long-lived process can get
recycled memory and change, or stop with "Encountered NaN" (measured; see curate.classify.train.fit).
So every training runs here, alone, with large allocations always fresh from the OS
(``MALLOC_MMAP_THRESHOLD_`` set by the parent). The job names the training file, the settings and
where to save the model.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    job = json.loads(open(sys.argv[1], encoding="utf-8").read())
    import fasttext

    fasttext.FastText.eprint = lambda *a, **k: None
    model = fasttext.train_supervised(input=job["input"], **job["params"])
    if job.get("quantize"):
        model.quantize(input=job["input"], **job["quantize"])
    model.save_model(job["out"])


if __name__ == "__main__":
    main()
