"""PNG figures that show what the noise simulator did to a clip (for a human to judge plausibility).

One figure per clip, three rows: what the virtual camera saw (projected joints in the 16:9 frame,
faded by detector confidence), the clean (grey) and the noisy skeleton side by side in the world with
non-credible parts in red, and the (frames x 5) credibility mask over time. Matplotlib's Agg canvas,
written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ropar_core.atomic import atomic_path
from ropar_core.features import features_to_joints
from ropar_core.skeleton import NUM_JOINTS, PARENTS, PART_NAMES, PART_OWN_JOINTS
from training.data import virtual_camera as vc
from training.data.noise_model import clip_key, mean_pose_local, simulate_clip

NUM_PANELS = 6
BONES = [(PARENTS[j], j) for j in range(1, NUM_JOINTS)]
_JOINT_PART = {j: k for k, p in enumerate(PART_NAMES) for j in PART_OWN_JOINTS[p]}


def _bone_part(j: int) -> int | None:
    return _JOINT_PART.get(j)


def _draw_world(ax, clean: np.ndarray, noisy: np.ndarray, credible: np.ndarray) -> None:
    """One frame: clean skeleton (grey) and noisy skeleton (blue where credible, red where not), seen
    from the front-left; the two are drawn 0.9 m apart so they do not overlap."""
    az = np.radians(30.0)
    right = np.array([np.cos(az), 0.0, -np.sin(az)])
    for joints, shift, noisy_style in ((clean, -0.45, False), (noisy, 0.45, True)):
        centre = joints[0] * np.array([1.0, 0.0, 1.0])
        x = (joints - centre) @ right + shift
        y = joints[:, 1]
        for p, c in BONES:
            part = _bone_part(c)
            colour = "#999999"
            if noisy_style:
                colour = "#1f5fa8" if part is None or credible[part] else "#d62728"
            ax.plot([x[p], x[c]], [y[p], y[c]], color=colour, lw=1.6, solid_capstyle="round")
    ax.axhline(0.0, color="#cccccc", lw=0.8)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-0.1, 2.1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_camera(ax, uv: np.ndarray, conf: np.ndarray) -> None:
    """One frame as the virtual camera saw it: the image rectangle and the projected skeleton; joints
    are drawn with their detector confidence as opacity."""
    ax.add_patch(_rect())
    for p, c in BONES:
        ax.plot([uv[p, 0], uv[c, 0]], [uv[p, 1], uv[c, 1]], color="#555555", lw=1.0, alpha=0.5)
    ax.scatter(uv[:, 0], uv[:, 1], s=10, c=np.clip(conf, 0, 1), cmap="RdYlGn", vmin=0, vmax=1, zorder=3)
    ax.set_xlim(-2.6, 2.6)
    ax.set_ylim(-1.9, 1.9)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _rect():
    from matplotlib.patches import Rectangle

    return Rectangle((-vc.ASPECT, -1.0), 2 * vc.ASPECT, 2.0, fill=True, facecolor="#f3f0e6",
                     edgecolor="black", lw=1.2)


def plot_clip(path: Path, clean_joints: np.ndarray, noisy_joints: np.ndarray, view: vc.View,
              frame_mask: np.ndarray, title: str) -> Path:
    T = len(clean_joints)
    frames = np.linspace(0, T - 1, NUM_PANELS).round().astype(int)
    fig = Figure(figsize=(2.2 * NUM_PANELS, 7.4))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(3, NUM_PANELS, height_ratios=[1.4, 2.0, 0.9])
    for col, t in enumerate(frames):
        cam = fig.add_subplot(grid[0, col])
        _draw_camera(cam, view.uv[t], view.confidence[t])
        cam.set_title(f"frame {t}", fontsize=8)
        world = fig.add_subplot(grid[1, col])
        _draw_world(world, clean_joints[t], noisy_joints[t], frame_mask[t])
    mask_ax = fig.add_subplot(grid[2, :])
    mask_ax.imshow(frame_mask.T, aspect="auto", cmap="RdYlGn", vmin=0, vmax=1, interpolation="nearest")
    mask_ax.set_yticks(range(len(PART_NAMES)))
    mask_ax.set_yticklabels(PART_NAMES, fontsize=7)
    for t in frames:
        mask_ax.axvline(t, color="black", lw=0.6, ls=":")
    mask_ax.set_xlabel("frame (20 fps)  -  green: credible, red: noisy", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    return path


def plot_examples(clean_cache, choice: np.ndarray, out_dir: Path, seed: int, tau: float,
                  num: int = 4) -> list[Path]:
    """Plot `num` clips of a simulated cache, preferring different framings and clips with noise."""
    mean_local = mean_pose_local(clean_cache.mean)
    seen: set[str] = set()
    paths: list[Path] = []
    # A seeded walk over the clips that looks for different framings and different contents.
    for i in np.random.default_rng([seed, 3]).permutation(len(clean_cache)):
        if len(paths) >= num:
            break
        meta = clean_cache.clips[i]
        feats = clean_cache.clip_features(i)
        key = clip_key(seed, meta["id"])
        sim = simulate_clip(feats, key, int(choice[i]), tau, mean_local, keep_view=True)
        base = sim.framing.split("+")[0]
        if base in seen or meta.get("content") in seen or sim.frame_mask.all() or len(feats) < 40:
            continue
        seen.update({base, meta.get("content", "")})
        ratio = float(sim.frame_mask.mean())
        title = (f"{meta['id']} | framing: {sim.framing} | credible frames {ratio:.0%} | "
                 f"corruption: {sim.modes} | \"{meta['texts'][0]}\"")
        paths.append(plot_clip(out_dir / f"{meta['id']}.png", features_to_joints(feats), sim.joints,
                               sim.view, sim.frame_mask, title))
    return paths
