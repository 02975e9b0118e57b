"""The camera of a video: where the body is (root translation by reprojection) and which landmarks are
inside the picture.

MediaPipe's world landmarks are hip-centred, so they say nothing about where the person stands. With a
pinhole camera (focal length max(W, H) pixels, principal point at the image centre: a guess that
every phone video roughly fits) the translation t that makes the projection of world + t land on the
2D landmarks is a small linear least-squares problem per frame. Its residual, the reprojection error,
is a per-frame quality flag: clean tracking reprojects within about 1 % of the image height, a wrong
or confused body far worse. Depth scales with the unknown focal length and is the noisiest axis.

Visibility alone is over-confident just past the frame edge, so a landmark's confidence is its
visibility times an in-frame test on its 2D position.
"""

from __future__ import annotations

import numpy as np

IN_FRAME_MARGIN = 0.01  # a landmark this close to the edge (fraction of the side) counts as outside
MAX_REPROJECTION = 0.05  # frames reprojecting worse than this fraction of the image height are not credible


def in_frame(image: np.ndarray, margin: float = IN_FRAME_MARGIN) -> np.ndarray:
    """(..., 2) normalised image coordinates -> (...) bool: inside the picture."""
    lo, hi = margin, 1.0 - margin
    return ((image >= lo) & (image <= hi)).all(axis=-1)


def landmark_confidence(image: np.ndarray, visibility: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """(T, J) confidence = visibility x in-frame test, 0 in frames without a person."""
    conf = visibility * in_frame(image)
    return np.where(detected[:, None], conf, 0.0).astype(np.float32)


def focal_length(width: int, height: int) -> float:
    return float(max(width, height))


def root_translation(world: np.ndarray, image: np.ndarray, weights: np.ndarray, width: int,
                     height: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame camera translation of the hip-centred world landmarks.

    world (T, J, 3) metres in camera axes, image (T, J, 2) normalised, weights (T, J) >= 0.
    -> t (T, 3) metres (the hip centre in camera coordinates), error (T,) weighted mean reprojection
    error as a fraction of the image height (inf where the frame has too little weight to solve)."""
    f = focal_length(width, height)
    cx, cy = width / 2.0, height / 2.0
    u = image[..., 0].astype(np.float64) * width - cx  # (T, J) pixels from the centre
    v = image[..., 1].astype(np.float64) * height - cy
    X, Y, Z = (world[..., k].astype(np.float64) for k in range(3))
    T, J = u.shape
    # u (Z + tz) = f (X + tx)  ->  f tx - u tz = u Z - f X  (same for v, y)
    A = np.zeros((T, 2 * J, 3))
    A[:, :J, 0], A[:, :J, 2] = f, -u
    A[:, J:, 1], A[:, J:, 2] = f, -v
    b = np.concatenate([u * Z - f * X, v * Z - f * Y], axis=1)
    w = np.sqrt(np.concatenate([weights, weights], axis=1).astype(np.float64))
    t = np.zeros((T, 3))
    err = np.full(T, np.inf)
    for i in range(T):
        if (weights[i] > 0.1).sum() < 4:
            continue
        sol, *_ = np.linalg.lstsq(A[i] * w[i][:, None], b[i] * w[i], rcond=None)
        depth = Z[i] + sol[2]
        if np.any(depth <= 0.05):  # behind the camera: no sensible solution
            continue
        t[i] = sol
        pu = f * (X[i] + sol[0]) / depth
        pv = f * (Y[i] + sol[1]) / depth
        dist = np.hypot(pu - u[i], pv - v[i]) / height
        err[i] = float((dist * weights[i]).sum() / max(weights[i].sum(), 1e-9))
    return t.astype(np.float32), err.astype(np.float32)
