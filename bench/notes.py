"""How each figure of the ``pipeline`` benchmark is computed (saved with its results)."""

from __future__ import annotations

NOTES = {
    "ratio": "ours / raw for the figure on the same row (throughputs: <1 means slower than the "
    "raw libraries; times: >1 means slower)",
    "end-to-end documents/s": "accepted documents / (last final event - first upload sent); raw "
    "= documents / the sum of the raw baselines' wall times (S3 put, S3 get, publishes, PyMuPDF, "
    "tesseract) run one after another with the stack idle; DOCX/text parsing and the classifier "
    "have no raw baseline, so raw is an upper bound",
    "pages/s": "pages as counted by the extractor (catalog page_count) over the same wall time; "
    "text run: raw = PyMuPDF get_text over the run's PDFs in 2 processes; scans run: ours = "
    "scanned pages (PNG, image-only PDF, corpus scans) / wall time, raw = tesseract CLI "
    "(OMP_THREAD_LIMIT=1, 2 at a time) over the same page images",
    "ingest 202s documents/s": "accepted / (last 202 - first upload sent) vs raw aioboto3 "
    "put_object of the same bytes, 16 in flight",
    "events published/s": "events the services published (uploaded, extracted|failed, "
    "classified|failed) per second of wall time vs raw aio-pika persistent mandatory publishes "
    "with confirms of as many messages to a quorum queue of the stack's vhost, 16 in flight",
    "latency": "upload->final = the final event's time (classified, extraction_failed, "
    "classification_failed; producer clock, from the catalog's history) - the client's send "
    "time; same machine, same clock",
    "stages": "ingest = send -> uploaded event; extract = uploaded -> text_extracted|"
    "extraction_failed (outbox relay, queueing, download, extraction, upload, publish); classify "
    "= text_extracted -> classified (queueing included). Raw stage latency: one S3 put at 16 in "
    "flight; PyMuPDF (text run, PDFs) or tesseract (scans run, scanned documents) per document",
    "machine": "machine_cpu_busy = share of all cores busy (/proc/stat) during the pipeline phase "
    "and during the raw baselines: the stack, the benchmark client and anything else running on "
    "this 2-core machine (e.g. other test stacks); the load averages are recorded too. Both "
    "sides of every ratio ran on the same machine minutes apart, not at the same moment",
    "warm_up": "one document of each kind is uploaded and waited for before measuring (the "
    "extractor's worker pool starts on its first document); their latencies = the cold start",
    "cpu": "utime+stime of each service's process tree (and of the PostgreSQL backends serving "
    "the stack's databases; of the whole RabbitMQ broker, which other stacks on the machine "
    "share) during the pipeline phase, per accepted document; a lower bound (processes shorter "
    "than the 0.25 s sampling interval are missed). 'bench client' = this process",
    "cpu-bound": "CPU-bound ceiling = cores x items / stack CPU seconds (services, SeaweedFS, "
    "the stack's PostgreSQL backends; not the shared broker nor the client): what the measured "
    "CPU cost per item allows on this machine with nothing else running and perfect pipelining. "
    "Other work on the machine stretches wall times but hardly CPU times, so this is the "
    "contention-robust reading of the same target; the official verdict is the wall-time row",
    "rss": "VmHWM of each service's process (reset by clear_refs at the sub-run's start), the "
    "largest VmHWM of its descendants (extractor pool workers, tesseract), and the largest sum "
    "of VmRSS over the process tree seen by a 0.25 s sampler",
}
