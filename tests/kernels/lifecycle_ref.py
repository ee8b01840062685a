"""Naive twin of kernels/lifecycle.py: rows one by one, every trip's deadline checked after each.

Same decisions as the kernel, which checks a trip's deadline lazily (before the trip's own rows
and at the end of the batch); tests compare actions per row and which trips start and close in
which batch.
"""

from tripguard.kernels import lifecycle as L


class LifecycleRef:
    def __init__(self, orphan_ms, idle_ms, grace_ms):
        self.orphan_ms, self.idle_ms, self.grace_ms = orphan_ms, idle_ms, grace_ms
        self.wm = -(2**62)
        self.trips = {}  # slot -> dict(phase, deadline, last_act, implicit)

    def _trip(self, s):
        return self.trips.setdefault(s, dict(phase=L.PH_NONE, deadline=0, last_act=-(2**62), implicit=0))

    def _sweep(self, started, closed):
        for s, t in self.trips.items():
            while True:
                if t["phase"] == L.PH_ORPHAN and self.wm > t["deadline"]:
                    t.update(phase=L.PH_OPEN, implicit=1, deadline=t["last_act"] + self.idle_ms)
                    started.add(s)
                elif t["phase"] in (L.PH_OPEN, L.PH_ENDED) and self.wm > t["deadline"]:
                    t["phase"] = L.PH_CLOSED
                    closed.add(s)
                else:
                    break

    def batch(self, rows):
        """rows: list of (slot, kind, ts). Returns (actions, started slots, closed slots)."""
        actions, started, closed = [], set(), set()
        for s, kind, ts in rows:
            self._sweep(started, closed)
            t = self._trip(s)
            ph = t["phase"]
            if kind == L.ROW_PING:
                if ph == L.PH_CLOSED:
                    actions.append(L.ACT_LATE)
                elif ph in (L.PH_NONE, L.PH_ORPHAN):
                    if ph == L.PH_NONE:
                        t.update(phase=L.PH_ORPHAN, deadline=ts + self.orphan_ms)
                    t["last_act"] = max(t["last_act"], ts)
                    actions.append(L.ACT_BUFFER)
                else:
                    t["last_act"] = max(t["last_act"], ts)
                    if ph == L.PH_OPEN:
                        t["deadline"] = t["last_act"] + self.idle_ms
                    actions.append(L.ACT_INCLUDE)
            elif kind == L.ROW_START:
                if ph in (L.PH_NONE, L.PH_ORPHAN):
                    t["last_act"] = max(t["last_act"], ts)
                    t.update(phase=L.PH_OPEN, deadline=t["last_act"] + self.idle_ms)
                    started.add(s)
                    actions.append(L.ACT_APPLY)
                elif ph == L.PH_CLOSED:
                    actions.append(L.ACT_LATE)
                elif t["implicit"] == 1:
                    t["implicit"] = 2
                    actions.append(L.ACT_START_AFTER_IMPLICIT)
                else:
                    actions.append(L.ACT_DUPLICATE)
            else:
                if ph == L.PH_CLOSED:
                    actions.append(L.ACT_LATE)
                elif ph == L.PH_ENDED:
                    actions.append(L.ACT_DUPLICATE)
                else:
                    if ph in (L.PH_NONE, L.PH_ORPHAN):
                        t["implicit"] = 1
                        started.add(s)
                    t["last_act"] = max(t["last_act"], ts)
                    t.update(phase=L.PH_ENDED, deadline=ts + self.grace_ms)
                    actions.append(L.ACT_APPLY)
            self.wm = max(self.wm, ts)
        self._sweep(started, closed)
        return actions, started, closed
