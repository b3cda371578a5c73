"""datatrove's side of bench/bench_filters.py. Runs with datatrove's own interpreter:

    .bench/datatrove-venv/bin/python bench/datatrove_filters.py --input IN.parquet --decisions OUT.parquet

Reads ``id`` and ``text`` from IN.parquet into datatrove ``Document`` objects (outside the timed
region), then times datatrove's own execution path for

    GopherRepetitionFilter() -> GopherQualityFilter() -> C4QualityFilter()

(default thresholds, language English, i.e. Gopher's and C4's published values), chained as
datatrove's executor chains pipeline steps: each filter's ``run`` generator consumes the previous
one's. A do-nothing exclusion writer records which filter dropped each document and why (datatrove
sets ``metadata["filter_reason"]`` before calling it), so the decisions can be compared with curate's.
Prints one JSON line with wall seconds, CPU seconds and counts. Needs no network: datatrove's English
word tokenizer is ``spacy.blank("en")`` (no model download).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


class RecordingWriter:
    """Stands in for datatrove's exclusion ``DiskWriter``: remembers (id, filter, reason)."""

    def __init__(self, name: str, sink: list) -> None:
        self.name = name
        self.sink = sink

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, doc, rank: int = 0) -> None:
        self.sink.append((doc.id, self.name, doc.metadata.get("filter_reason")))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--decisions", help="write id, dropped_by, reason of every dropped document here (Parquet)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N documents")
    args = ap.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    import datatrove
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter

    table = pq.read_table(args.input, columns=["id", "text"])
    if args.limit:
        table = table.slice(0, args.limit)
    ids = table.column("id").to_pylist()
    texts = table.column("text").to_pylist()
    docs = [Document(text=t, id=i) for i, t in zip(ids, texts)]
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    del table, texts

    dropped: list = []
    filters = [GopherRepetitionFilter(exclusion_writer=RecordingWriter("gopher_repetition", dropped)),
               GopherQualityFilter(exclusion_writer=RecordingWriter("gopher_quality", dropped)),
               C4QualityFilter(exclusion_writer=RecordingWriter("c4_quality", dropped))]
    # warm-up outside the timed region: loads spaCy's blank English pipeline once
    warm = "The cat sat on the mat and looked at the dog. " * 20
    for f in filters:
        f.filter(Document(text=warm, id="warm-up"))

    c0 = time.process_time()
    t0 = time.perf_counter()
    stream = iter(docs)
    for f in filters:
        stream = f.run(stream)
    kept = sum(1 for _ in stream)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0

    if args.decisions:
        pq.write_table(pa.table({"id": [d[0] for d in dropped], "dropped_by": [d[1] for d in dropped],
                                 "reason": [d[2] for d in dropped]}), args.decisions)
    import spacy

    print(json.dumps({"tool": "datatrove", "version": getattr(datatrove, "__version__", None) or _version("datatrove"),
                      "spacy": spacy.__version__, "docs": len(docs), "bytes": nbytes, "kept": kept,
                      "dropped": len(dropped), "seconds": seconds, "cpu_seconds": cpu,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    return 0


def _version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


if __name__ == "__main__":
    sys.exit(main())
