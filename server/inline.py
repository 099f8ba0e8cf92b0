"""Which calls are small enough to run on the event loop instead of a worker thread.

Blocking and CPU-heavy work stays off the event loop (the worker pool,
server/workers.py). But the hop itself costs: a thread hand-off there and a
`call_soon_threadsafe` wake-up back, about as long as a small Preprocess's whole
pipeline (~0.3 ms for 6 messages and ~500 tokens), and under the GIL a worker
running Python code does not free the loop anyway: the loop waits for the GIL
for up to the switch interval (`sys.getswitchinterval()`, 5 ms) whichever thread
holds it.

So a call runs inline only when its work is provably small and cannot block:

- its serialised request is at most `max_bytes` (`inline_max_request_bytes`,
  default 4 KiB), which bounds every loop in the pipeline (messages, tokens,
  canonical JSON, hashing). Measured worst case, 4 KiB of random characters
  (no token-count memo hit, the slowest text for BPE) on a loaded 2-core host:
  ~4 ms, under the switch interval; ordinary text takes a fraction of that.
- it touches no store, model or file: Preprocess without documents, document
  ids or compression (retrieval, the corpus and the compressor model are the
  blocking stages), and without experiments (their ledger is a store);
  CountTokens is tokenisation only. The tokenizer files are loaded at start-up.

Everything else (admission, rate limits, the CancelToken, logs, errors) is the
same on both paths; only the thread the work runs on differs.
"""

from __future__ import annotations

from promptpress.v1 import promptpress_pb2 as pb

DEFAULT_MAX_BYTES = 4 * 1024


def preprocess_runs_inline(req: pb.PreprocessRequest, max_bytes: int) -> bool:
    """A Preprocess that only counts, trims, lays out and hashes a few KiB of messages."""
    return (
        max_bytes > 0
        and not req.documents
        and not req.document_ids
        and req.budget.compression_rate == 0
        and req.ByteSize() <= max_bytes
    )


def count_tokens_runs_inline(req: pb.CountTokensRequest, max_bytes: int) -> bool:
    """A CountTokens of a few KiB of text."""
    return max_bytes > 0 and req.ByteSize() <= max_bytes
