"""One (tenant, context) bucket of query vectors in memory, scanned with numpy.

Rows are appended; removed rows are marked dead and compacted away once they
are half the bucket. Search scores every live row exactly (float32
matrix-vector product) while the bucket is small; for large buckets a
sign-bit sketch (one bit per dimension, stored column-major as uint64 words)
ranks rows by Hamming distance first and only the `prefilter_k` closest are
scored exactly. For unit vectors the sign agreement tracks the angle, so a
near-duplicate (cosine >= 0.8) lands far inside the top few hundred of 100k
rows; the bench measures how often the exact best row survives the prefilter.
"""

from __future__ import annotations

import numpy as np


def _dot(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """matrix @ q without BLAS: a multi-threaded sgemv on busy cores (a server's normal
    state) was 10-50x slower than this single-threaded loop in our measurements."""
    return np.einsum("ij,j->i", matrix, q)


class Bucket:
    def __init__(self, dim: int, capacity: int = 64) -> None:
        self.dim = dim
        self.words = (dim + 63) // 64
        self.ids: list[bytes] = []
        self.row_of: dict[bytes, int] = {}
        self.vecs = np.zeros((capacity, dim), dtype=np.float32)
        self.bits = np.zeros((self.words, capacity), dtype=np.uint64)
        self.expires = np.zeros(capacity, dtype=np.float64)
        self.alive = np.zeros(capacity, dtype=bool)
        self.n = 0
        self.dead = 0
        self.version = 0  # the store's bucket version these rows reflect

    @property
    def size(self) -> int:
        return self.n - self.dead

    def _sketch(self, vecs: np.ndarray) -> np.ndarray:
        """Sign bits of (rows, dim) vectors as (words, rows) uint64."""
        packed = np.packbits(vecs > 0, axis=1)
        pad = self.words * 8 - packed.shape[1]
        if pad:
            packed = np.pad(packed, ((0, 0), (0, pad)))
        return np.ascontiguousarray(packed.view(np.uint64).T)

    def _grow(self, need: int) -> None:
        cap = self.vecs.shape[0]
        if need <= cap:
            return
        new = max(need, cap * 2)
        vecs = np.zeros((new, self.dim), dtype=np.float32)
        bits = np.zeros((self.words, new), dtype=np.uint64)
        expires = np.zeros(new, dtype=np.float64)
        alive = np.zeros(new, dtype=bool)
        vecs[: self.n], bits[:, : self.n] = self.vecs[: self.n], self.bits[:, : self.n]
        expires[: self.n], alive[: self.n] = self.expires[: self.n], self.alive[: self.n]
        self.vecs, self.bits, self.expires, self.alive = vecs, bits, expires, alive

    def add(self, eid: bytes, vec: np.ndarray, expires: float) -> None:
        if eid in self.row_of:
            self.remove(eid)
        self._grow(self.n + 1)
        row = self.n
        self.vecs[row] = vec
        self.bits[:, row] = self._sketch(vec.reshape(1, -1))[:, 0]
        self.expires[row] = expires
        self.alive[row] = True
        self.ids.append(eid)
        self.row_of[eid] = row
        self.n += 1

    def remove(self, eid: bytes) -> None:
        row = self.row_of.pop(eid, None)
        if row is None:
            return
        self.alive[row] = False
        self.dead += 1
        if self.dead > 64 and self.dead * 2 > self.n:
            self._compact()

    def _compact(self) -> None:
        keep = np.flatnonzero(self.alive[: self.n])
        self.vecs[: keep.size] = self.vecs[keep]
        self.bits[:, : keep.size] = self.bits[:, keep]
        self.expires[: keep.size] = self.expires[keep]
        self.alive[: keep.size] = True
        self.alive[keep.size :] = False
        self.ids = [self.ids[r] for r in keep]
        self.row_of = {eid: i for i, eid in enumerate(self.ids)}
        self.n, self.dead = keep.size, 0

    def _candidates(self, q: np.ndarray, k: int) -> np.ndarray:
        qbits = self._sketch(q.reshape(1, -1))[:, 0]
        dist = np.bitwise_count(self.bits[0, : self.n] ^ qbits[0]).astype(np.uint16)
        for w in range(1, self.words):
            dist += np.bitwise_count(self.bits[w, : self.n] ^ qbits[w])
        dist[~self.alive[: self.n]] = np.iinfo(np.uint16).max
        if k >= self.n:
            return np.arange(self.n)
        return np.argpartition(dist, k)[:k]

    def search(
        self, q: np.ndarray, threshold: float, now: float, exact_limit: int, prefilter_k: int
    ) -> tuple[list[int], list[float]]:
        """Live, unexpired rows with cosine >= threshold, best first."""
        if self.size == 0:
            return [], []
        if self.size <= exact_limit:
            rows = np.arange(self.n)
            sims = _dot(self.vecs[: self.n], q)  # a slice: no copy of the matrix
        else:
            rows = self._candidates(q, prefilter_k)
            sims = _dot(self.vecs[rows], q)
        ok = (sims >= threshold) & self.alive[rows] & (self.expires[rows] > now)
        picked = rows[ok]
        scores = sims[ok]
        order = np.argsort(-scores, kind="stable")
        return picked[order].tolist(), scores[order].tolist()
