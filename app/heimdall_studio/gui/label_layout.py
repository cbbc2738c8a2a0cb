"""Where to put the labels of markers on a map so that none covers a marker or another
label (plain numpy, no Qt: the map measures in screen pixels and asks).

Each label takes one of eight positions around its marker, the cartographers' order of
preference first (right and above, right, right and below, above, below, left and above,
left, left and below). A greedy pass places the most crowded labels first, each where it
costs least; improvement passes then move any label to a cheaper position given all the
others, until nothing moves. The cost is the area a label shares with markers, with other
labels and with what lies outside the view, plus a little for a less preferred position.
"""

from __future__ import annotations

import numpy as np

GAP_PX = 2.0  # between a marker's edge and its label
IMPROVEMENT_PASSES = 6
PREFERENCE_COST = 1.0  # per step down the order
OVERLAP_COST = 100.0  # per pixel of overlap: any overlap weighs more than the order
# Sides of the marker's square the eight candidates lie on, in order of preference
# (x right, y down): a diagonal one touches the square's corner only at a gap's distance.
CANDIDATES = ((1, -1), (1, 0), (1, 1), (0, -1), (0, 1), (-1, -1), (-1, 0), (-1, 1))


def candidate_rects(x: float, y: float, half: float, width: float, height: float
                    ) -> np.ndarray:
    """(8, 4) rectangles (left, top, right, bottom) of a width x height label around a
    marker centred at (x, y) within a square of `half` pixels each side of its centre, in
    CANDIDATES order."""
    rects = np.empty((len(CANDIDATES), 4))
    reach = half + GAP_PX
    for k, (dx, dy) in enumerate(CANDIDATES):
        # The label's nearest corner or edge midpoint sits a gap beyond the square.
        left = x + dx * reach - (width if dx < 0 else 0.0 if dx > 0 else width / 2)
        top = y + dy * reach - (height if dy < 0 else 0.0 if dy > 0 else height / 2)
        rects[k] = (left, top, left + width, top + height)
    return rects


def overlap_area(rect: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The area `rect` (4,) shares with each of `others` (n, 4)."""
    if not len(others):
        return np.zeros(0)
    w = np.minimum(rect[2], others[:, 2]) - np.maximum(rect[0], others[:, 0])
    h = np.minimum(rect[3], others[:, 3]) - np.maximum(rect[1], others[:, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def _outside_area(rect: np.ndarray, view: tuple[float, float, float, float] | None) -> float:
    if view is None:
        return 0.0
    area = (rect[2] - rect[0]) * (rect[3] - rect[1])
    return float(area - overlap_area(rect, np.array([view], float))[0])


def place_labels(markers: np.ndarray, half: float, sizes: np.ndarray,
                 view: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """(n, 4) label rectangles (left, top, right, bottom) for markers at (n, 2) pixel
    centres, each `half` pixels in reach, with labels of (n, 2) width and height; `view`
    (left, top, right, bottom) is where labels should stay. Labels are placed so they
    overlap no marker or label where any such arrangement of the candidates is found."""
    markers = np.asarray(markers, float).reshape(-1, 2)
    sizes = np.asarray(sizes, float).reshape(-1, 2)
    n = len(markers)
    if n == 0:
        return np.zeros((0, 4))
    marker_rects = np.column_stack([markers - half, markers + half])
    options = np.stack([candidate_rects(x, y, half, w, h)
                        for (x, y), (w, h) in zip(markers, sizes, strict=True)])

    def cost(i: int, k: int, chosen: np.ndarray, placed: np.ndarray) -> float:
        rect = options[i, k]
        others = [j for j in range(n) if j != i and placed[j]]
        labels = options[others, chosen[others]] if others else np.zeros((0, 4))
        overlap = (float(overlap_area(rect, marker_rects).sum())
                   + float(overlap_area(rect, labels).sum()) + _outside_area(rect, view))
        return OVERLAP_COST * overlap + PREFERENCE_COST * k

    # The most crowded first: those with the most markers within reach of a label.
    reach = sizes.max(axis=1) + 2 * half
    distance = np.hypot(*(markers[:, None, :] - markers[None, :, :]).transpose(2, 0, 1))
    crowding = (distance < reach[:, None]).sum(axis=1)
    chosen = np.zeros(n, int)
    placed = np.zeros(n, bool)
    for i in np.argsort(-crowding, kind="stable"):
        chosen[i] = min(range(len(CANDIDATES)), key=lambda k: cost(i, k, chosen, placed))
        placed[i] = True
    for _ in range(IMPROVEMENT_PASSES):
        moved = False
        for i in range(n):
            best = min(range(len(CANDIDATES)), key=lambda k: cost(i, k, chosen, placed))
            if cost(i, best, chosen, placed) < cost(i, chosen[i], chosen, placed):
                chosen[i], moved = best, True
        if not moved:
            break
    return options[np.arange(n), chosen]
