"""MaxVol active set and extrapolation grades (Podryabinkin & Shapeev 2017).

The active set is an m x m matrix A of rows b (m = number of parameters) with
maximal |det A|.  The grade of a row b is gamma = max_j |(b A^-1)_j|: gamma <= 1
means b is a combination of active rows with coefficients within [-1, 1]
(interpolation).  As in MLIP, the set starts from A = eps * I, so it is defined
before m rows exist, and rows are swapped in with rank-1 updates of A^-1.
"""
import numpy as np

__all__ = ["MaxVol"]


class MaxVol:
    """Active set of rows with maximal volume; ``rows`` (m, m), ``inverse`` = rows^-1.

    ``ids[j]`` names the source of active row j (-1 for the initial eps * I rows).
    """

    def __init__(self, m, eps=1e-5):
        self.rows = eps * np.eye(m)
        self.inverse = np.eye(m) / eps
        self.ids = -np.ones(m, dtype=np.int64)
        self.swaps = 0

    @property
    def m(self):
        return self.rows.shape[0]

    def coefficients(self, B):
        """C = B A^-1 for rows B (n, m)."""
        return np.atleast_2d(B) @ self.inverse

    def grades(self, B):
        """gamma = max_j |(b A^-1)_j| for every row of B."""
        B = np.atleast_2d(B)
        if B.shape[1] != self.m:
            raise ValueError(f"rows have {B.shape[1]} entries, the active set {self.m}")
        return np.abs(self.coefficients(B)).max(axis=1)

    def _swap(self, j, b, c, ident):
        """Replace active row j by b, where c = b A^-1 (Sherman-Morrison)."""
        # new inverse: A'^-1 = A^-1 - (A^-1 e_j)(c - e_j) / c_j
        col = self.inverse[:, j].copy()
        delta = c.copy()
        delta[j] -= 1.0
        self.inverse -= np.outer(col, delta) / c[j]
        self.rows[j] = b
        self.ids[j] = ident
        self.swaps += 1
        return col, delta

    def update(self, B, ids=None, threshold=1.0 + 1e-3, max_sweeps=100):
        """Swap rows of B into the set until every row of B has grade <= threshold.

        Returns the number of swaps.  Rows are processed in sweeps over the whole
        block with the coefficient matrix kept up to date (classic MaxVol).
        """
        B = np.atleast_2d(np.asarray(B, dtype=float))
        ids = np.arange(len(B)) if ids is None else np.asarray(ids)
        if len(B) == 0:
            return 0
        C = self.coefficients(B)
        swaps = 0
        for _ in range(max_sweeps * max(1, self.m)):
            flat = np.abs(C).argmax()
            i, j = divmod(flat, C.shape[1])
            if abs(C[i, j]) <= threshold:
                break
            c = C[i].copy()
            self._swap(j, B[i], c, ids[i])
            # C' = C - C[:, j] (c - e_j) / c_j
            delta = c.copy()
            delta[j] -= 1.0
            C -= np.outer(C[:, j], delta) / c[j]
            swaps += 1
        return swaps

    def select(self, B, threshold=2.0, max_count=None):
        """Greedy choice of rows of B that enlarge the volume most.

        Each chosen row is swapped in before the next is chosen, so near-duplicates
        of a chosen row lose their grade.  Returns the chosen indices in order.
        """
        B = np.atleast_2d(np.asarray(B, dtype=float))
        if len(B) == 0:
            return []
        C = self.coefficients(B)
        chosen = []
        limit = len(B) if max_count is None else int(max_count)
        while len(chosen) < limit:
            g = np.abs(C).max(axis=1)
            g[chosen] = 0.0
            i = int(g.argmax())
            if g[i] <= threshold:
                break
            j = int(np.abs(C[i]).argmax())
            c = C[i].copy()
            self._swap(j, B[i], c, i)
            delta = c.copy()
            delta[j] -= 1.0
            C -= np.outer(C[:, j], delta) / c[j]
            chosen.append(i)
        return chosen

    def to_dict(self):
        return {"rows": self.rows.copy(), "ids": self.ids.copy(), "swaps": self.swaps}

    @classmethod
    def from_dict(cls, d):
        new = cls(np.asarray(d["rows"]).shape[0])
        new.rows = np.array(d["rows"], dtype=float)
        new.inverse = np.linalg.inv(new.rows)
        new.ids = np.array(d["ids"], dtype=np.int64)
        new.swaps = int(d.get("swaps", 0))
        return new
